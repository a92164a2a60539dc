"""The default backend: in-process Qdrant Edge shards persisted in a directory.

Writes go to a write-ahead log first, so upserts survive a killed process even before
`flush()`. A shard is locked by the process that opens it (a second opener fails).

Stores share one shard until one grows large: a request on a shared shard carries a store
filter, and BM25 counts each query term's postings inside the store for its IDF, costs that
grow with the whole shard (at 1M points 43 ms of engine time a hybrid query, against 5 ms on a
shard of the store alone; docs/scale.md). So `optimize()` moves each store of `store_shard_points`
points or more to a shard of its own, as Qdrant's tiered multitenancy does with large tenants.

Every qdrant-edge call holds the GIL while it runs. Searches and upserts take milliseconds,
but `optimize()` (building HNSW graphs, merging segments) takes seconds to a minute and
freezes every other Python thread meanwhile; see `optimize`.
"""

from __future__ import annotations

import shutil
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as edge

from retrievd.index.base import CHUNK_KEY, FILE_KEY, STORE_KEY, Hit, IndexPoint, IndexQuery, Sparse
from retrievd.index.shared import (
    DENSE,
    SPARSE,
    IndexKind,
    QdrantIndex,
    Search,
    dense_list,
    point_payload,
    record_hit,
)

_CONFIG_FILE = "edge_config.json"  # present once a shard has been created in a directory
_SCROLL_PAGE = 1000
_STORES_DIR = "stores"  # under the shared shard's directory: one shard per large store
_PARTIAL = ".partial"  # a store's shard while it is built (or removed); dropped on open
T = TypeVar("T")


def _config(dim: int) -> edge.EdgeConfig:
    # Memory: the vectors, sparse vectors and payloads (chunk text) live in memory-mapped files on
    # disk that the OS pages in as searches touch them; only int8 copies of the dense vectors
    # (a quarter of their size) stay in RAM for the HNSW search, rescored with the originals.
    # 100k synthetic chunks: 2.68 GiB RSS all in RAM, 1.44 GiB so (docs/scale.md).
    dense = edge.EdgeVectorParams(
        size=dim,
        distance=edge.Distance.Cosine,
        on_disk=True,
        quantization_config=edge.ScalarQuantizationConfig(type=edge.ScalarType.Int8, always_ram=True),
    )
    return edge.EdgeConfig(
        vectors={DENSE: dense},
        sparse_vectors={SPARSE: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf, on_disk=True)},
        on_disk_payload=True,
        # Up to 16 segments before merging: each optimize() then indexes only the points
        # added since the last one (a constant 17-19 s per +10k on a loaded 2-core machine),
        # where the default (one segment per CPU) re-merged and re-indexed the whole store
        # every time (25, 55, 62, 82, 82 s over five +10k steps).
        optimizers=edge.EdgeOptimizersConfig(default_segment_number=16),
    )


_PAYLOAD_INDEXES: dict[str, Any] = {
    # The tenant index groups each store's points together on disk when segments are optimized.
    STORE_KEY: edge.KeywordIndexParams(is_tenant=True),
    FILE_KEY: edge.PayloadSchemaType.Keyword,
}
_SCHEMAS = {
    "keyword": edge.PayloadSchemaType.Keyword,
    "float": edge.PayloadSchemaType.Float,
    "bool": edge.PayloadSchemaType.Bool,
}


class EdgeFilters:
    """Builds `qdrant_edge` filters."""

    def match(self, key: str, value: str | bool) -> edge.FieldCondition:
        # qdrant-edge 0.9.0 reads a Python bool as the integer 0/1; numpy's bool is not an int.
        return edge.FieldCondition(key, match=edge.MatchValue(np.bool_(value) if isinstance(value, bool) else value))

    def match_any(self, key: str, values: list[str]) -> edge.FieldCondition:
        return edge.FieldCondition(key, match=edge.MatchAny(values))

    def range(self, key: str, **bounds: float) -> edge.FieldCondition:
        return edge.FieldCondition(key, range=edge.RangeFloat(**bounds))

    def has_ids(self, ids: Sequence[str]) -> edge.HasIdCondition:
        return edge.HasIdCondition(set(ids))

    def combine(self, must: Sequence[Any] = (), should: Sequence[Any] = (), must_not: Sequence[Any] = ()) -> edge.Filter:
        return edge.Filter(must=list(must) or None, should=list(should) or None, must_not=list(must_not) or None)


