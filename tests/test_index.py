"""The vector index: the same behaviour from Qdrant Edge (default) and qdrant-client.

Texts are real (ADI abstracts) and BM25 is Qdrant's real BM25. Dense vectors come from a
deterministic bag-of-words hash: these tests exercise the index, not the embedding model.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_edge import PayloadSchemaType
from rank_bm25 import BM25Okapi

from retrievd.config import Settings
from retrievd.errors import APIError
from retrievd.index import open_index
from retrievd.index.base import FILE_KEY, IndexPoint, IndexQuery, Sparse, VectorIndex
from retrievd.index.client import ClientIndex
from retrievd.index.edge import EdgeIndex, ShardIndex
from retrievd.index.filters import parse_filter
from retrievd.index.sparse import Bm25Encoder
from tests.conftest import SHARED

ADI = SHARED / "eval" / "adi"
DIM = 64
STORE = "vs_main"
OTHER = "vs_other"
BM25 = Bm25Encoder()


def _load(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (ADI / name).read_text().splitlines()]


DOCS = [d["title"] + "\n" + d["text"] for d in _load("corpus.jsonl")]
QUERIES = [q["text"] for q in _load("queries.jsonl")]
AVG_LEN = BM25.mean_length(DOCS)


def embed(text: str) -> list[float]:
    """Hashed bag of words, unit length: texts sharing words are close."""
    vector = np.zeros(DIM)
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % DIM] += 1
    return (vector / (np.linalg.norm(vector) or 1.0)).tolist()


def chunks(store: str, file_id: str, texts: Sequence[str], attributes: dict[str, Any] | None = None) -> list[IndexPoint]:
    sparse = BM25.encode_documents(texts, AVG_LEN)
    return [
        IndexPoint(store, file_id, i, embed(t), s, {"text": t, "filename": f"{file_id}.txt", "attributes": attributes or {}})
        for i, (t, s) in enumerate(zip(texts, sparse))
    ]


def query(text: str, store: str = STORE, **options: Any) -> IndexQuery:
    return IndexQuery(vector_store_ids=[store], dense=embed(text), sparse=BM25.encode_query(text), **options)


def files(hits: Sequence[Any]) -> list[str]:
    return [h.payload[FILE_KEY] for h in hits]


def open_backend(kind: str, path: Path) -> VectorIndex:
    return EdgeIndex(path, DIM) if kind == "edge" else ClientIndex(":memory:", DIM)


@pytest.fixture(params=["edge", "client"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorIndex]:
    idx = open_backend(request.param, tmp_path / "index")
    yield idx
    idx.close()


# --- points: identity, idempotency, deletion, isolation -------------------------------------


def test_upsert_is_idempotent_by_file_and_chunk_index(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", DOCS[:3]))
    index.upsert(chunks(STORE, "file-a", DOCS[:3]))  # a retried ingestion
    assert index.count(STORE) == 3

    index.upsert(chunks(STORE, "file-a", [DOCS[5]]))  # chunk 0 re-ingested with new text
    assert index.count(STORE) == 3
    assert index.scroll(STORE, "file-a")[0].payload["text"] == DOCS[5]


def test_two_files_with_identical_text_stay_two(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", [DOCS[0]]) + chunks(STORE, "file-b", [DOCS[0]]))

    assert index.count(STORE) == 2
    assert sorted(files(index.query(query(DOCS[0], mode="dense")))) == ["file-a", "file-b"]


def test_delete_file_and_store_touch_only_their_points(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", DOCS[:2]) + chunks(STORE, "file-b", DOCS[2:5]))
    index.upsert(chunks(OTHER, "file-a", DOCS[:2]))  # the same file attached to another store

    index.delete_file(STORE, "file-a")
    assert (index.count(STORE), index.count(STORE, "file-a"), index.count(OTHER, "file-a")) == (3, 0, 2)

    index.delete_store(STORE)
    assert (index.count(STORE), index.count(OTHER)) == (0, 2)


def test_scroll_returns_a_store_or_file_in_chunk_order(index: VectorIndex) -> None:
    points = chunks(STORE, "file-b", DOCS[:12]) + chunks(STORE, "file-a", DOCS[12:14])
    index.upsert(points[::-1])

    assert [(h.payload[FILE_KEY], h.payload["chunk_index"]) for h in index.scroll(STORE)] == [
        ("file-a", 0), ("file-a", 1), *[("file-b", i) for i in range(12)]
    ]  # fmt: skip
    assert [h.payload["text"] for h in index.scroll(STORE, "file-b")] == DOCS[:12]
    assert index.scroll(OTHER) == []


def test_stores_are_isolated_in_results_and_in_bm25_statistics(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", DOCS[:10]))
    before = index.query(query(QUERIES[0], mode="sparse"))

    index.upsert(chunks(OTHER, "file-z", DOCS[10:]))  # other tenants' documents ...
    after = index.query(query(QUERIES[0], mode="sparse"))

    assert [(h.id, h.score) for h in after] == [(h.id, pytest.approx(h.score)) for h in before]  # ... change no IDF
    for mode in ("dense", "sparse", "hybrid"):
        assert set(files(index.query(query(QUERIES[0], mode=mode, limit=50)))) == {"file-a"}
    both = IndexQuery([STORE, OTHER], dense=embed(DOCS[20]), mode="dense", limit=1)
    assert files(index.query(both)) == ["file-z"]


# --- search modes ------------------------------------------------------------------------


def test_dense_sparse_and_hybrid_find_the_matching_document(index: VectorIndex) -> None:
    index.upsert([p for i, doc in enumerate(DOCS[:30]) for p in chunks(STORE, f"file-{i}", [doc])])
    title = DOCS[7].split("\n")[0]

    dense = index.query(query(DOCS[7], mode="dense", limit=3))
    assert files(dense)[0] == "file-7" and dense[0].score == pytest.approx(1.0, abs=1e-5)  # raw cosine
    assert files(index.query(query(title, mode="sparse", limit=3)))[0] == "file-7"

    for fusion in ("rrf", "dbsf"):
        hybrid = index.query(query(title, mode="hybrid", fusion=fusion, rrf_k=60, limit=5))
        assert files(hybrid)[0] == "file-7" and len(hybrid) == 5
    # Qdrant's RRF counts ranks from 0: a point first in both lists scores 2/k, not 2/(k+1).
    assert index.query(query(title, mode="hybrid", rrf_k=60))[0].score == pytest.approx(2 / 60)


def test_hybrid_fuses_even_without_bm25_terms(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", DOCS[:5]))
    only_stopwords = query("of the and", mode="hybrid", rrf_k=60)

    assert only_stopwords.sparse is not None and only_stopwords.sparse.indices == []
    assert index.query(only_stopwords)[0].score == pytest.approx(1 / 60)  # RRF scale, one branch
    assert index.query(query("of the and", mode="sparse")) == []


def test_query_branches_returns_both_candidate_lists(index: VectorIndex) -> None:
    index.upsert([p for i, doc in enumerate(DOCS[:40]) for p in chunks(STORE, f"file-{i}", [doc])])
    q = query(QUERIES[1], prefetch_limit=5, with_vectors=True)

    dense, sparse = index.query_branches(q)
    assert len(dense) == 5 and len(sparse) == 5
    assert [h.id for h in dense] == [h.id for h in index.query(query(QUERIES[1], mode="dense", limit=5))]
    assert [h.id for h in sparse] == [h.id for h in index.query(query(QUERIES[1], mode="sparse", limit=5))]
    assert dense[0].dense is not None and math.isclose(float(np.dot(dense[0].dense, q.dense)), dense[0].score, abs_tol=1e-5)

    full_dense, full_sparse = index.query_branches(q, complete=True)
    union = {h.id for h in dense} | {h.id for h in sparse}
    assert {h.id for h in full_dense} == union  # every candidate has a cosine
    assert {h.id for h in sparse} <= {h.id for h in full_sparse} <= union  # and a BM25 score unless it is 0
    scores = {h.id: h.score for h in full_sparse}
    assert all(scores[h.id] == pytest.approx(h.score) for h in sparse)

    dense_only = IndexQuery([STORE], dense=embed(QUERIES[1]), prefetch_limit=5)
    assert [len(hits) for hits in index.query_branches(dense_only, complete=True)] == [5, 0]


def test_hits_without_payloads_fetch_the_winners_payloads_afterwards(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", DOCS[:20]) + chunks(OTHER, "file-b", DOCS[20:30]))
    q = query(QUERIES[1], prefetch_limit=5)
    dense, sparse = index.query_branches(q)
    bare_dense, bare_sparse = index.query_branches(IndexQuery(**{**q.__dict__, "with_payload": False}))
    assert [(h.id, h.score) for h in bare_dense + bare_sparse] == [(h.id, h.score) for h in dense + sparse]
    assert all(h.payload == {} for h in bare_dense + bare_sparse)
    ids = [h.id for h in dense + sparse]
    assert index.payloads([STORE], ids) == {h.id: h.payload for h in dense + sparse}
    other = index.query(query(QUERIES[1], OTHER, mode="dense", limit=3))
    assert index.payloads([STORE], [h.id for h in other] + ["00000000-0000-0000-0000-000000000000"]) == {}


# --- filters ---------------------------------------------------------------------------------

ATTRIBUTED = {
    "f1": {"author": "ann", "year": 2020, "score": 4.5, "draft": True, "dept.name": "physics"},
    "f2": {"author": "bob", "year": 2021, "score": 3, "draft": False},
    "f3": {"author": "cy", "year": 2022.0},
    "f4": {},
    "f5": {"author": "ann", "year": "2020"},
}

FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"type": "eq", "key": "author", "value": "ann"}, {"f1", "f5"}),
    ({"key": "author", "value": "bob"}, {"f2"}),  # type defaults to eq
    ({"type": "eq", "key": "year", "value": 2020}, {"f1"}),  # the string "2020" is not the number
    ({"type": "eq", "key": "year", "value": 2022}, {"f3"}),  # 2022 == 2022.0
    ({"type": "eq", "key": "draft", "value": True}, {"f1"}),
    ({"type": "eq", "key": "draft", "value": False}, {"f2"}),
    ({"type": "eq", "key": "dept.name", "value": "physics"}, {"f1"}),  # a dotted key is one key
    ({"type": "ne", "key": "author", "value": "ann"}, {"f2", "f3", "f4"}),  # missing attribute: not equal
    ({"type": "ne", "key": "draft", "value": True}, {"f2", "f3", "f4", "f5"}),
    ({"type": "ne", "key": "year", "value": 2020}, {"f2", "f3", "f4", "f5"}),
    ({"type": "gt", "key": "year", "value": 2020}, {"f2", "f3"}),
    ({"type": "gte", "key": "year", "value": 2021}, {"f2", "f3"}),
    ({"type": "lt", "key": "year", "value": 2021}, {"f1"}),
    ({"type": "lte", "key": "year", "value": 2021.0}, {"f1", "f2"}),
    ({"type": "gt", "key": "score", "value": 3}, {"f1"}),
    ({"type": "gte", "key": "score", "value": 3}, {"f1", "f2"}),
    ({"type": "lt", "key": "score", "value": 4.5}, {"f2"}),
    ({"type": "in", "key": "author", "value": ["ann", "cy"]}, {"f1", "f3", "f5"}),
    ({"type": "in", "key": "year", "value": [2021, 2022]}, {"f2", "f3"}),
    ({"type": "in", "key": "year", "value": ["2020", 2021]}, {"f2", "f5"}),
    ({"type": "nin", "key": "author", "value": ["ann", "bob"]}, {"f3", "f4"}),
    ({"type": "and", "filters": [{"key": "author", "value": "ann"}, {"key": "year", "value": 2020}]}, {"f1"}),
    ({"type": "or", "filters": [{"key": "author", "value": "bob"}, {"type": "gt", "key": "score", "value": 4}]}, {"f1", "f2"}),
    (
        {
            "type": "and",
            "filters": [
                {"type": "or", "filters": [{"key": "author", "value": "ann"}, {"key": "author", "value": "cy"}]},
                {"type": "ne", "key": "draft", "value": True},
            ],
        },
        {"f3", "f5"},
    ),
]


@pytest.fixture(scope="module", params=["edge", "client"])
def attributed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorIndex]:
    """Five files of three chunks with the attributes above (read-only: shared by the filter tests)."""
    index = open_backend(request.param, tmp_path_factory.mktemp("attributed"))
    for n, (file_id, attributes) in enumerate(ATTRIBUTED.items()):
        index.upsert(chunks(STORE, file_id, DOCS[3 * n : 3 * n + 3], attributes))
    index.upsert(chunks(OTHER, "f1", DOCS[:3], ATTRIBUTED["f1"]))  # a match in another store
    yield index
    index.close()


@pytest.mark.parametrize(("flt", "expected"), FILTER_CASES, ids=[json.dumps(c[0]) for c in FILTER_CASES])
def test_filters_select_files_by_attributes(attributed: VectorIndex, flt: dict[str, Any], expected: set[str]) -> None:
    for mode in ("dense", "sparse", "hybrid"):
        assert set(files(attributed.query(query(QUERIES[0], mode=mode, filters=flt, limit=50)))) <= expected
    everything = attributed.query(query(QUERIES[0], mode="dense", filters=flt, limit=50))
    assert set(files(everything)) == expected and len(everything) == 3 * len(expected)


def test_filters_run_inside_the_engine_not_after_the_top_k(attributed: VectorIndex) -> None:
    only_f4 = {"type": "eq", "key": "author", "value": "nobody"}
    nin = {"type": "nin", "key": "author", "value": ["ann", "bob", "cy"]}  # f4 only, whatever ranks first
    q = query(DOCS[0], limit=1, prefetch_limit=1)

    assert files(attributed.query(query(DOCS[0], mode="dense", limit=1, filters=only_f4))) == []
    for mode in ("dense", "sparse", "hybrid"):
        assert files(attributed.query(query(DOCS[0], mode=mode, limit=1, prefetch_limit=1, filters=nin))) == ["f4"]
    dense, sparse = attributed.query_branches(IndexQuery(**{**q.__dict__, "filters": nin}))
    assert files(dense) == files(sparse) == ["f4"]


@pytest.mark.parametrize(
    "flt",
    [
        "author = ann",
        {"type": "like", "key": "author", "value": "a"},
        {"type": "eq", "value": "ann"},
        {"type": "eq", "key": "", "value": "ann"},
        {"type": "eq", "key": "author"},
        {"type": "eq", "key": "author", "value": ["ann"]},
        {"type": "eq", "key": "author", "value": None},
        {"type": "eq", "key": "author", "value": {"x": 1}},
        {"type": "gt", "key": "year", "value": "2020"},
        {"type": "lte", "key": "draft", "value": True},
        {"type": "in", "key": "author", "value": "ann"},
        {"type": "in", "key": "author", "value": []},
        {"type": "nin", "key": "draft", "value": [True]},
        {"type": "eq", "key": "author", "value": "ann", "extra": 1},
        {"type": "and", "filters": []},
        {"type": "or", "filters": {"key": "author", "value": "ann"}},
        {"type": "xor", "filters": [{"key": "author", "value": "ann"}]},
        {"type": "and", "filters": [{"type": "gt", "key": "year", "value": "x"}]},
    ],
)
def test_invalid_filters_are_400_errors_on_param_filters(flt: Any) -> None:
    with pytest.raises(APIError) as raised:
        parse_filter(flt)
    assert (raised.value.status, raised.value.param) == (400, "filters")


def test_query_rejects_an_invalid_filter(index: VectorIndex) -> None:
    with pytest.raises(APIError):
        index.query(query(QUERIES[0], filters={"type": "gt", "key": "year", "value": "2020"}))


# --- BM25 ------------------------------------------------------------------------------------


def test_bm25_tokens_are_stemmed_folded_and_stopword_free() -> None:
    assert BM25.token_lengths(["The cats are running", "", "of the and"]) == [2, 0, 0]
    assert BM25.encode_query("Café RUNS") == BM25.encode_query("cafe run")
    assert BM25.encode_query("the") == Sparse(indices=[], values=[])


def _bags(texts: Sequence[str]) -> list[list[int]]:
    """Each text as its BM25 token ids, each repeated term-frequency times."""
    lengths = BM25.token_lengths(texts)
    bags = []
    for sparse, length in zip(BM25.encode_documents(texts, avg_len=1.0), lengths):
        bag = []
        for index, weight in zip(sparse.indices, sparse.values):
            # weight = tf*(k+1) / (tf + k*(1-b+b*len/avg_len)): solve for tf.
            norm = BM25.k * (1 - BM25.b + BM25.b * length)
            bag += [index] * round(weight * norm / (BM25.k + 1 - weight))
        bags.append(bag)
    return bags


class _QdrantIdfBM25(BM25Okapi):
    """rank-bm25 with Qdrant's IDF, ln(1 + (N - n + 0.5) / (n + 0.5))."""

    def _calc_idf(self, nd: dict[int, int]) -> None:
        self.idf = {t: math.log(1 + (self.corpus_size - n + 0.5) / (n + 0.5)) for t, n in nd.items()}


