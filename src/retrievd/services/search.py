"""The search endpoint's logic: check the stores, run the shared retriever, shape OpenAI's page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrievd.api import schemas
from retrievd.index.filters import parse_filter
from retrievd.retrieval.fusion import config_for_ranker
from retrievd.retrieval.search import Result, SearchOptions, search_chunks
from retrievd.services.vector_stores import VectorStoreService

if TYPE_CHECKING:
    from retrievd.core import Core


def options_from_request(req: schemas.SearchRequest) -> SearchOptions:
    ranking = req.ranking_options or schemas.RankingOptions()
    hybrid = ranking.hybrid_search
    filters = req.filters.model_dump() if req.filters is not None else None
    if filters is not None:
        parse_filter(filters)  # a bad filter is a 400 before any model work
    return SearchOptions(
        limit=req.max_num_results,
        filters=filters,
        score_threshold=ranking.score_threshold,
        rerank=ranking.ranker != "none",
        embedding_weight=hybrid.embedding_weight if hybrid else None,
        text_weight=hybrid.text_weight if hybrid else None,
        config=config_for_ranker(ranking.ranker),
    )


class SearchService:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.stores = VectorStoreService(core)

    def results(self, project_id: str, store_ids: list[str], queries: list[str], options: SearchOptions) -> list[Result]:
        """Search (used by the API and by the runtime's file_search tool); searching keeps stores alive."""
        for store_id in store_ids:
            self.stores.require_searchable(project_id, store_id)
        results = search_chunks(self.core, store_ids, queries, options)
        for store_id in store_ids:
            self.stores.touch(store_id)
        return results

    def search(self, project_id: str, store_ids: list[str], req: schemas.SearchRequest) -> schemas.SearchResultsPage:
        queries = [req.query] if isinstance(req.query, str) else [q for q in req.query if q.strip()]
        results = self.results(project_id, store_ids, queries, options_from_request(req))
        return schemas.SearchResultsPage(
            search_query=queries,
            data=[
                schemas.SearchResultItem(
                    file_id=r.file_id,
                    filename=r.filename,
                    score=r.score,
                    attributes=r.attributes,
                    content=[schemas.ChunkText(text=r.text, page=r.page, page_end=r.page_end)],
                )
                for r in results
            ],
        )