class ShardIndex(QdrantIndex):
    """VectorIndex on one Qdrant Edge shard at `path`; safe to share between threads.
    `single_store`: the shard holds one store's points only (see `EdgeIndex`)."""

    filters = EdgeFilters()
    sole_writer = True  # the shard is locked by the one process that opened it

    def __init__(self, path: Path | str, dim: int, *, single_store: bool = False) -> None:
        self.path = Path(path)
        self.dim = dim
        self.single_store = single_store
        self._lock = threading.RLock()  # serialises writes, flush, optimize and close
        self._shard: edge.EdgeShard | None = self._open()
        super().__init__(self._shard.info().payload_schema)

    def _open(self) -> edge.EdgeShard:
        try:
            if (self.path / _CONFIG_FILE).exists():
                shard = edge.EdgeShard.load(str(self.path), _config(self.dim))
            else:
                shard = edge.EdgeShard.create(str(self.path), _config(self.dim))
        except Exception as exc:  # qdrant-edge raises bare Exceptions
            raise RuntimeError(
                f"Cannot open the vector index at {self.path} (used by another process, "
                f"or built for vectors other than {self.dim}-d?): {exc}"
            ) from exc
        existing = shard.info().payload_schema
        for field, schema in _PAYLOAD_INDEXES.items():
            if field not in existing:
                shard.update(edge.UpdateOperation.create_field_index(field, schema))
        return shard

    @property
    def shard(self) -> edge.EdgeShard:
        if self._shard is None:
            raise RuntimeError(f"The vector index at {self.path} is closed.")
        return self._shard

    def flush(self) -> None:
        with self._lock:
            self.shard.flush()

    def optimize(self) -> bool:
        """Index the points added since the last run (HNSW graph, immutable sparse index);
        True if there was anything to do.

        A no-op until about 7k points (10 MB of dense vectors) are unindexed; searches over
        fewer are exact scans and fast. Otherwise it blocks, holding the GIL so that every
        other thread of the process stalls, for about 4-5 s per 10k 384-d points on an idle
        2-core machine (17-19 s when loaded); 100k at once took 59 s idle. Call it where a
        pause is acceptable: before serving, when ingestion goes idle, or offline.
        """
        with self._lock:
            return self.shard.optimize()

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None

    def _create_index(self, path: str, kind: IndexKind) -> None:
        with self._lock:
            self.shard.update(edge.UpdateOperation.create_field_index(path, _SCHEMAS[kind]))

    def _upsert(self, points: Sequence[IndexPoint]) -> None:
        operation = edge.UpdateOperation.upsert_points([self._point(p) for p in points])
        with self._lock:
            self.shard.update(operation)

    def _point(self, point: IndexPoint) -> edge.Point:
        sparse = edge.SparseVector(point.sparse.indices, point.sparse.values)
        return edge.Point(point.id, {DENSE: dense_list(point.dense, self.dim), SPARSE: sparse}, point_payload(point))

    def _delete(self, flt: edge.Filter) -> None:
        with self._lock:
            self.shard.update(edge.UpdateOperation.delete_points_by_filter(flt))

    def _count(self, flt: edge.Filter) -> int:
        return self.shard.count(edge.CountRequest(exact=True, filter=flt))

    def _scroll(self, flt: edge.Filter) -> list[Hit]:
        return [record_hit(r) for page in self._pages(flt) for r in page]

    def _pages(self, flt: edge.Filter | None, with_vectors: bool = False) -> Iterator[list[edge.Record]]:
        offset = None
        while True:
            request = edge.ScrollRequest(
                offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=True, with_vector=with_vectors
            )
            records, offset = self.shard.scroll(request)
            yield records
            if offset is None:
                return

    def store_points(self, vector_store_id: str) -> Iterator[list[IndexPoint]]:
        """A store's points, vectors included, a page at a time (what a copy of the store needs)."""
        for page in self._pages(self._scope([vector_store_id]), with_vectors=True):
            yield [_index_point(r) for r in page]

    def large_stores(self, min_points: int) -> list[str]:
        """The stores of the shard with about `min_points` points or more (the engine's estimate)."""
        facet = self.shard.facet(edge.FacetRequest(STORE_KEY, limit=64, exact=False))
        return [str(hit.value) for hit in facet.hits if hit.count >= min_points]

    def _retrieve(self, ids: Sequence[str]) -> list[Hit]:
        return [record_hit(r) for r in self.shard.retrieve(list(ids), True, False)]

    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        requests = [
            edge.QueryRequest(
                limit=s.limit,
                filter=s.filter,
                with_payload=s.with_payload,
                with_vector=[DENSE] if s.with_vectors else False,
                **_nearest(s),
            )
            for s in searches
        ]
        return [[_hit(p) for p in points] for points in self.shard.query_batch(edge.QueryBatchRequest(requests))]

    def _fuse(self, searches: Sequence[Search], q: IndexQuery, flt: edge.Filter) -> list[Hit]:
        fusion = edge.Fusion.Rrf(k=q.rrf_k) if q.fusion == "rrf" else edge.Fusion.Dbsf()
        request = edge.QueryRequest(
            limit=q.limit,
            prefetches=[edge.Prefetch(limit=s.limit, filter=s.filter, **_nearest(s)) for s in searches],
            query=fusion,
            filter=flt,
            with_payload=q.with_payload,
            with_vector=[DENSE] if q.with_vectors else False,
        )
        return [_hit(p) for p in self.shard.query(request)]


