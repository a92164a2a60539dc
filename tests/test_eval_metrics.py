"""The eval suite: metrics on hand-computed cases and against trec_eval (ir-measures / pytrec_eval), then
collections, reports, and `retrievd eval run` end to end through the real pipeline."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import ir_measures
import pytest
from ir_measures import AP, RR, R, nDCG

from retrievd.eval import metrics
from retrievd.eval.baseline import bm25_run
from retrievd.eval.datasets import load_dataset
from retrievd.eval.report import DatasetResult, suite_latency, suite_markdown, write_dataset

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


# --- collections, reports and the runner -------------------------------------------------------


def _beir(root: Path) -> Path:
    root.mkdir()
    docs = [
        ("d1", "Indexing", "Automatic indexing assigns subject terms to documents."),
        ("d2", "Citations", "Citation analysis measures how often papers cite each other."),
        ("d3", "Cooking", "A recipe for bread needs flour, water and yeast."),
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs))
    queries = [("q1", "automatic subject indexing"), ("q2", "how to bake bread"), ("q3", "unjudged query")]
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (root / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td3\t1\n")
    return root


def test_a_beir_collection_keeps_judged_queries_and_titles_its_documents(tmp_path: Path) -> None:
    dataset = load_dataset(_beir(tmp_path / "tiny"))
    assert dataset.name == "tiny" and not dataset.by_page
    assert list(dataset.queries) == ["q1", "q2"]
    assert dataset.qrels["q1"] == {"d1": 2, "d2": 1}
    assert dataset.documents[0].content == b"Indexing\n\nAutomatic indexing assigns subject terms to documents."
    assert dataset.documents[0].filename == "d1.txt"


def test_a_files_collection_judges_files_or_pages(tmp_path: Path) -> None:
    root = tmp_path / "files-collection"
    (root / "files").mkdir(parents=True)
    (root / "files" / "report.txt").write_text("Quarterly revenue grew.")
    question = {"id": "q1", "question": "How did revenue change?", "judgments": [{"file": "report.txt", "page": 2}]}
    (root / "questions.jsonl").write_text(json.dumps(question) + "\n")
    dataset = load_dataset(root)
    assert dataset.by_page and dataset.qrels == {"q1": {"report.txt#2": 1}}
    assert [(d.id, d.text) for d in dataset.documents] == [("report.txt", None)]  # the pipeline parses it
    question["judgments"].append({"file": "report.txt"})
    (root / "questions.jsonl").write_text(json.dumps(question) + "\n")
    with pytest.raises(ValueError):
        load_dataset(root)


def test_the_baseline_ranks_by_bm25_without_stop_words() -> None:
    run = bm25_run([("a", "the theory of the indexing"), ("b", "the the the of of cooking")], {"q": "the indexing"})
    assert run["q"][0] == "a"


def test_thresholds_pool_kept_results_over_queries() -> None:
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    run = {"q1": [("a", 0.9), ("x", 0.6), ("b", 0.4)], "q2": [("y", 0.2)]}
    levels = metrics.at_thresholds(run, qrels, (0.3, 0.5, 0.95))
    assert levels["0.3"] == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3), "kept": 1.5}
    assert levels["0.5"] == {"precision": 0.5, "recall": pytest.approx(1 / 3), "kept": 1.0}
    assert levels["0.95"] == {"precision": 1.0, "recall": 0.0, "kept": 0.0}  # nothing kept: nothing wrong kept


def test_percentile_interpolates_like_numpy() -> None:
    assert metrics.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)


def test_a_report_writes_the_json_the_tables_and_the_plots(tmp_path: Path) -> None:
    scores = {"q1": dict.fromkeys(metrics.METRICS, 1.0), "q2": dict.fromkeys(metrics.METRICS, 0.0)}
    levels = metrics.at_thresholds({"q1": [("a", 0.8)]}, {"q1": {"a": 1}})
    result = DatasetResult(
        "tiny",
        "hybrid-weighted",
        {"hybrid-weighted": scores, "bm25": scores},
        scores,
        latency_ms={"hybrid-weighted": [3.0, 5.0], "bm25": [1.0, 2.0]},
        thresholds={"hybrid-weighted": levels, "bm25": levels},
    )
    write_dataset(result, tmp_path, "retrievd eval run tiny --output out")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["default_config"] == "hybrid-weighted"
    assert data["configs"]["bm25"] == {**dict.fromkeys(metrics.METRICS, 0.5), "queries": 2, "p50_ms": 1.5}
    assert data["baseline_bm25"]["queries"] == 2
    assert data["thresholds"]["bm25"]["0.5"] == {"precision": 1.0, "recall": 1.0, "kept": 1.0}
    table = (tmp_path / "results.md").read_text()
    assert "retrievd eval run tiny --output out" in table
    assert "| **hybrid-weighted** (default) | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 | 2 | 4.0 |" in table
    for plot in ("metrics.png", "delta_ndcg.png", "latency.png"):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"


def test_a_suite_table_shows_latency_and_thresholds_beside_quality() -> None:
    scores = {"q1": dict.fromkeys(metrics.METRICS, 1.0)}
    levels = metrics.at_thresholds({"q1": [("a", 0.8)]}, {"q1": {"a": 1}})
    results = [
        DatasetResult(name, "hybrid-weighted", {"hybrid-weighted": scores}, scores, {"hybrid-weighted": [ms]}, {"hybrid-weighted": levels})
        for name, ms in (("one", 2.0), ("two", 4.0))
    ]
    table = suite_markdown(results, "retrievd eval run suite.yaml --output out")
    assert "| one | 2.0 |" in table and "| two | 4.0 |" in table
    assert "| one | 1.00 / 1.00 | 1.00 / 1.00 | 1.00 / 1.00 |" in table
    assert suite_latency(results) == {"hybrid-weighted": (3.0, 1.0)}


def test_eval_run_ingests_through_the_pipeline_and_searches_like_the_api(assets_ready: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from retrievd.eval.cli import eval_app

    out = tmp_path / "out"
    args = ["run", str(_beir(tmp_path / "tiny")), "--config", "bm25", "--config", "hybrid-weighted", "--output", str(out)]
    result = CliRunner().invoke(eval_app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert set(data["configs"]) == {"bm25", "hybrid-weighted"}
    # Each judged query finds its best document first.
    assert data["configs"]["hybrid-weighted"]["mrr@10"] == 1.0
    assert data["configs"]["hybrid-weighted"]["queries"] == 2
    assert data["configs"]["hybrid-weighted"]["p50_ms"] > 0
    assert set(data["thresholds"]["hybrid-weighted"]) == {"0.3", "0.5", "0.7"}
    assert (out / "latency.png").exists()
