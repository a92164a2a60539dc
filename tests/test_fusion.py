"""Fusion and score calibration: what a score means, and how the configurations combine branches.

The bound test runs Qdrant Edge's real BM25 over real ADI abstracts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from retrievd.index.base import Hit, IndexPoint, IndexQuery
from retrievd.index.edge import EdgeIndex
from retrievd.index.sparse import Bm25Encoder
from retrievd.retrieval import fusion
from tests.conftest import SHARED

ADI = SHARED / "eval" / "adi"


def hits(*scored: tuple[str, float]) -> list[Hit]:
    return [Hit(id=point_id, score=score, payload={"text": point_id}) for point_id, score in scored]


def test_every_configuration_is_defined_once_and_the_default_is_one_of_them() -> None:
    assert set(fusion.CONFIGS) >= {"bm25", "dense", "hybrid-rrf", "hybrid-weighted"}
    assert fusion.get_config(None) is fusion.CONFIGS[fusion.DEFAULT]


def test_dense_scores_are_cosines_clipped_to_the_unit_interval() -> None:
    assert [fusion.dense_score(c) for c in (-0.3, 0.0, 0.42, 1.0000001)] == [0.0, 0.0, 0.42, 1.0]


def test_bm25_scores_are_fractions_of_the_bound() -> None:
    assert fusion.bm25_score(3.0, 12.0) == 0.25
    assert fusion.bm25_score(3.0, 0.0) == 0.0  # no query term occurs in the stores


def test_weighted_fusion_is_a_convex_combination_and_a_missing_side_counts_zero() -> None:
    ranked = fusion.rank(
        fusion.get_config("hybrid-weighted"),
        hits(("a", 0.8), ("b", 0.6)),
        hits(("b", 10.0), ("c", 5.0)),
        sparse_bound=20.0,
    )
    assert [(pid, round(score, 6)) for pid, score, _ in ranked] == [("b", 0.55), ("a", 0.4), ("c", 0.125)]


def test_request_weights_shift_the_balance() -> None:
    config = fusion.get_config("hybrid-weighted")
    dense, sparse = hits(("a", 0.8)), hits(("b", 20.0))
    text_heavy = fusion.rank(config, dense, sparse, sparse_bound=20.0, embedding_weight=1, text_weight=3)
    assert [(pid, s) for pid, s, _ in text_heavy] == [("b", 0.75), ("a", pytest.approx(0.2))]
    with pytest.raises(ValueError):
        fusion.rank(config, dense, sparse, sparse_bound=20.0, embedding_weight=0, text_weight=0)


def test_single_branch_configurations_ignore_the_other_branch() -> None:
    dense, sparse = hits(("a", 0.5)), hits(("b", 8.0))
    assert [(p, s) for p, s, _ in fusion.rank(fusion.get_config("dense"), dense, sparse, sparse_bound=10.0)] == [("a", 0.5)]
    assert [(p, s) for p, s, _ in fusion.rank(fusion.get_config("bm25"), dense, sparse, sparse_bound=10.0)] == [("b", 0.8)]


def test_without_a_bound_bm25_is_relative_to_the_best_hit() -> None:
    ranked = fusion.rank(fusion.get_config("bm25"), [], hits(("a", 8.0), ("b", 2.0)))
    assert [(p, s) for p, s, _ in ranked] == [("a", 1.0), ("b", 0.25)]


def test_rrf_scores_ranks_and_reaches_one_only_for_a_chunk_both_sides_rank_first() -> None:
    ranked = fusion.rank(fusion.get_config("hybrid-rrf"), hits(("a", 0.9), ("b", 0.1)), hits(("a", 3.0), ("c", 2.0)))
    assert ranked[0][:2] == ("a", pytest.approx(1.0))
    # b and c are each second on one side: equal scores, whatever their raw scores were.
    assert {p for p, _, _ in ranked[1:]} == {"b", "c"}
    assert ranked[1][1] == ranked[2][1] == pytest.approx(61 / 62 / 2)


def test_the_bound_is_the_sum_of_each_terms_best_single_term_score(tmp_path: Path) -> None:
    docs = [json.loads(line) for line in (ADI / "corpus.jsonl").read_text().splitlines()]
    texts = [d["title"] + "\n" + d["text"] for d in docs]
    bm25 = Bm25Encoder()
    sparse = bm25.encode_documents(texts, bm25.mean_length(texts))
    index = EdgeIndex(tmp_path / "index", dim=4)
    index.upsert(
        [IndexPoint("vs_1", f"file-{i}", 0, [1.0, 0.0, 0.0, 0.0], vector, {"text": text}) for i, (text, vector) in enumerate(zip(texts, sparse))]
    )
    query = bm25.encode_query("automatic indexing of technical documents")
    request = IndexQuery(vector_store_ids=["vs_1"], sparse=query, mode="sparse", limit=len(texts))
    bound = fusion.bm25_bound(index, request)
    singles = [
        index.query(IndexQuery(vector_store_ids=["vs_1"], sparse=type(query)([t], [1.0]), mode="sparse", limit=1))[0].score
        for t in query.indices
    ]
    assert bound == pytest.approx(sum(singles))
    scores = [hit.score for hit in index.query(request)]
    assert max(scores) < bound  # no abstract is the best match for every term at once
    assert all(0 < fusion.bm25_score(s, bound) < 1 for s in scores)
    index.close()


def _tiny_cross_encoder(path: Path) -> Path:
    """A real ONNX cross-encoder of three layers: word ids -> one learned weight each -> summed over the
    attended tokens. It rates a chunk by the words it contains ("bread" high, "tax" low)."""
    import onnx
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "bread", "tax", "recipe", "law", "how", "to", "bake"]
    vocab = {w: i for i, w in enumerate(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    path.mkdir()
    tokenizer.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64, "pad_token": "[PAD]"}))
    (path / "special_tokens_map.json").write_text(json.dumps({"pad_token": "[PAD]", "unk_token": "[UNK]"}))

    weights = [0.0] * len(words)
    weights[vocab["bread"]], weights[vocab["tax"]] = 3.0, -3.0
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["weights", "input_ids"], ["per_token"]),
            helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["per_token", "mask"], ["kept"]),
            helper.make_node("ReduceSum", ["kept", "axes"], ["logits"], keepdims=1),
        ],
        "tiny_cross_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])],
        [
            helper.make_tensor("weights", TensorProto.FLOAT, [len(words)], weights),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path / "model.onnx"))
    return path


def test_a_cross_encoder_loaded_through_fastembed_reorders_and_scores_the_head(tmp_path: Path) -> None:
    from retrievd.retrieval.rerank import CrossEncoderReranker

    reranker = CrossEncoderReranker("test/tiny-cross-encoder", model_dir=_tiny_cross_encoder(tmp_path / "model"), threads=1)
    ranked = [(pid, 0.9 - i / 10, {"text": text}) for i, (pid, text) in enumerate([("a", "tax law"), ("b", "bread recipe"), ("c", "bread")])]
    reranked = reranker.rerank("how to bake", ranked, head=2)
    assert [pid for pid, _, _ in reranked] == ["b", "a"]  # c was past the head
    assert [round(score, 4) for _, score, _ in reranked] == [round(1 / (1 + math.exp(-3)), 4), round(1 / (1 + math.exp(3)), 4)]


def test_every_ranker_the_api_takes_is_a_configuration_or_openais_default() -> None:
    from typing import get_args

    from retrievd.api.schemas import Ranker

    named = [r for r in get_args(Ranker) if fusion.config_for_ranker(r) is not None]
    assert sorted(named) == sorted(fusion.CONFIGS)
    assert {r for r in get_args(Ranker) if fusion.config_for_ranker(r) is None} == {"auto", "default-2024-11-15", "none"}
    assert fusion.config_for_ranker("default_2024_08_21") is None  # the Assistants API's name for it
