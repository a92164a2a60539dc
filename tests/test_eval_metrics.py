"""The eval metrics on hand-computed cases, then against trec_eval (through ir-measures / pytrec_eval)."""

from __future__ import annotations

import math
import random

import ir_measures
import pytest
from ir_measures import AP, RR, R, nDCG

from retrievd.eval import metrics

# One query, graded: z is the best answer but is never retrieved, c is judged not relevant.
JUDGMENTS = {"a": 2, "b": 1, "c": 0, "z": 3}
RANKING = ["a", "c", "b", "d"]


def test_ndcg_uses_graded_gains_and_the_ideal_order_of_all_judged_documents() -> None:
    dcg = 2 / math.log2(2) + 0 + 1 / math.log2(4)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg(RANKING, JUDGMENTS, 10) == pytest.approx(dcg / ideal)


def test_ndcg_cut_off_truncates_both_the_ranking_and_the_ideal() -> None:
    assert metrics.ndcg(RANKING, JUDGMENTS, 1) == pytest.approx(2 / 3)


def test_recall_counts_relevant_documents_found_within_k() -> None:
    assert metrics.recall(RANKING, JUDGMENTS, 10) == pytest.approx(2 / 3)
    assert metrics.recall(RANKING, JUDGMENTS, 2) == pytest.approx(1 / 3)


def test_reciprocal_rank_is_that_of_the_first_relevant_document_within_k() -> None:
    assert metrics.reciprocal_rank(["c", "d", "b"], JUDGMENTS, 10) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["c", "d", "b"], JUDGMENTS, 2) == 0.0


def test_average_precision_divides_by_every_relevant_document_even_unretrieved_ones() -> None:
    assert metrics.average_precision(RANKING, JUDGMENTS, 100) == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_an_empty_ranking_scores_zero_everywhere() -> None:
    assert all(metric([], JUDGMENTS) == 0.0 for metric in metrics.METRICS.values())


def test_evaluate_averages_over_judged_queries_and_counts_missing_ones_as_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "unjudged": {"c": 0}}
    scores = metrics.evaluate({"q1": ["a"]}, qrels)
    assert scores["mrr@10"] == pytest.approx(0.5)
    assert set(scores) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"}


def _random_collection(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(40):
        judged = rng.sample(docs, rng.randint(1, 30))
        qrels[f"q{q}"] = {doc: rng.choice([0, 1, 1, 2, 3]) for doc in judged}
        qrels[f"q{q}"][judged[0]] = rng.randint(1, 3)
        run[f"q{q}"] = rng.sample(docs, rng.randint(0, 150))
    return qrels, run


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_trec_eval_per_query(seed: int) -> None:
    qrels, run = _random_collection(seed)
    # trec_eval ranks by score, so give strictly decreasing scores in our order.
    scored = {q: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for q, docs in run.items()}
    names = {nDCG @ 10: "ndcg@10", R @ 10: "recall@10", R @ 100: "recall@100", RR @ 10: "mrr@10", AP @ 100: "map@100"}
    ours = metrics.per_query(run, qrels)
    compared = 0
    for row in ir_measures.iter_calc(list(names), qrels, scored):
        assert ours[row.query_id][names[row.measure]] == pytest.approx(row.value, abs=1e-9)
        compared += 1
    # trec_eval leaves out queries with an empty ranking; ours counts them as zeros.
    assert compared == 5 * sum(bool(docs) for docs in run.values())
