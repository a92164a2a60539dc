"""`retrievd index rebuild`: the index comes back from the chunk rows (no parsing, no embedding) and
answers every search as before; the same rows fill a Qdrant server's collection to move there
(qdrant-client's local mode stands in for the server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from retrievd.cli import app
from retrievd.config import Settings, get_settings
from retrievd.core import Core
from retrievd.index.rebuild import rebuild
from retrievd.retrieval.search import SearchOptions, search_chunks
from tests.conftest import ADMIN_KEY, DOCS, start_server, wait_for_store

FILES = {"norwich-city.txt": "text", "book-war-and-peace-1p.txt": "text", "fake.docx": "office"}
SEARCHES = [
    ("Which football club plays at Carrow Road?", None),
    ("Napoleon", None),
    ("city history", {"type": "eq", "key": "kind", "value": "text"}),
    ("city history", {"type": "eq", "key": "kind", "value": "office"}),
]

Hits = list[tuple[str, float, str]]


def _search_all(client, store_id: str) -> list[Hits]:  # type: ignore[no-untyped-def]
    pages = [
        client.vector_stores.search(store_id, query=q, filters=f, max_num_results=8) for q, f in SEARCHES
    ]
    return [[(h.file_id, h.score, h.content[0].text) for h in page.data] for page in pages]


def _serve(data_dir: Path):  # type: ignore[no-untyped-def]
    servers = start_server(data_dir)
    return servers, next(servers)


def test_rebuild_gives_back_an_index_with_the_same_results(
    assets_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers, server = _serve(tmp_path)
    client = server.client()
    store = client.vector_stores.create(name="rebuild")
    for name, kind in FILES.items():
        file = client.files.create(file=(name, (DOCS / name).read_bytes()), purpose="assistants")
        client.vector_stores.files.create(store.id, file_id=file.id, attributes={"kind": kind})
    wait_for_store(client, store.id)
    before = _search_all(client, store.id)
    assert all(before)
    servers.close()

    monkeypatch.setenv("RETRIEVD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(
        "RETRIEVD_DATABASE_URL", server.core.settings.sqlalchemy_url
    )  # the server's, whichever kind
    monkeypatch.setenv("RETRIEVD_API_KEY", ADMIN_KEY)
    # Every store is large enough to get a shard of its own: the rebuild's optimize() moves it.
    monkeypatch.setenv("RETRIEVD_STORE_SHARD_POINTS", "1")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["index", "rebuild"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"rebuilt: {len(FILES)} files" in result.output
    assert (tmp_path / "index.previous").is_dir()  # the old shard, kept until the next rebuild
    assert (tmp_path / "index" / "stores" / store.id).is_dir()

    servers, server = _serve(tmp_path)
    try:
        assert _search_all(server.client(), store.id) == before
    finally:
        servers.close()

    # The same rows, into a Qdrant server (local mode): the same chunks rank the same.
    core = Core(Settings(data_dir=tmp_path, qdrant_url=":memory:"))
    try:
        report = rebuild(core)
        assert report.files == len(FILES)
        assert report.points == core.index.count(store.id)
        for (query, filters), hits in zip(SEARCHES, before):
            moved = search_chunks(core, [store.id], [query], SearchOptions(limit=8, filters=filters))
            assert [(r.file_id, r.text) for r in moved] == [(file_id, text) for file_id, _, text in hits]
            assert [r.score for r in moved] == pytest.approx([score for _, score, _ in hits], abs=1e-4)
    finally:
        core.close()
