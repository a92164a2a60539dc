"""Limits and missing assets give one clear OpenAI-shaped error, never a hang or a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import Server, start_server


@pytest.fixture(scope="module")
def small_server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("small"), max_upload_bytes=1000)


@pytest.fixture(scope="module")
def modelless_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("nomodels"), models_dir=tmp_path_factory.mktemp("empty-models"))


def test_uploads_past_the_limit_are_413_and_leave_nothing(small_server: Server) -> None:
    client = small_server.client()
    with pytest.raises(openai.APIStatusError) as e:
        client.files.create(file=("big.txt", b"x" * 5000), purpose="assistants")
    assert e.value.status_code == 413
    assert "limit" in e.value.response.json()["error"]["message"]
    assert client.files.list().data == []
    assert list((small_server.core.settings.blobs_dir).iterdir()) == []  # type: ignore[attr-defined]
    assert client.files.create(file=("ok.txt", b"x" * 900), purpose="assistants").bytes == 900


def test_a_missing_model_asset_names_the_command_that_fixes_it(modelless_server: Server) -> None:
    client = modelless_server.client()
    f = client.files.create(file=("a.txt", b"some text"), purpose="assistants")
    with pytest.raises(openai.APIStatusError) as e:
        client.vector_stores.create(name="x", file_ids=[f.id])
    assert e.value.status_code == 503
    assert "retrievd models pull" in e.value.response.json()["error"]["message"]
    assert client.vector_stores.list().data == []  # nothing half-created
