"""What the two Qdrant adapters share: turning IndexQuery into searches, and the
VectorIndex operations expressed over a few backend primitives.

One collection holds many vector stores: each point's payload names its store, and every
request (search, IDF statistics, count, scroll, delete) is scoped to the stores it concerns. A
collection that holds a single store (`single_store`, an embedded shard of its own) needs neither
the scope nor an IDF corpus: its whole content is the store.

Each file attribute key gets a payload index the first time it is upserted (keyword, float or
bool, after its first value): without one, an attribute filter reads the payload of every
point of the store, 40-60 ms at 10k points instead of about 1 ms.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from retrievd.index.base import (
    ATTRIBUTES_KEY,
    CHUNK_KEY,
    FILE_KEY,
    STORE_KEY,
    Hit,
    IndexPoint,
    IndexQuery,
    Sparse,
)
from retrievd.index.filters import FilterBuilder, attribute_path, parse_filter, scope

DENSE = "dense"
SPARSE = "bm25"
IndexKind = Literal["keyword", "float", "bool"]
# Beyond this many indexed attribute keys, filters on new keys still work, unindexed.
ATTRIBUTE_INDEX_LIMIT = 64
# Cached best single-term scores (see QdrantIndex.best_term_scores) kept before the cache starts over.
TERM_SCORE_CACHE_SIZE = 200_000


@dataclass(frozen=True)
class Search:
    """One nearest-neighbour search, before a backend renders it."""

    using: str  # DENSE or SPARSE
    vector: list[float] | Sparse
    limit: int
    filter: Any  # the backend's filter
    idf_corpus: Any | None = None  # sparse only: the points whose statistics give the IDF
    with_vectors: bool = False
    with_payload: bool = True


def point_payload(point: IndexPoint) -> dict[str, Any]:
    """The stored payload: the caller's fields plus the identity keys, which always win."""
    return {**point.payload, STORE_KEY: point.vector_store_id, FILE_KEY: point.file_id, CHUNK_KEY: point.chunk_index}


def attribute_indexes(points: Iterable[IndexPoint]) -> dict[str, IndexKind]:
    """The payload index each attribute key of `points` calls for."""
    kinds: dict[str, IndexKind] = {}
    for point in points:
        for key, value in (point.payload.get(ATTRIBUTES_KEY) or {}).items():
            if '"' in key or not isinstance(value, str | int | float):
                continue  # unfilterable key, or not an attribute value
            kinds.setdefault(key, "bool" if isinstance(value, bool) else "keyword" if isinstance(value, str) else "float")
    return kinds


def record_hit(record: Any) -> Hit:
    """A point read by id or by scroll (either adapter's record), as a Hit: no score."""
    return Hit(id=str(record.id), score=0.0, payload=record.payload or {})


def dense_list(vector: Sequence[float], dim: int) -> list[float]:
    values = np.asarray(vector, dtype=np.float32)
    if values.shape != (dim,):
        raise ValueError(f"Expected a {dim}-d dense vector, got shape {values.shape}.")
    return values.tolist()


