"""The fusion study behind `retrieval/fusion.py`: nDCG@10 of candidate fusions on each collection.

Whole documents (title + text, no chunking), the pinned embedding model (through the eval's embedding
cache), Qdrant's BM25 with the collection's real mean length, and BM25 scores computed exactly as
Qdrant's IDF modifier does, in numpy, so every variant sees the same candidates (top 100 per side).

    .venv/bin/python bench/fusion_research.py [../shared/eval/adi ...]
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from retrievd import assets
from retrievd.config import Settings
from retrievd.embedding import get_embedder
from retrievd.eval.baseline import bm25_run
from retrievd.eval.cache import CachedEmbedder, cache_path
from retrievd.eval.datasets import Dataset, load_dataset
from retrievd.eval.metrics import evaluate
from retrievd.index.sparse import Bm25Encoder

DEPTH = 100
SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"


class Collection:
    """Full score matrices (queries x documents) for both retrievers."""

    def __init__(self, dataset: Dataset, embedder: CachedEmbedder, bm25: Bm25Encoder) -> None:
        self.dataset = dataset
        texts = [doc.text or "" for doc in dataset.documents]
        queries = list(dataset.queries.values())
        self.docs = embedder.embed_documents(texts)
        self.queries = np.stack([embedder.embed_query(q) for q in queries])
        self.dense = self.queries @ self.docs.T
        vocab: dict[int, int] = {}
        rows = [_row(v, vocab) for v in bm25.encode_documents(texts, bm25.mean_length(texts))]
        qrows = [_row(bm25.encode_query(q), vocab) for q in queries]
        weights = np.zeros((len(rows), len(vocab)), np.float32)
        for i, row in enumerate(rows):
            weights[i, list(row)] = list(row.values())
        terms = np.zeros((len(qrows), len(vocab)), np.float32)
        for i, row in enumerate(qrows):
            terms[i, list(row)] = list(row.values())
        df = (weights > 0).sum(0)
        idf = np.log(1 + (len(rows) - df + 0.5) / (df + 0.5))  # Qdrant's IDF modifier
        self.bm25 = (terms * idf) @ weights.T
        self.term_bound = (terms * idf * weights.max(0)).sum(1)  # fusion.bm25_bound
        self.ideal_bound = (terms * idf).sum(1) * (bm25.k + 1)  # sum of idf * (k1 + 1)
        self.baseline = bm25_run([(d.id, d.text or "") for d in dataset.documents], dataset.queries, DEPTH)

    def ndcg(self, fused: Callable[[int], dict[int, float]]) -> float:
        ids = [doc.id for doc in self.dataset.documents]
        run = {}
        for j, query_id in enumerate(self.dataset.queries):
            scores = fused(j)
            run[query_id] = [ids[i] for i in sorted(scores, key=lambda i: -scores[i])[:DEPTH]]
        return evaluate(run, self.dataset.qrels)["ndcg@10"]

    def branches(self, j: int, dense: np.ndarray | None = None) -> tuple[dict[int, float], dict[int, float]]:
        dense = self.dense[j] if dense is None else dense
        top_dense = np.argsort(-dense, kind="stable")[:DEPTH]
        top_bm25 = [i for i in np.argsort(-self.bm25[j], kind="stable")[:DEPTH] if self.bm25[j, i] > 0]
        return {i: float(dense[i]) for i in top_dense}, {i: float(self.bm25[j, i]) for i in top_bm25}


def _row(vector, vocab: dict[int, int]) -> dict[int, float]:  # type: ignore[no-untyped-def]
    return {vocab.setdefault(t, len(vocab)): w for t, w in zip(vector.indices, vector.values)}


def convex(c: Collection, normalise: Callable[[Collection, int, dict[int, float], str], dict[int, float]]):  # type: ignore[no-untyped-def]
    def fused(j: int, query: np.ndarray | None = None) -> dict[int, float]:
        dense, sparse = c.branches(j, None if query is None else query @ c.docs.T)
        scores: dict[int, float] = {}
        for side, hits in (("dense", dense), ("bm25", sparse)):
            for i, s in normalise(c, j, hits, side).items():
                scores[i] = scores.get(i, 0.0) + 0.5 * s
        return scores

    return fused


def rrf(c: Collection, k: int = 60):  # type: ignore[no-untyped-def]
    def fused(j: int) -> dict[int, float]:
        scores: dict[int, float] = {}
        for hits in c.branches(j):
            for r, i in enumerate(sorted(hits, key=lambda i: -hits[i])):
                scores[i] = scores.get(i, 0.0) + 1 / (k + r + 1)
        return scores

    return fused


def calibrated(bound: str):  # type: ignore[no-untyped-def]
    def normalise(c: Collection, j: int, hits: dict[int, float], side: str) -> dict[int, float]:
        if side == "dense":
            return {i: max(0.0, s) for i, s in hits.items()}
        top = getattr(c, bound)[j] if bound != "top1" else max(hits.values(), default=0.0)
        return {i: s / top for i, s in hits.items()} if top > 0 else {}

    return normalise


def per_query(kind: str):  # type: ignore[no-untyped-def]
    def normalise(c: Collection, j: int, hits: dict[int, float], side: str) -> dict[int, float]:
        if not hits:
            return {}
        values = np.array(list(hits.values()))
        if kind == "minmax":
            low, span = values.min(), np.ptp(values) or 1.0
        else:  # z-score
            low, span = values.mean(), values.std() or 1.0
        return {i: (s - low) / span for i, s in hits.items()}

    return normalise


def mmr(c: Collection, lam: float = 0.85, head: int = 20):  # type: ignore[no-untyped-def]
    """Maximal marginal relevance over the default's top `head`: diversity against redundancy."""
    base = convex(c, calibrated("term_bound"))

    def fused(j: int) -> dict[int, float]:
        scores = base(j)
        order = sorted(scores, key=lambda i: -scores[i])
        pool, chosen = order[:head], []
        while pool:
            pick = max(pool, key=lambda i: lam * scores[i] - (1 - lam) * max((float(c.docs[i] @ c.docs[k]) for k in chosen), default=0.0))
            chosen.append(pick)
            pool.remove(pick)
        ranked = chosen + order[head:]
        return {i: float(len(ranked) - r) for r, i in enumerate(ranked)}

    return fused