def _nearest(search: Search) -> dict[str, Any]:
    """The query (and, for BM25, the IDF corpus) of a request or prefetch."""
    if search.using == DENSE:
        assert isinstance(search.vector, list)
        return {"query": edge.Query.Nearest(search.vector, using=DENSE)}
    assert not isinstance(search.vector, list)
    vector = edge.SparseVector(search.vector.indices, search.vector.values)
    query = {"query": edge.Query.Nearest(vector, using=SPARSE)}
    if search.idf_corpus is None:
        return query  # the IDF of the whole shard
    return {**query, "params": edge.SearchParams(idf=edge.IdfParams(corpus=search.idf_corpus))}


def _index_point(record: edge.Record) -> IndexPoint:
    payload, vectors = record.payload or {}, record.vector
    assert isinstance(vectors, dict)  # read with with_vector=True
    sparse = vectors[SPARSE]
    return IndexPoint(
        vector_store_id=payload[STORE_KEY],
        file_id=payload[FILE_KEY],
        chunk_index=payload[CHUNK_KEY],
        dense=vectors[DENSE],
        sparse=Sparse(list(sparse.indices), list(sparse.values)),
        payload=payload,
    )


def _hit(point: edge.ScoredPoint) -> Hit:
    vectors = point.vector if isinstance(point.vector, dict) else {}
    dense = vectors.get(DENSE)
    return Hit(id=str(point.id), score=point.score, payload=point.payload or {}, dense=dense)


