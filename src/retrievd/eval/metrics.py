"""Ranking metrics by their standard (trec_eval) definitions.

A ranking is a list of distinct document ids, best first. Judgments map a document id to its
graded relevance; a grade above 0 is relevant. Gains for nDCG are the grades themselves (linear),
as in trec_eval's `ndcg_cut`, so graded collections such as Cranfield count a "complete answer"
more than "background". Each function scores one query; `evaluate` averages over the judged queries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

Judgments = Mapping[str, int]  # document id -> grade
Qrels = Mapping[str, Judgments]  # query id -> judgments
Run = Mapping[str, Sequence[str]]  # query id -> ranked document ids


def ndcg(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """Discounted cumulative gain of the top k over that of the ideal top k."""
    dcg = sum(judgments.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted((grade for grade in judgments.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = _relevant(judgments)
    return sum(doc in relevant for doc in ranking[:k]) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """1 / rank of the first relevant document in the top k, 0 when there is none."""
    return next((1 / (rank + 1) for rank, doc in enumerate(ranking[:k]) if judgments.get(doc, 0) > 0), 0.0)


def average_precision(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """Mean of precision at the rank of each relevant document; relevant ones not in the top k count 0."""
    relevant = _relevant(judgments)
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranking[:k]):
        if doc in relevant:
            hits += 1
            total += hits / (rank + 1)
    return total / len(relevant)


def _relevant(judgments: Judgments) -> set[str]:
    return {doc for doc, grade in judgments.items() if grade > 0}


Metric = Callable[[Sequence[str], Judgments], float]

# The metrics every eval reports, by the names results.json uses.
METRICS: dict[str, Metric] = {
    "ndcg@10": lambda ranking, judgments: ndcg(ranking, judgments, 10),
    "recall@10": lambda ranking, judgments: recall(ranking, judgments, 10),
    "recall@100": lambda ranking, judgments: recall(ranking, judgments, 100),
    "mrr@10": lambda ranking, judgments: reciprocal_rank(ranking, judgments, 10),
    "map@100": lambda ranking, judgments: average_precision(ranking, judgments, 100),
}


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """Every metric for every judged query; a query missing from the run scores 0."""
    return {
        query: {name: metric(run.get(query, ()), judgments) for name, metric in METRICS.items()}
        for query, judgments in qrels.items()
        if _relevant(judgments)
    }


def mean(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Average of each metric over queries (the macro average trec_eval reports)."""
    if not scores:
        return dict.fromkeys(METRICS, 0.0)
    return {name: sum(query[name] for query in scores.values()) / len(scores) for name in METRICS}


def evaluate(run: Run, qrels: Qrels) -> dict[str, float]:
    return mean(per_query(run, qrels))


ScoredRun = Mapping[str, Sequence[tuple[str, float]]]  # query id -> (document id, score), best first
THRESHOLDS = (0.3, 0.5, 0.7)  # the score_threshold values every eval reports


def at_thresholds(run: ScoredRun, qrels: Qrels, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, dict[str, float]]:
    """What a `score_threshold` keeps, over all judged queries pooled (micro-averaged, so a query
    that keeps nothing does not count as a precision of 0 or 1): precision, the share of kept
    results that are relevant; recall, the share of all relevant documents kept; kept, results per query."""
    judged = {query: _relevant(judgments) for query, judgments in qrels.items() if _relevant(judgments)}
    total_relevant = sum(len(relevant) for relevant in judged.values())
    out = {}
    for t in thresholds:
        kept = hits = 0
        for query, relevant in judged.items():
            docs = [doc for doc, score in run.get(query, ()) if score >= t]
            kept += len(docs)
            hits += sum(doc in relevant for doc in docs)
        out[f"{t:g}"] = {
            "precision": hits / kept if kept else 1.0,
            "recall": hits / total_relevant if total_relevant else 0.0,
            "kept": kept / len(judged) if judged else 0.0,
        }
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
