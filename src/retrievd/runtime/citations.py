"""Citation markers in model text, and the annotations they become.

file_search results reach the model labelled with markers like 【3:0†handbook.pdf】 (the run's
fourth search, its first result), as OpenAI's models see them. A model cites a passage by writing
its marker. Assistants keep the marker in the message text and annotate its span
(`file_citation` with start/end index); Responses drop it and annotate the position (`index`).
Markers are found while the text streams: a piece that may be the start of a marker is held back
until it is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARKER = re.compile(r"【(\d+):(\d+)(?:†([^】]*))?】")
_OPEN = "【"
_LONGEST_MARKER = 300  # a held-back "【" without its close after this many characters is plain text


def marker(turn: int, index: int, filename: str) -> str:
    return f"【{turn}:{index}†{filename}】"


@dataclass(frozen=True)
class Source:
    file_id: str
    filename: str


@dataclass(frozen=True)
class Citation:
    source: Source
    marker: str
    start: int  # in the emitted text; for dropped markers start == end, the position they stood at
    end: int

    def assistants(self) -> dict:
        return {
            "type": "file_citation",
            "text": self.marker,
            "start_index": self.start,
            "end_index": self.end,
            "file_citation": {"file_id": self.source.file_id},
        }

    def responses(self) -> dict:
        return {
            "type": "file_citation",
            "file_id": self.source.file_id,
            "filename": self.source.filename,
            "index": self.start,
        }


@dataclass
class Piece:
    text: str
    citations: list[Citation] = field(default_factory=list)


class CitationStream:
    """Feed model text deltas; get back text safe to emit and the citations completed in it."""

    def __init__(self, sources: dict[tuple[int, int], Source], *, keep_markers: bool) -> None:
        self.sources = sources
        self.keep_markers = keep_markers
        self.text = ""
        self.citations: list[Citation] = []
        self._pending = ""

    def feed(self, delta: str) -> Piece:
        buffer = self._pending + delta
        cut = self._hold_back_from(buffer)
        self._pending = buffer[cut:]
        return self._emit(buffer[:cut])

    def flush(self) -> Piece:
        rest, self._pending = self._pending, ""
        return self._emit(rest)

    def _hold_back_from(self, buffer: str) -> int:
        start = buffer.rfind(_OPEN)
        if start != -1 and "】" not in buffer[start:] and len(buffer) - start < _LONGEST_MARKER:
            cut = start
        else:
            cut = len(buffer)
        if not self.keep_markers:
            # Whitespace before a dropped marker goes with it ("Road 【0:0】." -> "Road.").
            while cut > 0 and buffer[cut - 1] in " \t":
                cut -= 1
        return cut

    def _emit(self, chunk: str) -> Piece:
        piece = Piece("")
        pos = 0
        for m in MARKER.finditer(chunk):
            before = chunk[pos : m.start()]
            piece.text += before if self.keep_markers else before.rstrip(" \t")
            start = len(self.text) + len(piece.text)
            if self.keep_markers:
                piece.text += m.group(0)
            # A marker naming no result of this run is left as text (Assistants) or dropped (Responses).
            source = self.sources.get((int(m.group(1)), int(m.group(2))))
            if source is not None:
                piece.citations.append(Citation(source, m.group(0), start, len(self.text) + len(piece.text)))
            pos = m.end()
        piece.text += chunk[pos:]
        self.text += piece.text
        self.citations.extend(piece.citations)
        return piece