class QdrantIndex(ABC):
    """VectorIndex over one Qdrant collection; subclasses supply the backend primitives."""

    dim: int
    filters: FilterBuilder
    # True for a backend whose every write goes through this object (an embedded shard, which one
    # process holds): it may cache what it derives from a store's points until it writes that store.
    sole_writer: bool = False
    single_store: bool = False

    def __init__(self, indexed_paths: Iterable[str]) -> None:
        # Qdrant reports paths unquoted where it can (attributes.year, attributes."a.b").
        prefix = f"{ATTRIBUTES_KEY}."
        self._indexed = {p.removeprefix(prefix).replace('"', "") for p in indexed_paths if p.startswith(prefix)}
        self._schema_lock = threading.Lock()
        # A store's generation grows after each write to it; a cached term score names the
        # generations of the stores it was computed on.
        self._generations: defaultdict[str, int] = defaultdict(int)
        self._term_scores: dict[tuple[tuple[str, ...], int, float], tuple[tuple[int, ...], float]] = {}

    @abstractmethod
    def _create_index(self, path: str, kind: IndexKind) -> None: ...
    @abstractmethod
    def _upsert(self, points: Sequence[IndexPoint]) -> None: ...
    @abstractmethod
    def _delete(self, flt: Any) -> None: ...
    @abstractmethod
    def _count(self, flt: Any) -> int: ...
    @abstractmethod
    def _scroll(self, flt: Any) -> list[Hit]: ...
    @abstractmethod
    def _retrieve(self, ids: Sequence[str]) -> list[Hit]: ...
    @abstractmethod
    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]: ...
    @abstractmethod
    def _fuse(self, searches: Sequence[Search], q: IndexQuery, flt: Any) -> list[Hit]: ...

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points; the id is (store, file, chunk index), so retries overwrite."""
        if not points:
            return
        wanted = {key: kind for key, kind in attribute_indexes(points).items() if key not in self._indexed}
        if wanted:
            with self._schema_lock:
                for key, kind in wanted.items():
                    if key not in self._indexed and len(self._indexed) < ATTRIBUTE_INDEX_LIMIT:
                        self._create_index(attribute_path(key), kind)
                        self._indexed.add(key)
        self._upsert(points)
        self._written({p.vector_store_id for p in points})

    def delete_file(self, vector_store_id: str, file_id: str) -> None:
        self._delete(self._scope([vector_store_id], file_id))
        self._written({vector_store_id})

    def delete_store(self, vector_store_id: str) -> None:
        self._delete(scope(self.filters, [vector_store_id]))
        self._written({vector_store_id})

    def _scope(self, vector_store_ids: Sequence[str], file_id: str | None = None, condition: Any = None) -> Any:
        """The filter of a request on these stores (None: the whole collection)."""
        return scope(self.filters, [] if self.single_store else vector_store_ids, file_id, condition)

    def _idf_corpus(self, vector_store_ids: Sequence[str]) -> Any | None:
        """The points whose statistics give BM25's IDF (None: the whole collection)."""
        return None if self.single_store else scope(self.filters, vector_store_ids)

    def _written(self, store_ids: Iterable[str]) -> None:
        """After (never before) a write: a search that read the old generation may have seen
        the new points, so its cached result must not outlive this write."""
        for store_id in store_ids:
            self._generations[store_id] += 1

    def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        return self._count(self._scope([vector_store_id], file_id))

    def scroll(self, vector_store_id: str, file_id: str | None = None) -> list[Hit]:
        """Every point of a store (or of one file), by file then chunk index; scores are 0."""
        hits = self._scroll(self._scope([vector_store_id], file_id))
        return sorted(hits, key=lambda h: (h.payload[FILE_KEY], h.payload[CHUNK_KEY]))

    def payloads(self, vector_store_ids: Sequence[str], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The payloads of the points `ids` that belong to these stores (see `IndexQuery.with_payload`)."""
        stores = set(vector_store_ids)
        return {h.id: h.payload for h in self._retrieve(list(dict.fromkeys(ids))) if h.payload.get(STORE_KEY) in stores}

    def query(self, q: IndexQuery) -> list[Hit]:
        """Top `q.limit` points with raw scores: cosine, BM25, or the fusion's (RRF / DBSF) score.

        Hybrid always fuses, even when the query has no BM25 terms, so its score scale
        never depends on the query text.
        """
        flt = self._filter(q)
        searches = self._searches(q, max(q.prefetch_limit, q.limit) if q.mode == "hybrid" else q.limit, flt)
        if not searches:
            return []
        if q.mode == "hybrid":
            return self._fuse(searches, q, flt)
        return self._search_batch(searches)[0]

    def query_branches(self, q: IndexQuery, complete: bool = False) -> tuple[list[Hit], list[Hit]]:
        """(dense hits, BM25 hits), `q.prefetch_limit` each, raw scores, in one batched call,
        for fusion done by the caller. A branch whose query vector is None or empty is [].

        `complete=True` then scores the union of both candidate lists on both branches, so
        every candidate has its cosine, and its BM25 score unless it shares no term with the
        query (BM25 0, absent from the BM25 list).
        """
        flt = self._filter(q)
        searches = self._searches(q, q.prefetch_limit, flt, branches=True)
        results = dict(zip((s.using for s in searches), self._search_batch(searches)))
        if complete and len(searches) == 2:
            ids = list(dict.fromkeys(h.id for hits in results.values() for h in hits))
            narrowed = self.filters.combine(must=[c for c in (flt, self.filters.has_ids(ids)) if c is not None])
            searches = [replace(s, limit=len(ids), filter=narrowed) for s in searches]
            results = dict(zip((s.using for s in searches), self._search_batch(searches)))
        return results.get(DENSE, []), results.get(SPARSE, [])

    def best_term_scores(self, vector_store_ids: Sequence[str], sparse: Sparse) -> list[float]:
        """Each query term's best single-term score (its BM25, with the stores' IDF) in the stores,
        0 where no chunk has it: what `fusion.bm25_bound` adds up. One batched call for the terms
        not cached; a sole writer caches them until it next writes one of the stores."""
        stores = tuple(sorted(set(vector_store_ids)))
        if not stores:
            raise ValueError("A query needs at least one vector store id.")
        generations = tuple(self._generations[s] for s in stores)
        keys = [(stores, term, weight) for term, weight in zip(sparse.indices, sparse.values)]
        scores: dict[tuple[tuple[str, ...], int, float], float] = {}
        for key in keys:
            cached = self._term_scores.get(key)
            if cached is not None and cached[0] == generations:
                scores[key] = cached[1]
        missing = [key for key in dict.fromkeys(keys) if key not in scores]
        if missing:
            flt, corpus = self._scope(stores), self._idf_corpus(stores)
            searches = [Search(SPARSE, Sparse([term], [weight]), 1, flt, idf_corpus=corpus) for _, term, weight in missing]
            for key, hits in zip(missing, self._search_batch(searches)):
                scores[key] = hits[0].score if hits else 0.0
            if self.sole_writer:
                if len(self._term_scores) > TERM_SCORE_CACHE_SIZE:
                    self._term_scores.clear()
                self._term_scores.update((key, (generations, scores[key])) for key in missing)
        return [scores[key] for key in keys]

    def _filter(self, q: IndexQuery) -> Any:
        if not q.vector_store_ids:
            raise ValueError("A query needs at least one vector store id.")
        condition = parse_filter(q.filters) if q.filters is not None else None
        return self._scope(q.vector_store_ids, condition=condition)

    def _searches(self, q: IndexQuery, limit: int, flt: Any, branches: bool = False) -> list[Search]:
        """The searches `q` runs, dense first: modes dense and sparse run theirs; hybrid mode
        and `branches` run those whose query vector is given. Empty BM25 queries run none."""
        if branches or q.mode == "hybrid":
            use_dense, use_sparse = q.dense is not None, q.sparse is not None
        else:
            use_dense, use_sparse = q.mode == "dense", q.mode == "sparse"
        if not (use_dense or use_sparse) or (use_dense and q.dense is None) or (use_sparse and q.sparse is None):
            raise ValueError(f"This {q.mode} query lacks the query vector it needs.")
        searches = []
        if use_dense:
            assert q.dense is not None
            vector = dense_list(q.dense, self.dim)
            searches.append(Search(DENSE, vector, limit, flt, with_vectors=q.with_vectors, with_payload=q.with_payload))
        if use_sparse and q.sparse is not None and q.sparse.indices:
            corpus = self._idf_corpus(q.vector_store_ids)
            searches.append(
                Search(SPARSE, q.sparse, limit, flt, idf_corpus=corpus, with_vectors=q.with_vectors, with_payload=q.with_payload)
            )
        return searches
