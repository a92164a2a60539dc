"""Search over one or more vector stores: the code path the API, the CLI, the eval suite and the
assistant runtime's `file_search` tool all share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from retrievd.index.base import FILE_KEY, STORE_KEY, TEXT_KEY, IndexQuery, page_end
from retrievd.retrieval import fusion
from retrievd.store.models import VectorStoreFile

if TYPE_CHECKING:
    from retrievd.core import Core


@dataclass(frozen=True)
class SearchOptions:
    limit: int = 10
    filters: dict[str, Any] | None = None
    score_threshold: float = 0.0
    rerank: bool = True  # ranker "none" turns re-ranking off
    embedding_weight: float | None = None  # hybrid_search weights; None = the default fusion
    text_weight: float | None = None
    config: str | None = None  # a named retrieval configuration (ranking_options.ranker, eval); None = the default


@dataclass(frozen=True)
class Result:
    vector_store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    chunk_index: int
    page: int | None  # of the chunk's first token
    page_end: int | None  # of its last
    attributes: dict[str, Any] = field(default_factory=dict)


def search_chunks(core: Core, store_ids: list[str], queries: list[str], options: SearchOptions) -> list[Result]:
    """Best chunks for `queries` (several queries: each chunk keeps its best score).

    The engine ranks candidates without their payloads; the winners' are read afterwards, a page
    of `limit` at a time until `limit` of them belong to files that still exist."""
    best: dict[str, float] = {}
    for query in queries:
        for point_id, score, _ in _search_one(core, store_ids, query, options):
            if point_id not in best or score > best[point_id]:
                best[point_id] = score
    ranked = [(pid, score) for pid, score in sorted(best.items(), key=lambda item: -item[1]) if score >= options.score_threshold]
    results: list[Result] = []
    page_size = max(1, options.limit)
    for start in range(0, len(ranked), page_size):
        page = ranked[start : start + page_size]
        payloads = core.index.payloads(store_ids, [pid for pid, _ in page])
        results += _live_results(core, [(score, payloads[pid]) for pid, score in page if pid in payloads])
        if len(results) >= options.limit:
            break
    return results[: options.limit]


def _search_one(core: Core, store_ids: list[str], query: str, options: SearchOptions) -> list[tuple[str, float, Any]]:
    config = fusion.get_config(options.config)
    dense = core.embedder.embed_query(query) if config.uses_dense else None
    sparse = core.bm25.encode_query(query) if config.uses_sparse else None
    request = IndexQuery(
        vector_store_ids=store_ids,
        dense=None if dense is None else dense.tolist(),
        sparse=sparse,
        filters=options.filters,
        limit=options.limit,
        prefetch_limit=config.candidates(options.limit),
        mode="hybrid",
        with_vectors=config.needs_vectors,
        with_payload=False,
    )
    dense_hits, sparse_hits = core.index.query_branches(request)
    return fusion.rank(
        config,
        dense_hits,
        sparse_hits,
        query_dense=dense,
        query_sparse=sparse,
        rerank=options.rerank,
        embedding_weight=options.embedding_weight,
        text_weight=options.text_weight,
        sparse_bound=fusion.bm25_bound(core.index, request) if sparse_hits else 0.0,
    )


def _live_results(core: Core, ranked: list[tuple[float, Any]]) -> list[Result]:
    """Keep hits whose store file still exists (a purge may still be on its way), with current attributes."""
    keys = {(p[STORE_KEY], p[FILE_KEY]) for _, p in ranked}
    if not keys:
        return []
    with core.db.session() as s:
        rows = s.execute(
            select(VectorStoreFile.vector_store_id, VectorStoreFile.file_id, VectorStoreFile.attributes).where(
                VectorStoreFile.vector_store_id.in_({k[0] for k in keys}),
                VectorStoreFile.file_id.in_({k[1] for k in keys}),
                VectorStoreFile.status == "completed",
            )
        )
        live = {(store_id, file_id): attributes or {} for store_id, file_id, attributes in rows}
    results = []
    for score, p in ranked:
        key = (p[STORE_KEY], p[FILE_KEY])
        if key in live:
            results.append(
                Result(
                    vector_store_id=key[0],
                    file_id=key[1],
                    filename=p.get("filename", ""),
                    score=round(float(min(1.0, max(0.0, score))), 6),
                    text=p[TEXT_KEY],
                    chunk_index=int(p.get("chunk_index", 0)),
                    page=p.get("page"),
                    page_end=page_end(p),
                    attributes=live[key],
                )
            )
    return results