def test_bm25_search_agrees_with_rank_bm25_on_adi(index: VectorIndex) -> None:
    index.upsert([p for i, doc in enumerate(DOCS) for p in chunks(STORE, str(i), [doc])])
    bags = _bags(DOCS)
    assert [len(b) for b in bags] == BM25.token_lengths(DOCS)
    same_idf = _QdrantIdfBM25(bags, k1=BM25.k, b=BM25.b)
    textbook = BM25Okapi(bags, k1=BM25.k, b=BM25.b)
    assert same_idf.avgdl == pytest.approx(AVG_LEN)

    overlaps = []
    for text in QUERIES:
        terms = BM25.encode_query(text).indices
        hits = index.query(query(text, mode="sparse", limit=len(DOCS)))
        scores = np.zeros(len(DOCS))
        scores[[int(f) for f in files(hits)]] = [h.score for h in hits]
        # Same tokens, same IDF: the same scores.
        np.testing.assert_allclose(scores, same_idf.get_scores(terms), rtol=1e-5, atol=1e-6)
        # rank-bm25's own IDF, ln((N - n + 0.5) / (n + 0.5)) floored at 0.25 x the mean IDF, gives
        # terms in half the corpus or more a near-zero weight where Qdrant's +1 keeps them positive.
        top = set(np.argsort(-textbook.get_scores(terms))[:10])
        overlaps.append(len(top & set(np.argsort(-scores)[:10])) / 10)
    assert np.mean(overlaps) >= 0.9 and min(overlaps) >= 0.7


