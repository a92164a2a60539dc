"""Scanned documents and images are read by OCR, page by page, as searchable as born-digital ones.

Every scan here is made by the test: pages of ../shared/docs rendered with pdfium at 200 dpi and saved
as image-only PDFs and as PNG, JPEG, TIFF and WebP files, one of them turned sideways and one faint.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from retrievd.ingest.parse import parse_file
from retrievd.ingest.types import Element, FileRejected
from tests.conftest import DOCS, Server, start_server, wait_for_store
from tests.test_hostile_files import png_bomb

PAPER = DOCS / "layout-parser-paper-fast.pdf"
PHRASES = {1: "A Unified Toolkit for Deep Learning", 2: "large-scale document digitization projects"}
_WORDS = re.compile(r"[a-z0-9]+")


def render(source: Path, index: int, dpi: int = 200) -> Image.Image:
    document = pdfium.PdfDocument(source)
    try:
        return document[index].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        document.close()


def scanned_pdf(path: Path, images: list[Image.Image]) -> Path:
    """An image-only PDF: one image per page, no text layer."""
    images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return path


def visible_text(source: Path, index: int) -> str:
    document = pdfium.PdfDocument(source)
    try:
        page = document[index]
        return page.get_textpage().get_text_bounded(*page.get_cropbox())
    finally:
        document.close()


def word_recall(reference: str, read: str) -> float:
    """The share of the reference's words (any order) that were read."""
    expected = collections.Counter(_WORDS.findall(reference.lower()))
    found = collections.Counter(_WORDS.findall(read.lower()))
    return sum((expected & found).values()) / sum(expected.values())


def text_of(elements: list[Element], page: int) -> str:
    return " ".join(e.text for e in elements if e.page == page)


def has(elements: list[Element], phrase: str) -> set[int | None]:
    """The pages whose text holds the phrase (whitespace and line breaks aside)."""
    wanted = " ".join(phrase.split())
    return {page for page in {e.page for e in elements} if wanted in " ".join(text_of(elements, page).split())}


@pytest.fixture(scope="module")
def pages() -> list[Image.Image]:
    return [render(PAPER, 0), render(PAPER, 1)]


def test_a_scanned_pdf_reads_like_its_text_layer(tmp_path: Path, pages: list[Image.Image]) -> None:
    elements = parse_file(scanned_pdf(tmp_path / "scan.pdf", pages), "scan.pdf")

    for number, phrase in PHRASES.items():
        assert has(elements, phrase) == {number}
        assert word_recall(visible_text(PAPER, number - 1), text_of(elements, number)) >= 0.95


def test_a_scanned_table_of_contents_is_read_past_its_dot_leaders(tmp_path: Path) -> None:
    contents = DOCS / "DA-619p.pdf"  # page 1: two columns of entries with dot leaders to their page numbers
    elements = parse_file(scanned_pdf(tmp_path / "contents.pdf", [render(contents, 0)]), "contents.pdf")

    assert word_recall(visible_text(contents, 0), text_of(elements, 1)) >= 0.95


def test_erasing_dot_leaders_leaves_a_page_of_prose_as_it_is(pages: list[Image.Image]) -> None:
    from retrievd.ingest import ocr

    for page in pages:
        prepared = ocr._prepared(page)
        assert ocr._without_leaders(prepared).tobytes() == prepared.tobytes()