class EdgeIndex:
    """VectorIndex on the Qdrant Edge shards under `path`: the shared shard in `path` itself, and
    the shard of each large store in `path/stores/<store id>`. Safe to share between threads.

    `store_shard_points` None: every store stays in the shared shard.

    A query over stores on several shards asks each and merges by score. Each shard then gives
    BM25 the IDF of its own part of those stores (not of their union), and RRF fuses per shard.

    `optimize()` moves a store: it copies the store into `stores/<id>.partial`, renames that
    (the commit point), then deletes the store from the shared shard. A crash at any step loses
    nothing: opening drops each `.partial` (the store is still whole in the shared shard) and
    deletes each moved store from the shared shard again.
    """

    def __init__(self, path: Path | str, dim: int, *, store_shard_points: int | None = None) -> None:
        self.path = Path(path)
        self.dim = dim
        self.store_shard_points = store_shard_points
        self._lock = threading.RLock()  # serialises writes and moves of stores between shards
        self._layout = 0  # grows whenever a store changes shard; see `_read`
        self._shared = ShardIndex(self.path, dim)
        self._stores_dir = self.path / _STORES_DIR
        self._own: dict[str, ShardIndex] = {}
        try:
            for folder in sorted(self._stores_dir.glob("*")):
                if folder.name.endswith(_PARTIAL):
                    shutil.rmtree(folder)
                else:
                    self._own[folder.name] = ShardIndex(folder, dim, single_store=True)
                    self._shared.delete_store(folder.name)  # done already unless a move was cut short
        except BaseException:
            self.close()
            raise

    def _shard(self, vector_store_id: str) -> ShardIndex:
        return self._own.get(vector_store_id, self._shared)

    def _groups(self, vector_store_ids: Sequence[str]) -> list[tuple[ShardIndex, list[str]]]:
        groups: defaultdict[ShardIndex, list[str]] = defaultdict(list)
        for store_id in dict.fromkeys(vector_store_ids):
            groups[self._shard(store_id)].append(store_id)
        return list(groups.items())

    def _read(self, read: Callable[[], T]) -> T:
        """`read()`, again if a store changed shard meanwhile: a read routed before a move may
        have reached the shared shard after the store was deleted from it, or a closed shard."""
        while True:
            layout = self._layout
            try:
                result = read()
            except Exception:
                if self._layout == layout:
                    raise
                continue
            if self._layout == layout:
                return result

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        with self._lock:
            by_shard: defaultdict[ShardIndex, list[IndexPoint]] = defaultdict(list)
            for point in points:
                by_shard[self._shard(point.vector_store_id)].append(point)
            for shard, shard_points in by_shard.items():
                shard.upsert(shard_points)

    def delete_file(self, vector_store_id: str, file_id: str) -> None:
        with self._lock:
            self._shard(vector_store_id).delete_file(vector_store_id, file_id)

    def delete_store(self, vector_store_id: str) -> None:
        with self._lock:
            own = self._own.pop(vector_store_id, None)
            if own is None:
                self._shared.delete_store(vector_store_id)
                return
            self._layout += 1
            own.close()
            doomed = own.path.with_name(own.path.name + _PARTIAL)
            own.path.rename(doomed)  # gone for the next open, even if removing it is cut short
            shutil.rmtree(doomed)

    def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        return self._read(lambda: self._shard(vector_store_id).count(vector_store_id, file_id))

    def scroll(self, vector_store_id: str, file_id: str | None = None) -> list[Hit]:
        return self._read(lambda: self._shard(vector_store_id).scroll(vector_store_id, file_id))

    def payloads(self, vector_store_ids: Sequence[str], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            return {k: v for shard, stores in self._groups(vector_store_ids) for k, v in shard.payloads(stores, ids).items()}

        return self._read(read)

    def query(self, q: IndexQuery) -> list[Hit]:
        def read() -> list[Hit]:
            parts = [shard.query(replace(q, vector_store_ids=ids)) for shard, ids in self._groups(q.vector_store_ids)]
            return parts[0] if len(parts) == 1 else _best([h for part in parts for h in part], q.limit)

        return self._read(read)

    def query_branches(self, q: IndexQuery, complete: bool = False) -> tuple[list[Hit], list[Hit]]:
        """As `QdrantIndex.query_branches`; over several shards, each branch keeps its best
        `q.prefetch_limit` (all of them with `complete`, so that each still has both scores)."""

        def read() -> tuple[list[Hit], list[Hit]]:
            parts = [
                shard.query_branches(replace(q, vector_store_ids=ids), complete)
                for shard, ids in self._groups(q.vector_store_ids)
            ]
            if len(parts) == 1:
                return parts[0]
            limit = None if complete else q.prefetch_limit
            dense, sparse = (_best([h for part in parts for h in part[branch]], limit) for branch in (0, 1))
            return dense, sparse

        return self._read(read)

    def best_term_scores(self, vector_store_ids: Sequence[str], sparse: Sparse) -> list[float]:
        def read() -> list[float]:
            parts = [shard.best_term_scores(ids, sparse) for shard, ids in self._groups(vector_store_ids)]
            return [max(scores) for scores in zip(*parts, strict=True)]

        if not vector_store_ids:
            raise ValueError("A query needs at least one vector store id.")
        return self._read(read)

    def flush(self) -> None:
        with self._lock:
            for shard in self._shards():
                shard.flush()

    def optimize(self) -> bool:
        """Move each store of `store_shard_points` points or more to a shard of its own, then
        index what each shard has not indexed yet; True if there was anything to do.

        Blocks like `ShardIndex.optimize` (seconds to minutes, holding the GIL), and writes wait
        meanwhile; reads go on. Copying and indexing 1M points at once took 449 s (indexing them
        in place, 141 s); a store that grows through ingestion moves as it passes the threshold.
        """
        with self._lock:
            large = [] if self.store_shard_points is None else self._shared.large_stores(self.store_shard_points)
            moving = [s for s in large if s not in self._own]
            for store_id in moving:
                self._move(store_id)
            indexed = [shard.optimize() for shard in self._shards()]
            return bool(moving) or any(indexed)

    def _move(self, vector_store_id: str) -> None:
        final = self._stores_dir / vector_store_id
        building = final.with_name(final.name + _PARTIAL)
        shutil.rmtree(building, ignore_errors=True)
        shard = ShardIndex(building, self.dim, single_store=True)
        try:
            for page in self._shared.store_points(vector_store_id):
                shard.upsert(page)
            shard.optimize()
        finally:
            shard.close()
        building.rename(final)
        self._own[vector_store_id] = ShardIndex(final, self.dim, single_store=True)
        self._layout += 1
        self._shared.delete_store(vector_store_id)

    def _shards(self) -> list[ShardIndex]:
        return [self._shared, *self._own.values()]

    def close(self) -> None:
        with self._lock:
            for shard in self._shards():
                shard.close()


def _best(hits: list[Hit], limit: int | None) -> list[Hit]:
    return sorted(hits, key=lambda h: -h.score)[:limit]
