"""Fusion of the dense and BM25 candidate lists into one ranking, with scores calibrated to [0, 1].

Every configuration the API and the eval suite know is defined here, in `CONFIGS`; `DEFAULT` is the
API's. The scores mean the same thing for every query and every configuration:

- dense: the cosine similarity of query and chunk, clipped at 0 (vectors are unit-length);
- BM25: the chunk's BM25 score over a bound, the sum over query terms of each term's best
  single-term BM25 score in the searched stores (`bm25_bound()`): 1.0 means the chunk matches every
  query term as well as any chunk matches that term. It shrinks as a query grows long and vague,
  which is when the dense side deserves more say;
- hybrid-weighted (the default): the convex combination of the two calibrated scores, equal weights
  (or `embedding_weight`/`text_weight` when a request gives them). A candidate one side did not
  return scores 0 on that side.

So a `score_threshold` keeps its meaning across queries and modes. Reciprocal-rank fusion is kept
as a configuration for comparison: its score (the RRF sum over its maximum) depends on ranks only.

Measured (nDCG@10, six collections of /work/shared/eval, see eval/README.md and eval/RESULTS.md):
equal-weight fusion of these calibrated scores beats the better of BM25 and dense on every
collection, where plain RRF falls below dense alone on some; per-query min-max or z-score
normalisation ranks as well but gives relative scores, and normalising BM25 by its own top hit
instead of the bound loses 4 points on CISI's long queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from retrievd.index.base import Hit, IndexQuery, Sparse

if TYPE_CHECKING:
    import numpy as np

    from retrievd.index.base import VectorIndex

Ranked = list[tuple[str, float, dict[str, Any]]]  # (point id, score in [0, 1], payload), best first


@dataclass(frozen=True)
class FusionConfig:
    name: str
    uses_dense: bool = True
    uses_sparse: bool = True
    fusion: Literal["weighted", "rrf"] = "weighted"
    rrf_k: int = 60
    needs_vectors: bool = False

    def candidates(self, limit: int) -> int:
        """Hits each branch prefetches: enough that fusion can promote a chunk one side ranks low."""
        return max(100, 2 * limit)


CONFIGS: dict[str, FusionConfig] = {
    c.name: c
    for c in (
        FusionConfig("bm25", uses_dense=False),
        FusionConfig("dense", uses_sparse=False),
        FusionConfig("hybrid-rrf", fusion="rrf"),
        FusionConfig("hybrid-weighted"),
    )
}
DEFAULT = "hybrid-weighted"


def get_config(name: str | None) -> FusionConfig:
    return CONFIGS[name or DEFAULT]


def config_for_ranker(ranker: str | None) -> str | None:
    """The configuration a `ranking_options.ranker` selects: one of CONFIGS by its name, or None (the
    default) for OpenAI's values (`auto`, `default-2024-11-15`, `none`; the Assistants API's
    `default_2024_08_21`), which promise the best pipeline: with no reranking stage (retrieval/rerank.py),
    that is the default fusion, and `none` costs no less."""
    return ranker if ranker in CONFIGS else None


def dense_score(cosine: float) -> float:
    return min(1.0, max(0.0, cosine))


def bm25_score(score: float, bound: float) -> float:
    return min(1.0, score / bound) if bound > 0 else 0.0


def bm25_bound(index: VectorIndex, request: IndexQuery) -> float:
    """The highest BM25 score any chunk of the request's stores could have: the sum of each query
    term's best single-term score (BM25 adds up per term). Store-wide, so a filter does not change
    a chunk's score."""
    if request.sparse is None:
        return 0.0
    return sum(index.best_term_scores(request.vector_store_ids, request.sparse))


def rank(
    config: FusionConfig,
    dense_hits: Sequence[Hit],
    sparse_hits: Sequence[Hit],
    *,
    sparse_bound: float | None = None,
    query_dense: np.ndarray | None = None,
    query_sparse: Sparse | None = None,
    rerank: bool = True,
    embedding_weight: float | None = None,
    text_weight: float | None = None,
) -> Ranked:
    """One ranking from the branches' raw hits (cosines and BM25 scores).

    `sparse_bound` should come from `bm25_bound()`; without it BM25 scores are relative to the best
    BM25 hit of this query, which ranks worse on long queries and is not comparable across queries.
    `query_dense`, `query_sparse` and `rerank` are the search path's inputs for a reranking stage;
    no configuration reranks (eval/README.md says why), so they are accepted and not used.
    """
    dense_hits = dense_hits if config.uses_dense else []
    sparse_hits = sparse_hits if config.uses_sparse else []
    bound = sparse_bound if sparse_bound is not None else max((h.score for h in sparse_hits), default=0.0)
    if config.fusion == "rrf":
        return _rrf(config.rrf_k, dense_hits, sparse_hits, embedding_weight, text_weight)
    dense_w, text_w = _weights(config, embedding_weight, text_weight)
    return fuse(
        [(h.id, dense_score(h.score), h.payload) for h in dense_hits],
        [(h.id, bm25_score(h.score, bound), h.payload) for h in sparse_hits],
        dense_weight=dense_w,
        sparse_weight=text_w,
    )


def fuse(
    dense: Sequence[tuple[str, float, dict[str, Any]]],
    sparse: Sequence[tuple[str, float, dict[str, Any]]],
    *,
    dense_weight: float = 0.5,
    sparse_weight: float = 0.5,
) -> Ranked:
    """Convex combination of calibrated scores; a candidate missing from one side scores 0 there."""
    total = dense_weight + sparse_weight
    scores: dict[str, float] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for hits, weight in ((dense, dense_weight), (sparse, sparse_weight)):
        for point_id, score, payload in hits:
            scores[point_id] = scores.get(point_id, 0.0) + weight / total * score
            payloads[point_id] = payload
    return sorted(((pid, s, payloads[pid]) for pid, s in scores.items()), key=lambda x: -x[1])


def _weights(config: FusionConfig, embedding_weight: float | None, text_weight: float | None) -> tuple[float, float]:
    """Equal weights unless a request sets them; a configuration's unused side weighs nothing."""
    dense_w = 0.0 if not config.uses_dense else (1.0 if embedding_weight is None else embedding_weight)
    text_w = 0.0 if not config.uses_sparse else (1.0 if text_weight is None else text_weight)
    if dense_w + text_w <= 0:
        raise ValueError("embedding_weight and text_weight cannot both be 0.")
    return dense_w, text_w


def _rrf(k: int, dense: Sequence[Hit], sparse: Sequence[Hit], embedding_weight: float | None, text_weight: float | None) -> Ranked:
    weights = (1.0 if embedding_weight is None else embedding_weight, 1.0 if text_weight is None else text_weight)
    branches = [(hits, w) for hits, w in zip((dense, sparse), weights) if hits and w > 0]
    scores: dict[str, float] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for hits, weight in branches:
        for r, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + r + 1)
            payloads[hit.id] = hit.payload
    top = sum(w for _, w in branches) / (k + 1)
    return sorted(((pid, s / top, payloads[pid]) for pid, s in scores.items()), key=lambda x: -x[1])