def test_best_term_scores_are_each_terms_best_bm25_and_follow_every_write(index: VectorIndex) -> None:
    def expected(docs: list[str], text: str) -> list[float]:
        """Each query term's best score over `docs`, from the textbook BM25 with Qdrant's IDF."""
        oracle = _QdrantIdfBM25(_bags(docs), k1=BM25.k, b=BM25.b)
        oracle.avgdl = AVG_LEN  # what the points were encoded with
        return [float(oracle.get_scores([term]).max()) for term in BM25.encode_query(text).indices]

    text = QUERIES[0]
    sparse = BM25.encode_query(text)
    index.upsert([p for i, doc in enumerate(DOCS[:20]) for p in chunks(STORE, f"file-{i}", [doc])])
    index.upsert(chunks(OTHER, "file-z", DOCS[20:]))  # another store changes nothing
    assert index.best_term_scores([STORE], sparse) == pytest.approx(expected(DOCS[:20], text), rel=1e-5)
    assert index.best_term_scores([STORE], sparse) == pytest.approx(expected(DOCS[:20], text), rel=1e-5)

    index.upsert([p for i, doc in enumerate(DOCS[20:40], 20) for p in chunks(STORE, f"file-{i}", [doc])])
    assert index.best_term_scores([STORE], sparse) == pytest.approx(expected(DOCS[:40], text), rel=1e-5)
    for i in range(20):
        index.delete_file(STORE, f"file-{i}")
    assert index.best_term_scores([STORE], sparse) == pytest.approx(expected(DOCS[20:40], text), rel=1e-5)
    index.delete_store(STORE)
    assert index.best_term_scores([STORE], sparse) == [0.0] * len(sparse.indices)


