"""Cross-encoder reranking, through fastembed's TextCrossEncoder, for deployments that configure one.

A cross-encoder reads query and chunk together, which neither branch of the hybrid search does. None
of the pinned offline assets is one, so no configuration reranks by default; the cheap rerankers the
offline assets allow (MMR diversity, dense pseudo-relevance feedback) were measured and did not pay
(eval/README.md). A model is a fastembed name (downloaded into `cache_dir` where a hub is reachable)
or a local directory with `model.onnx`, `tokenizer.json` and `tokenizer_config.json`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Ranked = list[tuple[str, float, dict[str, Any]]]  # as retrieval.fusion


class CrossEncoderReranker:
    def __init__(
        self, model_name: str, *, model_dir: Path | None = None, cache_dir: Path | None = None, threads: int | None = None
    ) -> None:
        from fastembed.common.model_description import ModelSource
        from fastembed.rerank.cross_encoder import TextCrossEncoder

        if model_dir is not None and all(m["model"] != model_name for m in TextCrossEncoder.list_supported_models()):
            TextCrossEncoder.add_custom_model(model_name, sources=ModelSource(hf=model_name), model_file="model.onnx")
        self._model = TextCrossEncoder(
            model_name,
            cache_dir=str(cache_dir) if cache_dir else None,
            threads=threads,
            specific_model_path=str(model_dir) if model_dir else None,
        )

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """Relevance in [0, 1]: the sigmoid of the model's logit, the probability it was trained to give."""
        return [1 / (1 + math.exp(-logit)) for logit in self._model.rerank(query, list(texts))]

    def rerank(self, query: str, ranked: Ranked, head: int) -> Ranked:
        """The first `head` candidates, reordered and scored by the cross-encoder (the rest are dropped:
        their fusion scores are on another scale). `head` should be at least the results asked for."""
        top = ranked[:head]
        scores = self.scores(query, [payload.get("text", "") for _, _, payload in top])
        return sorted(((pid, s, payload) for (pid, _, payload), s in zip(top, scores)), key=lambda x: -x[1])
