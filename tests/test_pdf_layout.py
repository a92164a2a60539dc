"""pdfium's lines, grouped into the blocks pdfminer's layout analysis would make of them."""

from __future__ import annotations

from collections.abc import Iterator

import pypdfium2 as pdfium
import pytest

from retrievd.ingest.pdf_layout import Line, group_lines, page_blocks, page_lines
from tests.conftest import DOCS


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[pdfium.PdfPage]:
    name, number = request.param
    document = pdfium.PdfDocument(DOCS / name)
    try:
        yield document[number - 1]
    finally:
        document.close()


@pytest.mark.parametrize("page", [("DA-619p.pdf", 200)], indirect=True)
def test_titles_and_paragraphs_are_blocks_of_their_own(page: pdfium.PdfPage) -> None:
    blocks = [b.text for b in page_blocks(page)]

    assert blocks[:2] == [
        "Sundering",
        "In the legends of the Ash Warriors, nothing is more hallowed than Sundering, the battle mace of\n"
        "Luthias Dwarfson.",
    ]
    assert blocks[-1] == "23"  # the page number, alone at the foot of the page


@pytest.mark.parametrize("page", [("failure-after-repair.pdf", 6)], indirect=True)
def test_a_wide_gap_ends_a_line(page: pdfium.PdfPage) -> None:
    """pdfium reads the footer as one line, "4 Cancer Council"; the page number is a block apart."""
    footer = [b.text for b in page_blocks(page)][-2:]

    assert sorted(footer) == ["4", "Cancer Council"]


@pytest.mark.parametrize("page", [("layout-parser-paper-fast.pdf", 1)], indirect=True)
def test_characters_pdfium_leaves_out_of_its_text_do_not_shift_the_rest(page: pdfium.PdfPage) -> None:
    """Page 1 has a NUL character (a glyph with no Unicode value) after "Zejiang Shen"."""
    lines = [line.text for line in page_lines(page)]

    assert "), Ruochen Zhang" in lines and "\x00" not in "".join(lines)


@pytest.mark.parametrize("page", [("pdf-bad-color-space.pdf", 1)], indirect=True)
def test_line_height_is_the_em_even_when_the_text_matrix_scales_the_font(page: pdfium.PdfPage) -> None:
    """This PDF sets every font at size 1 and scales it by the text matrix (12 and 48 points)."""
    heights = {round(line.height) for line in page_lines(page)}

    assert {12, 48} <= heights


def test_lines_join_as_pdfminer_joins_them() -> None:
    def line(bottom: float, left: float = 72.0, right: float = 540.0, height: float = 12.0) -> Line:
        return Line("text", left, bottom, right, bottom + height)

    def joined(*lines: Line) -> bool:
        return len(group_lines(lines)) == 1

    assert joined(line(700), line(686))  # 2 points apart
    assert not joined(line(700), line(680))  # 8 points apart: more than half a line
    assert not joined(line(700), line(660, height=30))  # a font more than half as large again
    assert joined(line(700), line(686, left=90))  # indented, but aligned on the right
    assert not joined(line(700, right=300), line(686, left=90))  # aligned on neither side

