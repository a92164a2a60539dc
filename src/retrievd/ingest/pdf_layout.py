"""A PDF page's text blocks, read by pdfium and grouped as pdfminer's layout analysis groups them.

unstructured's fast strategy reads PDFs with pdfminer, pure Python: on a 2-core machine it parsed a
619-page PDF in 41 s, two thirds of the 59 s that embedding all of its chunks took. pdfium (C++,
the engine of Chrome's PDF viewer) reads the same text in about a second. This module gives
unstructured what it classifies, pdfminer's text boxes, from pdfium's lines: consecutive lines form
one block when they are as close, as tall and as aligned as pdfminer's `LAParams(line_margin=0.5)`
requires. On that PDF the words are pdfminer's (309,858 of 309,859) and so, nearly, are the
elements (9,950 against 10,054); `tests/test_pdf_layout.py` checks a page's blocks.

Runs only in the parser's child process (see `_parse_worker`), under its time and memory limits.
"""

from __future__ import annotations

import bisect
import ctypes
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

LINE_MARGIN = 0.5  # pdfminer's default: lines closer than half their height belong together
CHAR_MARGIN = 1.0  # ems of blank space that end a line (pdfminer: twice a character's width)
DESCENT = 0.2  # of the em, below the baseline: where pdfminer's boxes start for most fonts
_LINE_BREAKS = {"\r", "\n"}


@dataclass(frozen=True)
class Line:
    """One line of text, its horizontal extent, and its em box (pdfminer's character box)."""

    text: str
    left: float
    bottom: float
    right: float
    top: float

    @property
    def height(self) -> float:
        return self.top - self.bottom


@dataclass(frozen=True)
class Block:
    """Lines that belong together; its box is in PDF points, origin bottom-left."""

    lines: tuple[Line, ...]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top), as pdfminer's `bbox`."""
        return (
            min(line.left for line in self.lines),
            min(line.bottom for line in self.lines),
            max(line.right for line in self.lines),
            max(line.top for line in self.lines),
        )


def page_blocks(page: pdfium.PdfPage, form: pdfium_c.FPDF_FORMHANDLE | None = None) -> list[Block]:
    """The page's text blocks, then the values of its filled form fields (`form`: the document's
    form environment, from `PdfDocument.init_forms`)."""
    return group_lines(page_lines(page)) + (form_field_blocks(page, form) if form else [])


def group_lines(lines: Iterable[Line]) -> list[Block]:
    """Consecutive lines that `_belong_together`, as blocks."""
    blocks: list[list[Line]] = []
    for line in lines:
        if blocks and _belong_together(blocks[-1][-1], line):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return [Block(tuple(lines)) for lines in blocks]


def page_lines(page: pdfium.PdfPage) -> list[Line]:
    """The page's lines in pdfium's reading order (it breaks lines where the text moves down)."""
    textpage = page.get_textpage()
    try:
        handle = textpage.raw
        # Character by character: pdfium's whole-page text drops some (NUL), and then text offsets
        # no longer are character indices.
        codes = [pdfium_c.FPDFText_GetUnicode(handle, i) for i in range(textpage.count_chars())]
        try:
            chars = "".join(map(chr, codes))
        except ValueError:  # a value past Unicode's last code point
            chars = "".join(chr(c) if c <= 0x10FFFF else "\ufffd" for c in codes)
        return [line for start, end in _line_spans(chars) for line in _lines(textpage, chars, start, end)]
    finally:
        textpage.close()


def _line_spans(chars: str) -> Iterator[tuple[int, int]]:
    """(start, end) character indices of each line with visible text, leading spaces excluded."""
    start = 0
    for end in [*(i for i, c in enumerate(chars) if c in _LINE_BREAKS), len(chars)]:
        text = chars[start:end]
        if text.replace("\x00", "").strip():
            yield start + len(text) - len(text.lstrip()), end
        start = end + 1


