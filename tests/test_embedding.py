"""The embedder: the pinned MiniLM int8 model through fastembed, and no silent truncation."""

from __future__ import annotations

import numpy as np
import pytest

from retrievd.config import Settings
from retrievd.embedding import PAD_SLACK, Embedder, get_embedder
from tests.conftest import DOCS

pytestmark = pytest.mark.usefixtures("assets_ready")

NORWICH = (DOCS / "norwich-city.txt").read_text()
WAR_AND_PEACE = (DOCS / "book-war-and-peace-1p.txt").read_text()


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder(Settings())


def test_the_default_model(embedder: Embedder) -> None:
    assert (embedder.model_name, embedder.dim, embedder.max_tokens) == ("retrievd/all-MiniLM-L6-v2-int8", 384, 256)
    assert get_embedder(Settings()) is embedder  # loaded once per process


def test_vectors_are_normalized_float32(embedder: Embedder) -> None:
    vectors = embedder.embed_documents(["The cat sat on the mat.", NORWICH[:500], ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_documents([]).shape == (0, 384)


def test_similar_texts_are_closer(embedder: Embedder) -> None:
    query = embedder.embed_query("Which football club did Iwan Roberts play for?")
    football, novel = embedder.embed_documents([NORWICH[:1000], WAR_AND_PEACE[:1000]])
    assert query @ football > query @ novel + 0.2


def test_a_text_embeds_the_same_alone_or_in_a_batch(embedder: Embedder) -> None:
    texts = ["short", NORWICH[:1000], WAR_AND_PEACE[:300], NORWICH[:3000]]  # mixed lengths, one over the window
    batch = embedder.embed_documents(texts)
    alone = np.stack([embedder.embed_documents([t])[0] for t in texts])
    assert np.allclose(batch, alone, atol=1e-5)
    assert np.allclose(embedder.embed_query(texts[1]), batch[1], atol=1e-5)  # MiniLM has no query prefix


def test_batches_pad_little_however_varied_the_lengths(embedder: Embedder) -> None:
    """fastembed pads a batch to its longest piece: a batch holds pieces within PAD_SLACK of its
    first, longest first, at most batch_size of them, and each piece exactly once."""
    weights = [250, 10, 240, 249, 12, 11, 100, 95, 91, 89, *[50] * 40]
    batches = embedder._batches(weights)
    assert sorted(i for b in batches for i in b) == list(range(len(weights)))
    for batch in batches:
        assert len(batch) <= embedder.batch_size
        assert all(PAD_SLACK * weights[batch[0]] <= weights[i] <= weights[batch[0]] for i in batch)
    assert [[weights[i] for i in b] for b in batches[:3]] == [[250, 249, 240], [100, 95, 91], [89]]


def test_count_tokens_is_the_models_own(embedder: Embedder) -> None:
    assert embedder.count_tokens("") == 2  # [CLS] [SEP]
    assert embedder.count_tokens("Norwich City") == 4
    assert embedder.count_tokens(NORWICH) > 10_000  # never truncated


def test_a_long_text_is_not_truncated(embedder: Embedder) -> None:
    """Beyond the window, the text is embedded in windows and averaged: its end still counts."""
    football = " ".join(NORWICH.split()[:400])
    novel = " ".join(WAR_AND_PEACE.split()[:400])
    assert embedder.count_tokens(football) > embedder.max_tokens
    both, football_alone, novel_alone = embedder.embed_documents([football + " " + novel, football, novel])
    # Truncated to its first 256 tokens, `both` would be football only and far from the novel.
    assert both @ novel_alone > 0.6 and both @ football_alone > 0.6
    assert football_alone @ novel_alone < 0.4


def test_a_word_longer_than_the_window(embedder: Embedder) -> None:
    [vector] = embedder.embed_documents(["x" * 5000 + " and then some words"])
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_deterministic(embedder: Embedder) -> None:
    assert np.array_equal(embedder.embed_documents([NORWICH[:1500]]), embedder.embed_documents([NORWICH[:1500]]))
