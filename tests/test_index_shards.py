"""A large store moves to a Qdrant Edge shard of its own (index/edge.py `EdgeIndex.optimize`).

Its searches must answer exactly as before the move, and a process killed at any step of the
move must lose no point and duplicate none.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retrievd.config import Settings
from retrievd.index import open_index
from retrievd.index.base import FILE_KEY, IndexQuery
from retrievd.index.edge import EdgeIndex, ShardIndex
from tests.test_index import ATTRIBUTED, DIM, DOCS, OTHER, QUERIES, STORE, chunks, query

LARGE = 30  # store_shard_points: STORE (40 points) moves, OTHER (10) stays shared
FILTER = {"type": "eq", "key": "author", "value": "ann"}  # file f1


def fill(path: Path) -> EdgeIndex:
    index = open_index(Settings(data_dir=path.parent, store_shard_points=LARGE), DIM)
    assert isinstance(index, EdgeIndex) and index.path == path
    index.upsert(chunks(STORE, "f1", DOCS[:20], ATTRIBUTED["f1"]))
    index.upsert(chunks(STORE, "f2", DOCS[20:40], ATTRIBUTED["f2"]))
    index.upsert(chunks(OTHER, "f3", DOCS[40:50]))
    return index


def answers(index: EdgeIndex) -> dict[str, Any]:
    """What the stores answer: every read, with scores rounded (float32 sums may differ in the last
    bits) and equal scores by id (RRF scores tie, and ties may come in either order)."""

    def hits(found: list[Any]) -> list[tuple[str, float]]:
        return sorted(((h.id, round(h.score, 4)) for h in found), key=lambda hit: (-hit[1], hit[0]))

    out: dict[str, Any] = {}
    for store in (STORE, OTHER):
        out[f"count {store}"] = index.count(store)
        out[f"scroll {store}"] = [h.payload for h in index.scroll(store)]
        for i, text in enumerate(QUERIES[:5]):
            for mode in ("dense", "sparse", "hybrid"):
                out[f"{store} {mode} {i}"] = hits(index.query(query(text, store, mode=mode, limit=5)))
            dense, sparse = index.query_branches(query(text, store, prefetch_limit=8), complete=True)
            out[f"{store} branches {i}"] = (hits(dense), hits(sparse))
            out[f"{store} bound {i}"] = [round(s, 4) for s in index.best_term_scores([store], query(text).sparse)]  # type: ignore[arg-type]
    out["filtered"] = hits(index.query(query(QUERIES[0], mode="dense", filters=FILTER)))
    assert len(out["filtered"]) == 10
    out["count f1"] = index.count(STORE, "f1")
    # Across shards, cosines compare as before (BM25 takes each shard's IDF, see EdgeIndex).
    both = IndexQuery(vector_store_ids=[STORE, OTHER], dense=query(QUERIES[1]).dense, mode="dense", limit=15)
    out["both stores, dense"] = hits(index.query(both))
    return out


def test_a_large_store_moves_to_a_shard_of_its_own_and_answers_exactly_as_before(tmp_path: Path) -> None:
    path = tmp_path / "index"
    index = fill(path)
    before = answers(index)
    assert index.optimize()
    assert (path / "stores" / STORE).is_dir() and not (path / "stores" / OTHER).exists()
    assert answers(index) == before
    index.close()

    index = EdgeIndex(path, DIM, store_shard_points=LARGE)
    assert answers(index) == before  # reopened: the moved store is read from its own shard
    assert not index.optimize() or answers(index) == before  # nothing moves twice
    index.close()
    shared = ShardIndex(path, DIM)  # the store was deleted from the shared shard
    assert shared.count(STORE) == 0 and shared.count(OTHER) == 10
    shared.close()


def test_a_moved_store_takes_writes_and_deletes_on_its_own_shard(tmp_path: Path) -> None:
    path = tmp_path / "index"
    index = fill(path)
    index.optimize()
    index.upsert(chunks(STORE, "f4", DOCS[50:55], {"author": "ada", "team": "x"}) + chunks(OTHER, "f5", DOCS[55:57]))
    assert (index.count(STORE), index.count(STORE, "f4"), index.count(OTHER)) == (45, 5, 12)
    team = {"type": "eq", "key": "team", "value": "x"}
    assert {h.payload[FILE_KEY] for h in index.query(query(QUERIES[0], mode="dense", limit=50, filters=team))} == {"f4"}
    index.close()
    # The store's shard has the payload indexes of the keys it was moved with, and of a new one.
    own = ShardIndex(path / "stores" / STORE, DIM, single_store=True)
    assert {"attributes.author", "attributes.year", "attributes.team"} <= set(own.shard.info().payload_schema)
    own.close()
    index = EdgeIndex(path, DIM, store_shard_points=LARGE)
    index.delete_file(STORE, "f1")
    assert index.count(STORE) == 25
    index.delete_store(STORE)
    assert index.count(STORE) == 0
    assert list((path / "stores").iterdir()) == []  # its shard is removed
    assert index.count(OTHER) == 12
    # A store of the same id starts again in the shared shard.
    index.upsert(chunks(STORE, "f6", DOCS[:3]))
    assert index.count(STORE) == 3
    index.close()


def test_a_query_over_stores_on_two_shards_merges_them(tmp_path: Path) -> None:
    index = fill(tmp_path / "index")
    index.optimize()
    text = QUERIES[3]
    both = IndexQuery(vector_store_ids=[STORE, OTHER], dense=query(text).dense, sparse=query(text).sparse, limit=50)
    hits = index.query(both)
    assert {h.payload["vector_store_id"] for h in hits} == {STORE, OTHER}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    dense, sparse = index.query_branches(IndexQuery(**{**both.__dict__, "prefetch_limit": 12}))
    assert len(dense) == 12 and len(sparse) <= 12
    alone = [index.query_branches(IndexQuery(**{**both.__dict__, "vector_store_ids": [s], "prefetch_limit": 12})) for s in (STORE, OTHER)]
    assert [h.id for h in dense] == [h.id for h in sorted(alone[0][0] + alone[1][0], key=lambda h: -h.score)[:12]]
    bound = index.best_term_scores([STORE, OTHER], both.sparse)  # type: ignore[arg-type]
    per_store = [index.best_term_scores([s], both.sparse) for s in (STORE, OTHER)]  # type: ignore[arg-type]
    assert bound == [max(a, b) for a, b in zip(*per_store)]
    index.close()


_KILL = """
import os, signal, sys
from retrievd.index import edge