# --- lifecycle -------------------------------------------------------------------------------


def test_edge_index_persists_across_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "index"
    index = EdgeIndex(path, DIM)
    index.upsert(chunks(STORE, "file-a", DOCS[:20]))
    sparse = query(QUERIES[2], mode="sparse")  # (hybrid RRF scores tie, and ties may reorder)
    expected = [(h.id, h.score) for h in index.query(sparse)]
    index.close()
    index.close()  # closing twice is harmless

    reopened = EdgeIndex(path, DIM)
    assert reopened.count(STORE) == 20
    assert [(h.id, pytest.approx(h.score)) for h in reopened.query(sparse)] == expected
    with pytest.raises(RuntimeError, match="another process"):
        EdgeIndex(path, DIM)  # the shard is locked while open
    reopened.close()
    with pytest.raises(RuntimeError, match="expected vector size 384"):
        EdgeIndex(path, 384)
    with pytest.raises(RuntimeError, match="closed"):
        reopened.count(STORE)


def test_edge_index_gives_each_attribute_key_a_payload_index(tmp_path: Path) -> None:
    """Without one, an attribute filter reads the payload of every point of the store."""
    index = ShardIndex(tmp_path / "index", DIM)
    index.upsert(chunks(STORE, "f1", DOCS[:2], ATTRIBUTED["f1"]))
    schema = {path: info.data_type for path, info in index.shard.info().payload_schema.items()}
    assert schema == {
        "vector_store_id": PayloadSchemaType.Keyword,
        "file_id": PayloadSchemaType.Keyword,
        "attributes.author": PayloadSchemaType.Keyword,
        "attributes.year": PayloadSchemaType.Float,
        "attributes.score": PayloadSchemaType.Float,
        "attributes.draft": PayloadSchemaType.Bool,
        'attributes."dept.name"': PayloadSchemaType.Keyword,
    }
    index.close()