def test_a_sideways_page_and_a_faint_page_are_read(tmp_path: Path, pages: list[Image.Image]) -> None:
    sideways = pages[0].rotate(90, expand=True)
    faint = pages[1].point(lambda value: 170 + value * 40 // 255)  # grey text on a light grey page
    elements = parse_file(scanned_pdf(tmp_path / "turned.pdf", [sideways, faint]), "turned.pdf")

    assert has(elements, PHRASES[1]) == {1}
    assert has(elements, PHRASES[2]) == {2}


def test_a_mixed_pdf_reads_only_its_scanned_pages_by_ocr(tmp_path: Path, pages: list[Image.Image]) -> None:
    scan = pdfium.PdfDocument(scanned_pdf(tmp_path / "scan.pdf", pages))
    mixed = pdfium.PdfDocument.new()
    mixed.import_pages(pdfium.PdfDocument(PAPER), [0])
    mixed.import_pages(scan, [1])
    mixed.save(tmp_path / "mixed.pdf")

    elements = parse_file(tmp_path / "mixed.pdf", "mixed.pdf")

    born_digital = [e for e in parse_file(PAPER, "paper.pdf") if e.page == 1]
    assert [e for e in elements if e.page == 1] == born_digital  # pdfium's text, untouched
    assert has(elements, PHRASES[2]) == {2}


@pytest.mark.parametrize("form", ["PNG", "JPEG", "WEBP"])
def test_image_files_are_read(tmp_path: Path, pages: list[Image.Image], form: str) -> None:
    path = tmp_path / f"page.{form.lower()}"
    pages[1].save(path, form)

    elements = parse_file(path, "upload")  # the content decides the type, not the name

    assert has(elements, PHRASES[2]) == {1}


def test_each_page_of_a_tiff_is_a_page(tmp_path: Path, pages: list[Image.Image]) -> None:
    path = tmp_path / "fax.tiff"
    bilevel = [page.point(lambda value: 255 if value > 128 else 0).convert("1") for page in pages]
    bilevel[0].save(path, "TIFF", compression="group4", save_all=True, append_images=bilevel[1:])

    elements = parse_file(path, "fax.tiff")

    assert has(elements, PHRASES[1]) == {1}
    assert has(elements, PHRASES[2]) == {2}


# -- hostile and empty images -----------------------------------------------------------------------


def many_scanned_pages_pdf(path: Path, page: Image.Image, count: int = 2_000) -> Path:
    """`count` pages showing one scanned image (stored once): a small file, hours of OCR."""
    with pikepdf.open(scanned_pdf(path.with_name("one.pdf"), [page])) as document:
        for _ in range(count - 1):
            document.pages.append(document.pages[0])  # a new page, the same image object
        document.save(path)
    return path


def rejected(path: Path, **limits: float) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse_file(path, path.name, **limits)  # type: ignore[arg-type]
    return caught.value


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb())
    started = time.monotonic()

    error = rejected(path)

    assert error.code == "invalid_file"
    assert "50,000 x 50,000 pixels is too large to read" in error.message
    assert time.monotonic() - started < 10  # refused from its header (decoding would take minutes)


def test_an_image_without_text_or_a_damaged_one_is_an_invalid_file(tmp_path: Path) -> None:
    Image.new("L", (800, 600), 255).save(tmp_path / "blank.png")
    (tmp_path / "cut.png").write_bytes(png_bomb(2_000)[:300])

    assert rejected(tmp_path / "blank.png").message == "The PNG image has no text that OCR could read."
    assert rejected(tmp_path / "cut.png").code == "invalid_file"


def test_thousands_of_scanned_pages_meet_the_time_limit(tmp_path: Path, pages: list[Image.Image]) -> None:
    path = many_scanned_pages_pdf(tmp_path / "archive.pdf", pages[1])
    started = time.monotonic()

    error = rejected(path, timeout_s=5)

    assert error.code == "invalid_file" and "longer than 5 s" in error.message
    assert time.monotonic() - started < 15


# -- through the API, with the official SDK -----------------------------------------------------------


@pytest.fixture(scope="module")
def ocr_server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("ocr"))


def test_a_scanned_pdf_and_a_png_uploaded_with_the_sdk_are_searchable(
    ocr_server: Server, tmp_path: Path, pages: list[Image.Image]
) -> None:
    client = ocr_server.client()
    pages[1].save(tmp_path / "page-2.png")
    scan = scanned_pdf(tmp_path / "scan.pdf", pages)
    store = client.vector_stores.create(name="scans")
    ids = {}
    for path, mime in ((scan, "application/pdf"), (tmp_path / "page-2.png", "image/png")):
        uploaded = client.files.create(file=(path.name, path.read_bytes(), mime), purpose="assistants")
        client.vector_stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
        ids[uploaded.id] = path.name
    wait_for_store(client, store.id)

    statuses = {f.id: (f.status, f.last_error) for f in client.vector_stores.files.list(vector_store_id=store.id)}
    assert all(status == "completed" for status, _ in statuses.values()), statuses
    first = client.vector_stores.search(vector_store_id=store.id, query=PHRASES[1], max_num_results=1).data
    assert [ids[r.file_id] for r in first] == ["scan.pdf"]
    assert PHRASES[1] in " ".join(" ".join(c.text for c in first[0].content).split())
    second = client.vector_stores.search(vector_store_id=store.id, query=PHRASES[2], max_num_results=5).data
    assert {ids[r.file_id] for r in second} == {"scan.pdf", "page-2.png"}
