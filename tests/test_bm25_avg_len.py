"""BM25's average document length follows a store's real mean chunk length.

The first file a store indexes sets avg_len; a later file that moves the mean past 10% makes the
store take the new mean and re-encode the files indexed before it, so a store that starts with a
short file does not weigh every later chunk against that file's length (on CACM that alone cost
BM25 a third of its nDCG@10).
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from retrievd.index.base import FILE_KEY, IndexQuery
from retrievd.ingest.pipeline import AVG_LEN_DRIFT
from retrievd.store.models import Chunk, Job, VectorStore
from tests.conftest import DOCS, Server, wait_for_store

SHORT = "Prince Andrew rode to war."
LONG = (DOCS / "book-war-and-peace-1p.txt").read_text()


def _wait_for_jobs(server: Server, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with server.core.db.session() as s:
            busy = select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
            if not s.execute(busy).scalar_one():
                return
        time.sleep(0.1)
    raise AssertionError("jobs still queued")


def _add(client, store_id: str, name: str, text: str) -> str:  # type: ignore[no-untyped-def]
    file = client.files.create(file=(name, text.encode()), purpose="assistants")
    client.vector_stores.files.create(store_id, file_id=file.id)
    wait_for_store(client, store_id)
    return file.id


def test_a_store_re_encodes_its_first_file_once_the_mean_length_moves(server: Server, client) -> None:  # type: ignore[no-untyped-def]
    core = server.core
    store = client.vector_stores.create(name="avg-len")
    short_id = _add(client, store.id, "short.txt", SHORT)
    with core.db.session() as s:
        first = s.get(VectorStore, store.id).bm25_avg_len
    assert first == core.bm25.mean_length([SHORT])

    _add(client, store.id, "long.txt", LONG)
    _wait_for_jobs(server)
    with core.db.session() as s:
        reencoded = select(func.count()).select_from(Job).where(
            Job.vector_store_id == store.id, Job.kind == "reindex_store"
        )
        assert s.execute(reencoded).scalar_one() == 1
    with core.db.session() as s:
        avg_len = s.get(VectorStore, store.id).bm25_avg_len
        rows = s.execute(select(Chunk.bm25_length).where(Chunk.vector_store_id == store.id)).scalars().all()
    real_mean = sum(rows) / len(rows)
    assert avg_len > 3 * first
    assert abs(avg_len - real_mean) <= AVG_LEN_DRIFT * real_mean

    # BM25 on the term "prince" alone: idf is common to every chunk, so each chunk's score divided by
    # its term weight, encoded with the store's avg_len now, is that idf for every chunk (first file
    # included) only if every chunk was encoded with that avg_len.
    term = core.bm25.encode_query("prince")
    hits = core.index.query(IndexQuery([store.id], sparse=term, mode="sparse", limit=50))
    assert short_id in {h.payload[FILE_KEY] for h in hits}
    idfs = []
    for hit in hits:
        weights = core.bm25.encode_documents([hit.payload["text"]], avg_len)[0]
        idfs.append(hit.score / weights.values[weights.indices.index(term.indices[0])])
    assert max(idfs) - min(idfs) < 1e-3 * max(idfs)


def test_a_file_close_to_the_mean_changes_nothing(server: Server, client) -> None:  # type: ignore[no-untyped-def]
    core = server.core
    store = client.vector_stores.create(name="steady")
    _add(client, store.id, "a.txt", LONG[:6000])
    with core.db.session() as s:
        first = s.get(VectorStore, store.id).bm25_avg_len
    _add(client, store.id, "b.txt", LONG[6000:12000])
    _wait_for_jobs(server)
    with core.db.session() as s:
        assert s.get(VectorStore, store.id).bm25_avg_len == first
        reindexed = select(func.count()).select_from(Job).where(
            Job.vector_store_id == store.id, Job.kind == "reindex_store"
        )
        assert s.execute(reindexed).scalar_one() == 0
