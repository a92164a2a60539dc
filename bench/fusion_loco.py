"""Fusion on the eval's real candidates: each collection ingested through the pipeline (chunked, as
`retrievd eval run` does), both branches' top 400 chunks kept per query, then fusions compared on
those same candidates, nDCG@10 by document (its best chunk). It also learns the convex weight
leave-one-collection-out: the weight that does best on the other collections, scored on this one.

    .venv/bin/python bench/fusion_loco.py [../shared/eval/adi ...]
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from retrievd.config import Settings
from retrievd.eval import runner
from retrievd.eval.datasets import Dataset, load_dataset, page_key
from retrievd.eval.metrics import evaluate
from retrievd.index.base import IndexQuery
from retrievd.retrieval import fusion

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
PREFETCH = 400  # what the eval's 200-chunk searches prefetch per branch
WEIGHTS = [round(0.3 + 0.05 * k, 2) for k in range(9)]  # BM25's share in the convex combination

Candidates = tuple[dict[str, float], dict[str, float]]  # calibrated dense and BM25 scores by chunk id


def candidates(dataset: Dataset) -> tuple[dict[str, Candidates], dict[str, str]]:
    """Per query the two branches' calibrated scores, as `fusion.rank` sees them; and each chunk's unit."""
    units: dict[str, str] = {}
    out = {}
    with runner._ingested(dataset, Settings()) as (core, _project, store_id, _units):
        for query_id, query in dataset.queries.items():
            request = IndexQuery(
                vector_store_ids=[store_id],
                dense=core.embedder.embed_query(query).tolist(),
                sparse=core.bm25.encode_query(query),
                limit=runner.CHUNKS,
                prefetch_limit=PREFETCH,
                mode="hybrid",
            )
            dense, sparse = core.index.query_branches(request)
            bound = fusion.bm25_bound(core.index, request) if sparse else 0.0
            for hit in [*dense, *sparse]:
                doc_id = hit.payload["attributes"][runner.DOC_ID]
                units[hit.id] = page_key(doc_id, hit.payload.get("page")) if dataset.by_page else doc_id
            out[query_id] = (
                {h.id: fusion.dense_score(h.score) for h in dense},
                {h.id: fusion.bm25_score(h.score, bound) for h in sparse},
            )
    return out, units


def convex(weight: float) -> Callable[[Candidates], dict[str, float]]:
    def fused(c: Candidates) -> dict[str, float]:
        dense, sparse = c
        return {i: (1 - weight) * dense.get(i, 0.0) + weight * sparse.get(i, 0.0) for i in dense.keys() | sparse.keys()}

    return fused


def rrf(c: Candidates, k: int = 60) -> dict[str, float]:
    scores: dict[str, float] = {}
    for side in c:
        for r, i in enumerate(sorted(side, key=lambda i: -side[i])):
            scores[i] = scores.get(i, 0.0) + 1 / (k + r + 1)
    return scores


def ndcg(dataset: Dataset, cands: dict[str, Candidates], units: dict[str, str], fused: Callable[[Candidates], dict[str, float]]) -> float:
    run = {}
    for query_id, c in cands.items():
        scores = fused(c)
        ranked = sorted(scores, key=lambda i: -scores[i])[: runner.CHUNKS]
        run[query_id] = list(dict.fromkeys(units[i] for i in ranked))[: runner.DEPTH]
    return evaluate(run, dataset.qrels)["ndcg@10"]


def main(paths: list[Path]) -> None:
    grid: dict[str, dict[float, float]] = {}
    fixed: dict[str, list[float]] = {}
    for path in paths:
        dataset = load_dataset(path)
        cands, units = candidates(dataset)
        grid[dataset.name] = {w: ndcg(dataset, cands, units, convex(w)) for w in WEIGHTS}
        fixed[dataset.name] = [
            ndcg(dataset, cands, units, lambda c: c[1]),
            ndcg(dataset, cands, units, lambda c: c[0]),
            ndcg(dataset, cands, units, rrf),
        ]
        print(dataset.name, " ".join(f"{w}:{v:.3f}" for w, v in grid[dataset.name].items()), flush=True)
    print("\n| collection | bm25 | dense | rrf | default (w .5) | LOCO weight | LOCO nDCG@10 |\n|---|---|---|---|---|---|---|")
    rows = []
    for name in grid:
        others = [m for m in grid if m != name] or [name]
        weight = max(WEIGHTS, key=lambda w: statistics.mean(grid[m][w] for m in others))
        rows.append([*fixed[name], grid[name][0.5], grid[name][weight]])
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in rows[-1][:4]) + f" | {weight} | {rows[-1][4]:.3f} |")
    means = [statistics.mean(r[i] for r in rows) for i in range(5)]
    print("| **mean** | " + " | ".join(f"{v:.3f}" for v in means[:4]) + f" | | {means[4]:.3f} |")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or sorted(p for p in SHARED.iterdir() if p.is_dir()))
