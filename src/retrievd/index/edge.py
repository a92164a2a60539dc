"""The default backend: an in-process Qdrant Edge shard persisted in a directory.

Writes go to a write-ahead log first, so upserts survive a killed process even before
`flush()`. The shard is locked by the process that opens it (a second opener fails).

Every qdrant-edge call holds the GIL while it runs. Searches and upserts take milliseconds,
but `optimize()` (building HNSW graphs, merging segments) takes seconds to a minute and
freezes every other Python thread meanwhile; see `optimize`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge

from retrievd.index.base import FILE_KEY, STORE_KEY, Hit, IndexPoint, IndexQuery
from retrievd.index.shared import DENSE, SPARSE, IndexKind, QdrantIndex, Search, dense_list, point_payload

_CONFIG_FILE = "edge_config.json"  # present once a shard has been created in a directory
_SCROLL_PAGE = 1000


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


class EdgeIndex(QdrantIndex):
    """VectorIndex on a Qdrant Edge shard at `path`; safe to share between threads."""

    filters = EdgeFilters()
    sole_writer = True  # the shard is locked by the one process that opened it

    def __init__(self, path: Path | str, dim: int) -> None:
        self.path = Path(path)
        self.dim = dim
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
        hits: list[Hit] = []
        offset = None
        while True:
            records, offset = self.shard.scroll(
                edge.ScrollRequest(offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=True)
            )
            hits.extend(Hit(id=str(r.id), score=0.0, payload=r.payload or {}) for r in records)
            if offset is None:
                return hits

    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        requests = [
            edge.QueryRequest(
                limit=s.limit,
                filter=s.filter,
                with_payload=True,
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
            with_payload=True,
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
    idf = edge.SearchParams(idf=edge.IdfParams(corpus=search.idf_corpus))
    return {"query": edge.Query.Nearest(vector, using=SPARSE), "params": idf}


def _hit(point: edge.ScoredPoint) -> Hit:
    vectors = point.vector if isinstance(point.vector, dict) else {}
    dense = vectors.get(DENSE)
    return Hit(id=str(point.id), score=point.score, payload=point.payload or {}, dense=dense)
