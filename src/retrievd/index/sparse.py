"""BM25 sparse vectors, built in-process by Qdrant's own BM25 (no model download).

Documents carry BM25 term weights (term frequency saturated by `k`, normalised by length
against `avg_len`); queries carry 1.0 per unique term; the collection's IDF modifier
multiplies in the inverse document frequency at search time. Together that is BM25.

`avg_len` must be the real mean document length in BM25 tokens (stopwords dropped,
stems counted): left at Qdrant's default of 256 it costs several points of nDCG@10 on
short-passage corpora. `token_lengths` gives the lengths to average.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from qdrant_edge import Bm25, Bm25Config, SparseVector

from retrievd.index.base import Sparse

# Qdrant server's BM25 text processing (English: lowercase, English stopwords, Snowball
# English stemmer), plus ASCII folding so "café" and "cafe" are one term.
LANGUAGE = "english"
ASCII_FOLDING = True

# A model that only counts: with b=0 a term's weight is tf*(k+1)/(tf+k), which we invert
# exactly; a huge k keeps the float32 weight precise for any realistic tf.
_COUNT_K = 1e6


@lru_cache(maxsize=16)
def _model(k: float, b: float, avg_len: float) -> Bm25:
    config = Bm25Config(k=k, b=b, avg_len=avg_len, language=LANGUAGE, lowercase=True, ascii_folding=ASCII_FOLDING)
    return Bm25(config)


def _sparse(vector: SparseVector) -> Sparse:
    return Sparse(indices=list(vector.indices), values=list(vector.values))


class Bm25Encoder:
    """Encodes texts the way Qdrant's BM25 does; `k` and `b` are BM25's usual parameters."""

    def __init__(self, *, k: float = 1.2, b: float = 0.75) -> None:
        self.k = k
        self.b = b

    def token_lengths(self, texts: Iterable[str]) -> list[int]:
        """Each text's length in BM25 tokens: what `avg_len` should be the mean of."""
        counter = _model(_COUNT_K, 0.0, 1.0)
        lengths = []
        for text in texts:
            weights = counter.embed_document(text).values
            lengths.append(round(sum(w * _COUNT_K / (_COUNT_K + 1 - w) for w in weights)))
        return lengths

    def mean_length(self, texts: Iterable[str]) -> float:
        """The mean BM25 length of `texts` (1.0 for none or all-empty, the smallest valid avg_len)."""
        lengths = self.token_lengths(texts)
        return max(sum(lengths) / len(lengths), 1.0) if lengths else 1.0

    def encode_documents(self, texts: Sequence[str], avg_len: float) -> list[Sparse]:
        model = _model(self.k, self.b, float(avg_len))
        return [_sparse(model.embed_document(text)) for text in texts]

    def encode_query(self, text: str) -> Sparse:
        """Unique query terms, weight 1.0 each (empty when the text is only stopwords)."""
        return _sparse(_model(self.k, self.b, 1.0).embed_query(text))
