"""Dense embeddings through fastembed, without ever truncating a text silently.

The default model is the pinned all-MiniLM-L6-v2 int8 asset (see `assets.toml`), registered with
fastembed as a custom model and loaded from `Settings.models_dir`; any other fastembed model name
works too and lives in fastembed's cache under `models_dir/fastembed`.

A text longer than the model's window is split by the model's own tokenizer into windows at word
boundaries, and embedded as the token-weighted mean of its window embeddings, re-normalized: every
token counts, and a short trailing window does not weigh as much as a full one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Encoding, Tokenizer

from retrievd import assets
from retrievd.config import Settings
from retrievd.errors import AssetMissingError

if TYPE_CHECKING:
    from fastembed import TextEmbedding  # imported lazily: it takes half a second


# A piece under this share of its batch's longest starts a new batch (see `Embedder._batches`).
PAD_SLACK = 0.9


class Embedder:
    """One loaded embedding model. Thread-safe: onnxruntime sessions may run concurrently."""

    def __init__(self, model: TextEmbedding, *, model_name: str, dim: int, max_tokens: int, batch_size: int) -> None:
        self._model = model
        self.model_name = model_name
        self.dim = dim
        self.max_tokens = max_tokens  # the model window, special tokens included
        self.batch_size = batch_size
        # The model's own tokenizer, without truncation or padding, to count and to split.
        self._tokenizer = Tokenizer.from_str(model.model.tokenizer.to_str())
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._special_tokens = len(self._tokenizer.encode("").ids)  # [CLS] and [SEP] for BERT models

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, special tokens included (compare with `max_tokens`)."""
        return len(self._tokenizer.encode(text).ids)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dim), each row L2-normalized."""
        return self._embed(texts, query=False)

    def embed_query(self, text: str) -> np.ndarray:
        """float32 vector of shape (dim,), L2-normalized (with the model's query prefix, if it has one)."""
        return self._embed([text], query=True)[0]

    def _embed(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        pieces: list[str] = []
        owners: list[int] = []
        weights: list[int] = []
        for owner, (text, encoding) in enumerate(zip(texts, self._tokenizer.encode_batch(list(texts)))):
            for piece, tokens in self._windows(text, encoding):
                pieces.append(piece)
                owners.append(owner)
                weights.append(tokens)
        embed = self._model.query_embed if query else self._model.passage_embed
        vectors = np.empty((len(pieces), self.dim), dtype=np.float32)
        for batch in self._batches(weights):
            for i, vector in zip(batch, embed([pieces[i] for i in batch], batch_size=len(batch))):
                vectors[i] = vector
        if len(pieces) > len(texts):
            summed = np.zeros((len(texts), self.dim), dtype=np.float32)
            np.add.at(summed, owners, vectors * np.asarray(weights, dtype=np.float32)[:, None])
            vectors = summed
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _batches(self, weights: list[int]) -> list[list[int]]:
        """The pieces' indexes in model batches: longest first, and a batch ends at `batch_size` or
        where a piece is shorter than PAD_SLACK of the batch's first, because fastembed pads every
        piece to the batch's longest. So at most ~10% of a batch is padding, however few and varied
        the texts: a group of 80 small files embeds as fast per token as 2,000 sorted together."""
        batches: list[list[int]] = []
        for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
            batch = batches[-1] if batches else None
            if batch is None or len(batch) >= self.batch_size or weights[i] < PAD_SLACK * weights[batch[0]]:
                batches.append([i])
            else:
                batch.append(i)
        return batches

    def _windows(self, text: str, encoding: Encoding) -> list[tuple[str, int]]:
        """`text` itself if it fits, else pieces of it that each fit, cut between words.

        Each piece comes with its token count (without special tokens), the weight of its vector.
        """
        if len(encoding.ids) <= self.max_tokens:
            return [(text, max(len(encoding.ids) - self._special_tokens, 1))]
        content = [i for i, special in enumerate(encoding.special_tokens_mask) if not special]
        all_offsets, all_words = encoding.offsets, encoding.word_ids  # each access builds a new list
        offsets = [all_offsets[i] for i in content]
        words = [all_words[i] for i in content]
        budget = self.max_tokens - self._special_tokens
        pieces = []
        start = 0
        while start < len(content):
            end = min(start + budget, len(content))
            cut = end
            while start < cut < len(content) and words[cut] is not None and words[cut] == words[cut - 1]:
                cut -= 1  # back to the start of the word the window would cut in two
            end = cut if cut > start else end
            piece = text[offsets[start][0] : offsets[end - 1][1]]
            # A word longer than the window is cut inside; its halves may tokenize differently.
            pieces.extend(self._windows(piece, self._tokenizer.encode(piece)))
            start = end
        return pieces


_lock = threading.Lock()
_embedders: dict[tuple[str, Path, int, int], Embedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """The embedder `settings` name, loaded once per (model, threads) for the whole process.

    Raises AssetMissingError if the model is not installed. Call `assets.configure_runtime` first.
    """
    threads = settings.embedding_threads or os.cpu_count() or 1
    key = (settings.embedding_model, settings.models_dir, threads, settings.embed_batch_size)
    with _lock:
        if key not in _embedders:
            _embedders[key] = _load(settings, threads)
        return _embedders[key]


def _load(settings: Settings, threads: int) -> Embedder:
    from fastembed import TextEmbedding

    name, cache_dir = settings.embedding_model, str(assets.fastembed_cache(settings))
    asset = assets.embedding_asset(name)
    if asset is None:
        try:
            model = TextEmbedding(name, cache_dir=cache_dir, threads=threads)
        except Exception as error:  # fastembed raises several types for a model missing from its cache
            raise AssetMissingError(assets.missing_message(name, assets.fastembed_cache(settings))) from error
        window = model.model.tokenizer.truncation["max_length"]
        return Embedder(model, model_name=name, dim=model.embedding_size, max_tokens=window, batch_size=settings.embed_batch_size)

    spec = asset.embedding
    assert spec is not None
    _register(asset, spec)
    model_dir = assets.require(settings, asset.name)
    model = TextEmbedding(spec.model, specific_model_path=str(model_dir), cache_dir=cache_dir, threads=threads)
    # The tokenizer config says 512 (the position table); the model was trained on 256.
    model.model.tokenizer.enable_truncation(max_length=spec.max_tokens)
    return Embedder(model, model_name=name, dim=spec.dim, max_tokens=spec.max_tokens, batch_size=settings.embed_batch_size)


def _register(asset: assets.Asset, spec: assets.EmbeddingSpec) -> None:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    if any(m["model"] == spec.model for m in TextEmbedding.list_supported_models()):
        return
    TextEmbedding.add_custom_model(
        spec.model,
        pooling=PoolingType[spec.pooling],
        normalization=spec.normalize,
        sources=ModelSource(url=asset.canonical),  # never fetched: the files come from specific_model_path
        dim=spec.dim,
        model_file="model.onnx",
    )
