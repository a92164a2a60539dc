"""Per-project storage quotas: a file that does not fit fails whole; a project at its cap is refused."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from sqlalchemy import func, select

from retrievd.services.projects import ProjectService
from retrievd.store.models import Chunk
from retrievd.store.usage_models import UsageLedgerEntry
from retrievd.usage.quota import set_storage_quota
from retrievd.usage.verify import verify
from tests.conftest import Server, wait_for_store

SMALL = b"A short note about tides.\n" * 20
LARGE = b"A much longer account of the harbour, its tides, its ships and its trade.\n" * 120


@pytest.fixture(scope="module")
def tenant(server: Server) -> dict[str, Any]:
    """A project with its own key, so the quota is that project's alone."""
    projects = ProjectService(server.core.db)  # type: ignore[attr-defined]
    project = projects.create_project("capped")
    _, _, key = projects.create_service_account(project.id, "app")
    return {"project_id": project.id, "client": server.client(key)}


def ledger_rows(server: Server, store_id: str) -> int:
    with server.core.db.session() as s:  # type: ignore[attr-defined]
        return s.scalar(select(func.count()).where(UsageLedgerEntry.vector_store_id == store_id))


def test_a_file_that_would_pass_the_quota_fails_and_stores_nothing(
    server: Server, tenant: dict[str, Any]
) -> None:
    client, project_id = tenant["client"], tenant["project_id"]
    store = client.vector_stores.create(name="capped store")
    small = client.files.create(file=("small.txt", SMALL), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=small.id)
    used = wait_for_store(client, store.id).usage_bytes
    set_storage_quota(server.core.db, project_id, used + 1000)  # type: ignore[attr-defined]
    entries = ledger_rows(server, store.id)

    large = client.files.create(file=("large.txt", LARGE), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=large.id)
    store = wait_for_store(client, store.id)
    vsf = client.vector_stores.files.retrieve(large.id, vector_store_id=store.id)
    assert vsf.status == "failed" and vsf.usage_bytes == 0
    assert vsf.last_error.code == "invalid_file"
    assert "storage quota" in vsf.last_error.message and project_id in vsf.last_error.message
    assert store.usage_bytes == used
    assert ledger_rows(server, store.id) == entries
    with server.core.db.session() as s:  # type: ignore[attr-defined]
        assert s.scalar(select(func.count()).where(Chunk.file_id == large.id)) == 0
    assert server.core.index.count(store.id, large.id) == 0  # type: ignore[attr-defined]

    set_storage_quota(server.core.db, project_id, None)  # type: ignore[attr-defined]
    client.vector_stores.files.create(vector_store_id=store.id, file_id=large.id)
    assert wait_for_store(client, store.id).file_counts.completed == 2


def test_a_project_at_its_quota_is_refused_when_adding(server: Server, tenant: dict[str, Any]) -> None:
    client, project_id = tenant["client"], tenant["project_id"]
    used = set_storage_quota(server.core.db, project_id, None)  # type: ignore[attr-defined]
    set_storage_quota(server.core.db, project_id, used)  # type: ignore[attr-defined]
    f = client.files.create(file=("one-more.txt", SMALL), purpose="assistants")
    store = client.vector_stores.list().data[0]
    for add in (
        lambda: client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id),
        lambda: client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[f.id]),
        lambda: client.vector_stores.create(name="another", file_ids=[f.id]),
    ):
        with pytest.raises(openai.BadRequestError) as e:
            add()
        assert e.value.code == "storage_quota_exceeded"
        assert "quota" in e.value.message
    assert [s.name for s in client.vector_stores.list().data] == ["capped store"]  # nothing partial
    set_storage_quota(server.core.db, project_id, None)  # type: ignore[attr-defined]


def test_in_a_batch_the_file_that_does_not_fit_fails_alone(server: Server, tenant: dict[str, Any]) -> None:
    client, project_id = tenant["client"], tenant["project_id"]
    store = client.vector_stores.create(name="batch store")
    first = client.files.create(file=("first.txt", SMALL), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=first.id)
    one = wait_for_store(client, store.id).usage_bytes  # what each copy of SMALL adds
    used = set_storage_quota(server.core.db, project_id, None)  # type: ignore[attr-defined]
    set_storage_quota(server.core.db, project_id, used + 2 * one + 100)  # type: ignore[attr-defined]
    entries = ledger_rows(server, store.id)
    names = ("second.txt", "large.txt", "third.txt", "fourth.txt")  # room for two more small ones
    files = [client.files.create(file=(n, LARGE if n == "large.txt" else SMALL), purpose="assistants") for n in names]

    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[f.id for f in files])

    assert (batch.file_counts.completed, batch.file_counts.failed) == (2, 2)
    status = {n: client.vector_stores.files.retrieve(f.id, vector_store_id=store.id) for n, f in zip(names, files)}
    assert status["large.txt"].status == "failed"
    assert sorted(status[n].status for n in names if n != "large.txt") == ["completed", "completed", "failed"]
    assert all("storage quota" in v.last_error.message for v in status.values() if v.status == "failed")
    assert wait_for_store(client, store.id).usage_bytes == 3 * one
    assert ledger_rows(server, store.id) == entries + 2  # a row for each file that fitted
    set_storage_quota(server.core.db, project_id, None)  # type: ignore[attr-defined]


def test_verify_finds_no_difference_after_the_quota_tests(server: Server, tenant: dict[str, Any]) -> None:
    report = verify(server.core)  # type: ignore[arg-type]
    assert report.ok, report.differences
    assert report.files >= 2
