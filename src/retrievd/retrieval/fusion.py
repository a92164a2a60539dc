"""Fusion of the dense and BM25 candidate lists into one ranking with scores in [0, 1].

Contract used by `retrieval.search` (kept stable while the mechanism is tuned by the eval suite):
- `get_config(name | None) -> FusionConfig` (None = the API default), with `uses_dense`, `uses_sparse`,
  `needs_vectors` and `candidates(limit)` (how many hits each branch prefetches);
- `rank(config, dense_hits, sparse_hits, *, query_dense, query_sparse, rerank, embedding_weight,
  text_weight) -> list[(point_id, score, payload)]`, best first, scores calibrated to [0, 1].

Provisional mechanism: reciprocal-rank fusion normalised by its maximum. The eval work replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from retrievd.index.base import Hit, Sparse


@dataclass(frozen=True)
class FusionConfig:
    name: str
    uses_dense: bool = True
    uses_sparse: bool = True
    needs_vectors: bool = False
    rrf_k: int = 60

    def candidates(self, limit: int) -> int:
        return max(50, 2 * limit)


CONFIGS = {
    "bm25": FusionConfig("bm25", uses_dense=False),
    "dense": FusionConfig("dense", uses_sparse=False),
    "hybrid-rrf": FusionConfig("hybrid-rrf"),
}
DEFAULT = "hybrid-rrf"


def get_config(name: str | None) -> FusionConfig:
    return CONFIGS[name or DEFAULT]


def rank(
    config: FusionConfig,
    dense_hits: Sequence[Hit],
    sparse_hits: Sequence[Hit],
    *,
    query_dense: np.ndarray | None = None,
    query_sparse: Sparse | None = None,
    rerank: bool = True,
    embedding_weight: float | None = None,
    text_weight: float | None = None,
) -> list[tuple[str, float, dict[str, Any]]]:
    weights = [embedding_weight if embedding_weight is not None else 1.0, text_weight if text_weight is not None else 1.0]
    branches = [(dense_hits, weights[0]), (sparse_hits, weights[1])]
    branches = [(hits, w) for hits, w in branches if hits and w > 0]
    if not branches:
        return []
    scores: dict[str, float] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for hits, w in branches:
        for r, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + w / (config.rrf_k + r + 1)
            payloads[hit.id] = hit.payload
    top = sum(w for _, w in branches) / (config.rrf_k + 1)
    return sorted(((pid, s / top, payloads[pid]) for pid, s in scores.items()), key=lambda x: -x[1])