def _lines(textpage: pdfium.PdfTextPage, chars: str, start: int, end: int) -> list[Line]:
    """pdfium's line, cut where its text jumps across more than `CHAR_MARGIN` ems (a page number
    beside a footer, table cells): pdfminer's lines end there too."""
    handle = textpage.raw
    rects = sorted(textpage.get_rect(i) for i in range(textpage.count_rects(start, end - start)))
    # The em of the first character: its font size times the text matrix's vertical scale (many
    # PDFs set size 1 and scale the matrix).
    matrix = pdfium_c.FS_MATRIX()
    pdfium_c.FPDFText_GetMatrix(handle, start, ctypes.byref(matrix))
    em = pdfium_c.FPDFText_GetFontSize(handle, start) * math.hypot(matrix.c, matrix.d)
    if em > 0:
        x, y = ctypes.c_double(), ctypes.c_double()
        pdfium_c.FPDFText_GetCharOrigin(handle, start, ctypes.byref(x), ctypes.byref(y))
        bottom, top = y.value - DESCENT * em, y.value + (1 - DESCENT) * em
    else:  # no font size: the glyphs' own boxes
        bottom = min((r[1] for r in rects), default=0.0)
        top = max((r[3] for r in rects), default=0.0)
    spans: list[list[float]] = []  # [left, right] of each part of the line
    for left, _, right, _ in rects:
        if spans and left - spans[-1][1] <= CHAR_MARGIN * max(em, top - bottom):
            spans[-1][1] = max(spans[-1][1], right)
        else:
            spans.append([left, right])
    if len(spans) <= 1:
        left, right = spans[0] if spans else (0.0, 0.0)
        return [Line(_clean(chars[start:end]), left, bottom, right, top)]
    parts: list[list[str]] = [[] for _ in spans]
    starts = [left for left, _ in spans]
    left_, right_, bottom_, top_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    for i in range(start, end):
        pdfium_c.FPDFText_GetCharBox(
            handle, i, ctypes.byref(left_), ctypes.byref(right_), ctypes.byref(bottom_), ctypes.byref(top_)
        )
        parts[max(0, bisect.bisect_right(starts, (left_.value + right_.value) / 2) - 1)].append(chars[i])
    texts = [_clean("".join(part)).strip() for part in parts]
    return [Line(text, left, bottom, right, top) for text, (left, right) in zip(texts, spans, strict=True) if text]


_VALUED_FIELDS = {
    pdfium_c.FPDF_FORMFIELD_TEXTFIELD,
    pdfium_c.FPDF_FORMFIELD_COMBOBOX,
    pdfium_c.FPDF_FORMFIELD_LISTBOX,
}


def form_field_blocks(page: pdfium.PdfPage, form: pdfium_c.FPDF_FORMHANDLE) -> list[Block]:
    """What was typed or chosen in the page's text and choice fields: those values live in widget
    annotations, not in the page's text (unstructured's pdfminer path reads them the same way)."""
    blocks = []
    for i in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annotation = pdfium_c.FPDFPage_GetAnnot(page.raw, i)
        try:
            if (
                pdfium_c.FPDFAnnot_GetSubtype(annotation) != pdfium_c.FPDF_ANNOT_WIDGET
                or pdfium_c.FPDFAnnot_GetFormFieldType(form, annotation) not in _VALUED_FIELDS
            ):
                continue
            size = pdfium_c.FPDFAnnot_GetFormFieldValue(form, annotation, None, 0)  # bytes, UTF-16LE + NUL
            value = ctypes.create_string_buffer(size)
            pdfium_c.FPDFAnnot_GetFormFieldValue(
                form, annotation, ctypes.cast(value, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size
            )
            text = _clean(value.raw[: max(size - 2, 0)].decode("utf-16-le", "replace")).strip()
            rect = pdfium_c.FS_RECTF()
            if text and pdfium_c.FPDFAnnot_GetRect(annotation, ctypes.byref(rect)):
                bottom, top = sorted((rect.bottom, rect.top))
                blocks.append(Block((Line(text, min(rect.left, rect.right), bottom, max(rect.left, rect.right), top),)))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annotation)
    return blocks


def _clean(text: str) -> str:
    """Without NULs, and with surrogate pairs that pdfium hands over as two characters joined."""
    text = text.replace("\x00", "").replace("\x02", "-")  # \x02: a hyphen where pdfium joined two lines
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").rstrip()


def _belong_together(above: Line, below: Line) -> bool:
    """pdfminer's rule for neighbouring lines: near each other vertically, of about the same height,
    and aligned on the left, the right or the centre, each within `LINE_MARGIN` of a line height."""
    tolerance = LINE_MARGIN * max(above.height, below.height)
    return (
        -tolerance <= above.bottom - below.top <= tolerance
        and abs(above.height - below.height) <= tolerance
        and (
            abs(above.left - below.left) <= tolerance
            or abs(above.right - below.right) <= tolerance
            or abs((above.left + above.right) - (below.left + below.right)) / 2 <= tolerance
        )
    )
