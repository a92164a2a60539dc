"""The unchanged-SDK flow (tests/sdk_flow.py) on the embedded default, and on PostgreSQL with
`retrievd worker` processes beside `serve`, where every answer must equal the embedded one's.

CI runs the second through `.ci/run` (marked slow); bench/sdk_flow.py runs it 20 times in a row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Server
from tests.sdk_flow import check_left_clean, run_flow, scaled_out

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def embedded_record(server: Server) -> dict:
    return run_flow(server.client()).seen


def test_the_sdk_flow_passes_on_the_embedded_default(embedded_record: dict) -> None:
    assert embedded_record["delete_store"]


@pytest.mark.slow
@pytest.mark.parametrize("any_database", ["postgresql"], indirect=True)
def test_the_sdk_flow_on_postgresql_with_two_workers_answers_as_the_embedded_default(
    assets_ready: None, any_database: str, tmp_path: Path, embedded_record: dict
) -> None:
    with scaled_out(any_database, tmp_path) as deployment:
        result = run_flow(deployment.client)
        check_left_clean(deployment, result)
    for step, seen in embedded_record.items():
        assert result.seen[step] == seen, step