def dense_feedback(c: Collection, beta: float = 0.5, k: int = 5):  # type: ignore[no-untyped-def]
    """Rocchio on the dense side: the query vector moved toward the default's top k, fused again."""
    base = convex(c, calibrated("term_bound"))

    def fused(j: int) -> dict[int, float]:
        scores = base(j)
        top = sorted(scores, key=lambda i: -scores[i])[:k]
        query = c.queries[j] + beta * c.docs[top].mean(0)
        return base(j, query / np.linalg.norm(query))

    return fused


VARIANTS = {
    "rrf k=60": rrf,
    "cc term-bound (default)": lambda c: convex(c, calibrated("term_bound")),
    "cc idf*(k1+1) bound": lambda c: convex(c, calibrated("ideal_bound")),
    "cc top-1 bm25": lambda c: convex(c, calibrated("top1")),
    "cc min-max": lambda c: convex(c, per_query("minmax")),
    "cc z-score": lambda c: convex(c, per_query("z")),
    "default + mmr": mmr,
    "default + dense feedback": dense_feedback,
}


def main(paths: list[Path]) -> None:
    settings = Settings()
    assets.configure_runtime(settings)
    embedder = CachedEmbedder(get_embedder(settings), cache_path(settings.models_dir, settings.embedding_model))
    columns = ["rank-bm25", "bm25", "dense", *VARIANTS]
    table: dict[str, list[float]] = {}
    for path in paths:
        c = Collection(load_dataset(path), embedder, Bm25Encoder())
        table[path.name] = [
            evaluate(c.baseline, c.dataset.qrels)["ndcg@10"],
            c.ndcg(lambda j, c=c: c.branches(j)[1]),
            c.ndcg(lambda j, c=c: c.branches(j)[0]),
            *(c.ndcg(variant(c)) for variant in VARIANTS.values()),
        ]
        print(path.name, " ".join(f"{v:.3f}" for v in table[path.name]), flush=True)
    print("\n| collection | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    means = [statistics.mean(row[i] for row in table.values()) for i in range(len(columns))]
    print("| **mean** | " + " | ".join(f"{v:.3f}" for v in means) + " |")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or sorted(p for p in SHARED.iterdir() if p.is_dir()))
