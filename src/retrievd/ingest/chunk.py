"""Token chunking with tiktoken, OpenAI's `static` strategy, cut where the text allows.

The elements of a document become one token stream (elements joined by a blank line). A chunk
takes at most `max_tokens` of it; the cut goes at the best boundary in the last quarter of that
window: before a title, then between elements, then after a sentence, then between words, and
only if there is none of these, at the window's edge (never inside a UTF-8 character). The next
chunk starts up to `overlap_tokens` before the cut, at the earliest sentence (else word) boundary
in that span, so overlaps begin cleanly. The last chunk ends the document: no chunk is ever only
the overlap of the one before it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrievd.assets import tiktoken_encoding
from retrievd.ingest.types import Chunk, Element

if TYPE_CHECKING:
    import tiktoken

    from retrievd.embedding import Embedder

MIN_CHUNK_TOKENS = 100
MAX_CHUNK_TOKENS = 4096
ELEMENT_SEPARATOR = "\n\n"

# Boundary strengths, strongest first.
_BEFORE_TITLE, _ELEMENT, _SENTENCE, _WORD, _CHARACTER, _NONE = 5, 4, 3, 2, 1, 0
_SENTENCE_ENDS = (b".", b"!", b"?", b'."', b".'", b".)", "\u3002".encode())

# Model tokens per cl100k token allowed for, with margin; see auto_chunking.
_MODEL_TOKENS_PER_TIKTOKEN = 1.25


def chunk_elements(
    elements: Sequence[Element],
    *,
    max_tokens: int,
    overlap_tokens: int,
    encoding: str = "cl100k_base",
) -> list[Chunk]:
    """Chunks of at most `max_tokens` tiktoken tokens, overlapping by at most `overlap_tokens`.

    Deterministic. A chunk carries the pages of its first and last tokens (`page`, `page_end`) and
    the nearest title at or above its first.
    """
    if not MIN_CHUNK_TOKENS <= max_tokens <= MAX_CHUNK_TOKENS:
        raise ValueError(f"max_tokens must be between {MIN_CHUNK_TOKENS} and {MAX_CHUNK_TOKENS}, got {max_tokens}.")
    if not 0 <= overlap_tokens <= max_tokens // 2:
        raise ValueError(f"overlap_tokens must be between 0 and half of max_tokens, got {overlap_tokens}.")
    stream = _Stream.build(elements, encoding)
    chunks: list[Chunk] = []
    start = 0
    while start < len(stream.tokens):
        end = stream.cut(start, max_tokens)
        text = stream.text(start, end)
        if text:
            first = stream.origin(start + stream.leading_space(start, end))
            last = stream.origin(end - 1 - stream.trailing_space(start, end))
            token_count = len(stream.encoding.encode_ordinary(text))
            chunks.append(Chunk(len(chunks), text, token_count, first.page, first.section, last.page))
        if end == len(stream.tokens):
            break
        start = stream.restart(start, end, overlap_tokens)
    return chunks


def auto_chunking(embedder: Embedder) -> tuple[int, int]:
    """(max_tokens, overlap_tokens) of the `auto` strategy: chunks the embedder takes whole.

    Chunks are counted in cl100k tokens, the model in its own word pieces, which drop the
    whitespace cl100k spends tokens on. Measured by `bench/embedding.py --ratio` on 391 chunks of
    seven English documents in /work/shared/docs (prose, a 10-K, a manual, papers): 0.95 word pieces
    per cl100k token (median), 1.15 at the 99th percentile and 1.17 at most, except one PDF whose
    table-of-contents dot leaders reach 5.2 (one cl100k token for many dots, one word piece per dot).
    Allowing 1.25, MiniLM's 256-token window (254 without [CLS]/[SEP]) gives 200-token chunks (rounded
    down to tens); no prose chunk of 220 overflowed, 7 in 80 of 240 did. The overlap is a quarter,
    a third more embedding than none, where OpenAI's half would double it. A chunk that still
    overflows (dot leaders, dense symbols, other scripts) is embedded in windows, never cut.
    """
    content = embedder.max_tokens - embedder.count_tokens("")
    size = int(content / _MODEL_TOKENS_PER_TIKTOKEN) // 10 * 10
    size = max(MIN_CHUNK_TOKENS, min(MAX_CHUNK_TOKENS, size))
    return size, size // 4


@dataclass(frozen=True)
class _Origin:
    """What a chunk takes from the element its first token belongs to."""

    page: int | None
    section: str | None
    category: str


@dataclass
class _Stream:
    """The document as one token stream, with what each token belongs to."""

    encoding: tiktoken.Encoding
    tokens: list[int]
    token_bytes: list[bytes]
    starts: list[int]  # stream offset of each element's first token
    origins: list[_Origin]  # one per element

    @classmethod
    def build(cls, elements: Sequence[Element], encoding: str) -> _Stream:
        enc = tiktoken_encoding(encoding)
        kept = [(e, e.text.strip()) for e in elements if e.text.strip()]
        encoded = [enc.encode_ordinary(text) for _, text in kept]  # the _batch variant costs a thread task each
        separator = enc.encode_ordinary(ELEMENT_SEPARATOR)
        tokens: list[int] = []
        starts: list[int] = []
        origins: list[_Origin] = []
        title: str | None = None
        for (element, text), element_tokens in zip(kept, encoded):
            if tokens:
                tokens.extend(separator)
            starts.append(len(tokens))
            tokens.extend(element_tokens)
            if element.category == "Title":
                title = text
            origins.append(_Origin(element.page, _section(element, text, title), element.category))
        return cls(enc, tokens, enc.decode_tokens_bytes(tokens), starts, origins)

    def text(self, start: int, end: int) -> str:
        return b"".join(self.token_bytes[start:end]).decode("utf-8", errors="replace").strip()

    def origin(self, position: int) -> _Origin:
        return self.origins[max(bisect_right(self.starts, position) - 1, 0)]

    def leading_space(self, start: int, end: int) -> int:
        """How many tokens at `start` are only whitespace (the page is that of the first real one)."""
        skip = 0
        while start + skip < end - 1 and not self.token_bytes[start + skip].strip():
            skip += 1
        return skip

    def trailing_space(self, start: int, end: int) -> int:
        """How many tokens before `end` are only whitespace (the last page is that of the last real one)."""
        skip = 0
        while end - 1 - skip > start and not self.token_bytes[end - 1 - skip].strip():
            skip += 1
        return skip

    def cut(self, start: int, max_tokens: int) -> int:
        """Where the chunk starting at `start` ends (exclusive)."""
        limit = start + max_tokens
        if limit >= len(self.tokens):
            return len(self.tokens)
        best, best_strength = limit, self.boundary(limit)
        for position in range(limit - 1, limit - max_tokens // 4, -1):  # latest first: fuller chunks win ties
            strength = self.boundary(position)
            if strength > best_strength:
                best, best_strength = position, strength
        if best_strength == _NONE:  # no character boundary anywhere near: a run of invalid bytes
            return limit
        return best

    def restart(self, start: int, end: int, overlap_tokens: int) -> int:
        """Where the chunk after [start, end) starts: up to `overlap_tokens` back, cleanly if possible."""
        earliest = max(end - overlap_tokens, start + 1)
        for wanted in (_SENTENCE, _WORD, _CHARACTER):
            for position in range(earliest, end):  # earliest first: the most overlap asked for
                if self.boundary(position) >= wanted:
                    return position
        return end

    def boundary(self, position: int) -> int:
        """How good a place to cut between token position-1 and token position is."""
        index = bisect_right(self.starts, position) - 1
        if self.starts[index] == position:
            return _BEFORE_TITLE if self.origins[index].category == "Title" else _ELEMENT
        following = self.token_bytes[position]
        if following[:1] and 0x80 <= following[0] < 0xC0:  # inside a multi-byte character
            return _NONE
        before = self.token_bytes[position - 1]
        if b"\n" in before or (following[:1].isspace() and before.rstrip().endswith(_SENTENCE_ENDS)):
            return _SENTENCE
        if following[:1].isspace() or before[-1:].isspace():
            return _WORD
        return _CHARACTER


def _section(element: Element, text: str, last_title: str | None) -> str | None:
    """A title is its own section; anything else keeps the parser's section, else the last title seen."""
    if element.category == "Title":
        return text
    return element.section or last_title