step = sys.argv[2]
def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if step == "copying":  # after the first page reached the store's new shard
    edge._SCROLL_PAGE = 10
    upsert = edge.ShardIndex.upsert
    def upsert_then_kill(self, points):
        upsert(self, points)
        if self.single_store:
            kill()
    edge.ShardIndex.upsert = upsert_then_kill
elif step == "indexing":  # while the new shard builds its HNSW graph
    optimize = edge.ShardIndex.optimize
    edge.ShardIndex.optimize = lambda self: kill() if self.single_store else optimize(self)
elif step == "renamed":  # the new shard is in place; the store is not yet deleted from the shared one
    delete_store = edge.ShardIndex.delete_store
    edge.ShardIndex.delete_store = lambda self, store: delete_store(self, store) if self.single_store else kill()
index = edge.EdgeIndex(sys.argv[1], %d, store_shard_points=%d)
index.optimize()
raise SystemExit("not killed")
"""


@pytest.mark.parametrize("step", ["copying", "indexing", "renamed"])
def test_a_process_killed_while_a_store_moves_loses_and_duplicates_nothing(tmp_path: Path, step: str) -> None:
    path = tmp_path / "index"
    index = fill(path)
    before = answers(index)
    index.close()
    run = subprocess.run([sys.executable, "-c", _KILL % (DIM, LARGE), str(path), step], timeout=120)
    assert run.returncode == -9
    assert (path / "stores" / STORE).is_dir() == (step == "renamed")

    index = EdgeIndex(path, DIM, store_shard_points=LARGE)
    assert answers(index) == before
    assert not list((path / "stores").glob("*.partial"))
    index.optimize()  # the move is made again, or, once renamed, is done
    assert answers(index) == before
    index.close()
    shared = ShardIndex(path, DIM)
    assert shared.count(STORE) == 0
    shared.close()