def test_edge_upserts_survive_a_killed_process_without_flush(tmp_path: Path) -> None:
    path = tmp_path / "index"
    script = f"""
import os
from retrievd.index.base import IndexPoint, Sparse
from retrievd.index.edge import EdgeIndex, ShardIndex
index = EdgeIndex({str(path)!r}, {DIM})
index.upsert([IndexPoint("{STORE}", "file-a", i, [1.0] * {DIM}, Sparse([i], [1.0]), {{}}) for i in range(7)])
os._exit(0)  # killed: no flush, no close
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

    index = EdgeIndex(path, DIM)
    assert index.count(STORE) == 7
    index.close()


def test_concurrent_ingestion_and_search(index: VectorIndex) -> None:
    errors: list[BaseException] = []

    def ingest(worker: int) -> None:
        try:
            for i in range(10):
                index.upsert(chunks(STORE, f"file-{worker}-{i}", DOCS[i : i + 3]))
                index.query(query(QUERIES[i]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and index.count(STORE) == 4 * 10 * 3


def test_optimize_keeps_results(index: VectorIndex) -> None:
    index.upsert(chunks(STORE, "file-a", DOCS))
    before = [h.id for h in index.query(query(QUERIES[3]))]
    index.optimize()
    index.flush()
    assert [h.id for h in index.query(query(QUERIES[3]))] == before


def test_open_index_picks_the_backend_from_settings(tmp_path: Path) -> None:
    edge = open_index(Settings(data_dir=tmp_path, qdrant_url=None), DIM)
    assert isinstance(edge, EdgeIndex) and edge.path == tmp_path / "index"
    edge.close()
    client = open_index(Settings(data_dir=tmp_path, qdrant_url=":memory:"), DIM)
    assert isinstance(client, ClientIndex)
    client.close()
