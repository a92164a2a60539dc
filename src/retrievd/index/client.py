"""The server backend: a Qdrant collection reached through qdrant-client.

`location` is a Qdrant URL, or ":memory:" for qdrant-client's in-process local mode, which
stands in for a server in tests (exact search; payload indexes have no effect there; not
thread-safe, so calls to it are serialised).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http import models

from retrievd.index.base import FILE_KEY, STORE_KEY, Hit, IndexPoint, IndexQuery
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

COLLECTION = "retrievd_chunks"
_SCROLL_PAGE = 1000
_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}


class ClientFilters:
    """Builds `qdrant_client` filters."""

    def match(self, key: str, value: str | bool) -> models.FieldCondition:
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    def match_any(self, key: str, values: list[str]) -> models.FieldCondition:
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))

    def range(self, key: str, **bounds: float) -> models.FieldCondition:
        return models.FieldCondition(key=key, range=models.Range(**bounds))

    def has_ids(self, ids: Sequence[str]) -> models.HasIdCondition:
        return models.HasIdCondition(has_id=list(ids))

    def combine(self, must: Sequence[Any] = (), should: Sequence[Any] = (), must_not: Sequence[Any] = ()) -> models.Filter:
        return models.Filter(must=list(must) or None, should=list(should) or None, must_not=list(must_not) or None)


class ClientIndex(QdrantIndex):
    """VectorIndex on the collection `COLLECTION`, created on first use."""

    filters = ClientFilters()

    def __init__(
        self,
        location: str,
        dim: int,
        *,
        api_key: str | None = None,
        collection: str = COLLECTION,
        shard_number: int = 1,
        replication_factor: int = 1,
    ) -> None:
        self.dim = dim
        self.collection = collection
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        self.client = QdrantClient(location=location, api_key=api_key)
        self._guard: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if location == ":memory:" else contextlib.nullcontext()
        )
        if self.client.collection_exists(collection):
            self._check_dim()
        else:
            self._create()
        super().__init__(self.client.get_collection(collection).payload_schema)

    def _create(self) -> None:
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: models.VectorParams(size=self.dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=self.shard_number,
            replication_factor=self.replication_factor,
        )
        tenant = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
        self._create_index(STORE_KEY, tenant)
        self._create_index(FILE_KEY, "keyword")

    def _create_index(self, path: str, kind: IndexKind | models.KeywordIndexParams) -> None:
        schema = _SCHEMAS[kind] if isinstance(kind, str) else kind
        with self._guard, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")  # local mode
            self.client.create_payload_index(self.collection, path, schema, wait=True)

    def _check_dim(self) -> None:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != self.dim:
            raise RuntimeError(f"Collection {self.collection!r} holds {size}-d dense vectors, not {self.dim}-d.")

    def recreate(self) -> None:
        """Drop the collection and create it empty (`retrievd index rebuild` refills it)."""
        with self._guard:
            self.client.delete_collection(self.collection)
        self._create()
        self._indexed.clear()

    def flush(self) -> None:
        """Nothing to do: the server persists each acknowledged write."""

    def optimize(self) -> bool:
        """Nothing to do: the server optimizes in the background. Returns False."""
        return False

    def close(self) -> None:
        self.client.close()

    def _upsert(self, points: Sequence[IndexPoint]) -> None:
        structs = [self._point(p) for p in points]
        with self._guard:
            self.client.upsert(self.collection, structs, wait=True)

    def _point(self, point: IndexPoint) -> models.PointStruct:
        sparse = models.SparseVector(indices=point.sparse.indices, values=point.sparse.values)
        vector = {DENSE: dense_list(point.dense, self.dim), SPARSE: sparse}
        return models.PointStruct(id=point.id, vector=vector, payload=point_payload(point))

    def _delete(self, flt: models.Filter) -> None:
        with self._guard:
            self.client.delete(self.collection, models.FilterSelector(filter=flt), wait=True)

    def _count(self, flt: models.Filter) -> int:
        with self._guard:
            return self.client.count(self.collection, count_filter=flt, exact=True).count

    def _scroll(self, flt: models.Filter) -> list[Hit]:
        hits: list[Hit] = []
        offset = None
        while True:
            with self._guard:
                records, offset = self.client.scroll(
                    self.collection, scroll_filter=flt, limit=_SCROLL_PAGE, offset=offset, with_payload=True
                )
            hits.extend(record_hit(r) for r in records)
            if offset is None:
                return hits

    def _retrieve(self, ids: Sequence[str]) -> list[Hit]:
        with self._guard:
            records = self.client.retrieve(self.collection, list(ids), with_payload=True)
        return [record_hit(r) for r in records]

    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        requests = [
            models.QueryRequest(
                limit=s.limit,
                filter=s.filter,
                with_payload=s.with_payload,
                with_vector=[DENSE] if s.with_vectors else False,
                **_nearest(s),
            )
            for s in searches
        ]
        with self._guard:
            responses = self.client.query_batch_points(self.collection, requests)
        return [[_hit(p) for p in response.points] for response in responses]

    def _fuse(self, searches: Sequence[Search], q: IndexQuery, flt: models.Filter) -> list[Hit]:
        fusion: models.Query = (
            models.RrfQuery(rrf=models.Rrf(k=q.rrf_k))
            if q.fusion == "rrf"
            else models.FusionQuery(fusion=models.Fusion.DBSF)
        )
        with self._guard:
            response = self.client.query_points(
                self.collection,
                prefetch=[models.Prefetch(limit=s.limit, filter=s.filter, **_nearest(s)) for s in searches],
                query=fusion,
                query_filter=flt,
                limit=q.limit,
                with_payload=q.with_payload,
                with_vectors=[DENSE] if q.with_vectors else False,
            )
        return [_hit(p) for p in response.points]


def _nearest(search: Search) -> dict[str, Any]:
    """The query, vector name and (for BM25) IDF corpus of a request or prefetch."""
    if search.using == DENSE:
        return {"query": search.vector, "using": DENSE}
    assert not isinstance(search.vector, list)
    vector = models.SparseVector(indices=search.vector.indices, values=search.vector.values)
    idf = models.SearchParams(idf=models.IdfCorpusParams(corpus=search.idf_corpus))
    return {"query": vector, "using": SPARSE, "params": idf}


def _hit(point: models.ScoredPoint) -> Hit:
    dense = point.vector.get(DENSE) if isinstance(point.vector, dict) else None
    return Hit(id=str(point.id), score=point.score, payload=point.payload or {}, dense=dense)
