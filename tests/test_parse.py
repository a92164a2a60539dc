"""Parsing real documents into elements, and refusing the files that cannot be ingested.

Parses run in a warm child process forked from a forkserver that preloads unstructured: the first
test pays that start (~10 s), other files little more than their own parse.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pikepdf
import pytest

from retrievd.errors import AssetMissingError
from retrievd.ingest.parse import iter_parse, parse_file, parse_files
from retrievd.ingest.types import Element, FileRejected
from tests.conftest import DOCS

pytestmark = pytest.mark.usefixtures("assets_ready")  # the spaCy model unstructured classifies with

HUGE = {"DA-619p.pdf", "handbook-872p.docx"}

# file -> (a phrase of its text, the page of its last element; None where the format has no pages)
PARSES: dict[str, tuple[str, int | None]] = {
    "2023-half-year-analyses-by-segment.xlsx": ("Analyses by segment", 5),  # pages are sheets
    "SOURCE.md": ("Real documents for parser and pipeline tests", None),
    "book-war-and-peace-1p.txt": ("so Genoa and Lucca are now just family estates", None),
    "codeblock.md": ("XML Example", None),
    "contains-pictures.docx": ("Some paragraph text", None),
    "copy-protected.pdf": ("Document Image Analysis", 2),  # a copy-restriction flag, not a password
    "csv-with-long-lines.csv": ("SpearmanCorrelationCoefficient", None),
    "docx-hdrftr.docx": ("Main document", None),
    "docx-tables.docx": ("Nested Table", None),
    "embedded-images-tables.pdf": ("Data in Brief", 1),
    "eng_spa_mult.epub": ("All human beings are born free and equal", None),
    "example-10k-1p.html": ("Commission file number", None),
    "example-with-scripts.html": ("Who We Are", None),
    "failure-after-repair.pdf": ("Understanding Breast Cancer", 76),  # unstructured alone: nothing
    "fake-doc.rtf": ("My first paragraph.", None),
    "fake-email-attachment.eml": ("Here's the attachments!", None),
    "fake-email.eml": ("This is a test email to use for unit tests.", None),
    "fake-html-cp1252.html": ("Die schöne Frau hat einen Kaffee mit Kuchen gegessen", None),
    "fake-power-point-malformed.pptx": ("Test Slide", 1),
    "fake-power-point-table.pptx": ("Column 1", 1),
    "fake-power-point.pptx": ("Find the bullet slide layout", 1),
    "fake-text-utf-16.txt": ("This is a test document to use for unit tests.", None),
    "fake.docx": ("Lorem ipsum dolor sit amet.", None),
    "fake.odt": ("Lorem ipsum dolor sit amet.", None),
    "korean-text-with-tables.pdf": ("빅포인트", 1),
    "layout-parser-paper-fast.pdf": ("LayoutParser", 2),
    "list-item-example.pdf": ("Introduction to Product Development", 2),
    "multi-column-2p.pdf": ("Overview", 2),
    "negative-coords.pdf": ("Comprehensive Carbon Footprint Letter of Assurance", 1),
    "norwich-city.txt": ("Iwan Roberts", None),
    "page-breaks.docx": ("Text on second page", 6),  # Word's recorded page breaks
    "pdf-bad-color-space.pdf": ("Our ambition", 1),
    "reliance.pdf": ("Integrated Annual Report", 3),
    "simple-table.md": ("Juicy Apples", None),
    "simple.docx": ("These are a few of my favorite things:", None),
    "single_table.pdf": ("mean chunks per document", 1),  # a scanned table, read by OCR
}

# file -> (code, a phrase of the message the user reads)
REJECTED: dict[str, tuple[str, str]] = {
    "empty.txt": ("invalid_file", "The file is empty"),
    "empty.eml": ("invalid_file", "has no text"),  # headers' worth of whitespace
    "password_protected.xlsx": ("invalid_file", "password-protected"),
}


@functools.cache
def parsed(name: str) -> list[Element]:
    """A shared document's elements (parsed once per test session)."""
    return parse_file(DOCS / name, name)


def test_every_shared_document_has_an_expected_outcome() -> None:
    assert {p.name for p in DOCS.iterdir()} == set(PARSES) | set(REJECTED) | HUGE


@pytest.mark.parametrize("name", sorted(PARSES))
def test_document_parses_with_its_text_and_pages(name: str) -> None:
    phrase, last_page = PARSES[name]

    elements = parsed(name)

    assert elements and all(e.text and e.text == e.text.strip() for e in elements)
    assert phrase in "\n".join(e.text for e in elements)
    pages = [e.page for e in elements]
    if last_page is None:
        assert set(pages) == {None}
    else:
        assert all(p is not None and p >= 1 for p in pages) and pages == sorted(pages)
        assert pages[-1] == last_page


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_document_is_refused_with_a_message_for_people(name: str) -> None:
    code, phrase = REJECTED[name]

    with pytest.raises(FileRejected) as rejected:
        parse_file(DOCS / name, name)

    assert rejected.value.code == code
    assert phrase in rejected.value.message


def test_cp1252_html_and_utf16_text_are_decoded() -> None:
    html = "\n".join(e.text for e in parsed("fake-html-cp1252.html"))
    utf16 = [e.text for e in parsed("fake-text-utf-16.txt")]

    assert "köstlich" in html and "Ã" not in html
    assert utf16[0] == "This is a test document to use for unit tests."


def test_a_section_is_the_nearest_title_at_or_above(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Before any heading.")
    document.add_heading("Refund policy", level=1)
    document.add_paragraph("Refunds are paid within five days of the request.")
    document.add_heading("Shipping", level=2)
    document.add_paragraph("Orders ship from the warehouse every weekday morning.")
    document.save(tmp_path / "policies.docx")

    elements = parse_file(tmp_path / "policies.docx", "policies.docx")

    assert [(e.text, e.section) for e in elements] == [
        ("Before any heading.", None),
        ("Refund policy", "Refund policy"),
        ("Refunds are paid within five days of the request.", "Refund policy"),
        ("Shipping", "Shipping"),
        ("Orders ship from the warehouse every weekday morning.", "Shipping"),
    ]
    assert [e.text for e in elements if e.category == "Title"] == ["Refund policy", "Shipping"]


def test_an_email_starts_with_its_subject_as_the_section() -> None:
    elements = parsed("fake-email.eml")

    assert elements[0] == Element(text="Test Email", category="Title", section="Test Email")
    assert {e.section for e in elements} == {"Test Email"}


def test_running_headers_and_page_numbers_are_dropped_once_seen() -> None:
    elements = parsed("failure-after-repair.pdf")
    running = [e.text for e in elements if e.category in ("Header", "Footer")]

    assert not [t for t in running if t.isdigit()]  # page numbers
    assert running.count("Cancer Council") == 1  # the footer of every other page, kept once
    assert len(running) == len(set(running))


def test_a_pdf_arrives_a_page_at_a_time() -> None:
    batches = list(iter_parse(DOCS / "multi-column-2p.pdf", "multi-column-2p.pdf"))

    assert [{e.page for e in batch} for batch in batches] == [{1}, {2}]


def test_a_password_protected_pdf_is_refused_as_such(tmp_path: Path) -> None:
    with pikepdf.open(DOCS / "list-item-example.pdf") as document:
        document.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="owner", user="reader"))

    with pytest.raises(FileRejected) as rejected:
        parse_file(tmp_path / "locked.pdf", "locked.pdf")

    assert rejected.value.code == "invalid_file"
    assert rejected.value.message == "The file is password-protected; remove the password and upload it again."


def test_the_values_typed_into_a_pdf_form_are_text(tmp_path: Path) -> None:
    """A filled form field's value lives in a widget annotation, not in the page's text."""
    with pikepdf.open(DOCS / "list-item-example.pdf") as document:
        page = document.pages[0].obj
        field = document.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                FT=pikepdf.Name.Tx,
                T=pikepdf.String("applicant"),
                V=pikepdf.String("Marguerite Okonkwo-Lindqvist"),
                Rect=pikepdf.Array([72, 72, 360, 96]),
                P=page,
            )
        )
        page.Annots = document.make_indirect(pikepdf.Array([field]))
        document.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]))
        document.save(tmp_path / "form.pdf")

    elements = parse_file(tmp_path / "form.pdf", "form.pdf")

    assert [e.page for e in elements if e.text == "Marguerite Okonkwo-Lindqvist"] == [1]


def test_the_content_decides_the_type_not_the_name(tmp_path: Path) -> None:
    shutil.copy(DOCS / "fake.docx", tmp_path / "report.pdf")
    shutil.copy(DOCS / "layout-parser-paper-fast.pdf", tmp_path / "paper.docx")

    assert [e.text for e in parse_file(tmp_path / "report.pdf", "report.pdf")] == [
        "Lorem ipsum dolor sit amet."
    ]
    assert parse_file(tmp_path / "paper.docx", "paper.docx")[-1].page == 2


def test_stored_blobs_need_no_extension() -> None:
    elements = parse_file(DOCS / "fake.docx", "file-without-extension")

    assert [e.text for e in elements] == ["Lorem ipsum dolor sit amet."]


def _heic(path: Path) -> None:
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")


@pytest.mark.parametrize(
    ("name", "make", "phrase"),
    [
        ("photo.heic", _heic, "HEIC images are not supported; save it as JPEG or PNG"),
        (
            "data.xyz",
            lambda p: p.write_bytes(os.urandom(4096)),
            "'.xyz' files are not supported; supported types are .pdf",
        ),
        ("archive.docx", _zip, "The file is named '.docx' but its content is ZIP, which is not supported"),
    ],
)
def test_files_that_are_not_documents_are_unsupported(tmp_path: Path, name: str, make, phrase: str) -> None:  # type: ignore[no-untyped-def]
    make(tmp_path / name)

    with pytest.raises(FileRejected) as rejected:
        parse_file(tmp_path / name, name)

    assert rejected.value.code == "unsupported_file"
    assert phrase in rejected.value.message


def test_a_damaged_docx_is_an_invalid_file(tmp_path: Path) -> None:
    (tmp_path / "cut.docx").write_bytes((DOCS / "fake.docx").read_bytes()[:5000])

    with pytest.raises(FileRejected) as rejected:
        parse_file(tmp_path / "cut.docx", "cut.docx")

    assert rejected.value.code == "invalid_file"
    assert rejected.value.message == "The DOCX file is damaged: it is not a complete DOCX package."


def test_a_parse_over_the_time_limit_is_stopped() -> None:
    with pytest.raises(FileRejected) as rejected:
        parse_file(DOCS / "DA-619p.pdf", "DA-619p.pdf", timeout_s=0.5)  # about 3 s

    assert rejected.value.code == "invalid_file"
    assert "took longer than 0.5 s" in rejected.value.message


def _zip_bomb_docx(target: Path, megabytes: int) -> None:
    """fake.docx whose body is `megabytes` MB of paragraphs: under 0.5% of that on disk."""
    paragraph = b"<w:p><w:r><w:t>" + b"lorem ipsum dolor sit amet " * 4 + b"</w:t></w:r></w:p>"
    block = paragraph * (1024 * 1024 // len(paragraph))
    with (
        zipfile.ZipFile(DOCS / "fake.docx") as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for item in source.infolist():
            if item.filename != "word/document.xml":
                out.writestr(item, source.read(item))
        head = source.read("word/document.xml").split(b"<w:body>")[0] + b"<w:body>"
        with out.open("word/document.xml", "w", force_zip64=True) as xml:
            xml.write(head)
            for _ in range(megabytes):
                xml.write(block)
            xml.write(b"</w:body></w:document>")


def test_a_zip_bomb_hits_the_memory_limit_not_the_server(tmp_path: Path) -> None:
    # 90 MB unpacked stays under the pre-parse zip checks (see test_hostile_files.py): the child's
    # memory limit is what stops it.
    _zip_bomb_docx(tmp_path / "bomb.docx", megabytes=90)

    with pytest.raises(FileRejected) as rejected:
        parse_file(tmp_path / "bomb.docx", "bomb.docx", memory_mb=1200)

    assert rejected.value.code == "invalid_file"
    assert rejected.value.message == "The file needs more than 1200 MB of memory to parse."


def _parser_processes() -> dict[int, multiprocessing.process.BaseProcess]:
    return {p.pid: p for p in multiprocessing.active_children() if p.name == "retrievd-parse"}


def test_a_docx_with_a_damaged_zip_directory_is_invalid_not_a_crash(tmp_path: Path) -> None:
    data = bytearray((DOCS / "fake.docx").read_bytes())
    entry = data.rfind(b"PK\x01\x02")  # the last central directory entry
    data[entry : entry + 4] = b"PK\x09\x09"
    (tmp_path / "damaged.docx").write_bytes(bytes(data))

    with pytest.raises(FileRejected) as rejected:
        parse_file(tmp_path / "damaged.docx", "damaged.docx")

    assert rejected.value.code == "invalid_file"
    assert "damaged" in rejected.value.message


def test_a_group_of_files_keeps_each_outcome_in_its_place() -> None:
    names = ["DA-619p.pdf", "simple.docx", "fake-email.eml", "fake.docx", "empty.txt"]

    outcomes = parse_files([(DOCS / name, name) for name in names], timeout_s=1.5)  # DA-619p: about 3 s

    slow, simple, email, fake, empty = outcomes
    assert isinstance(slow, FileRejected) and "took longer than 1.5 s" in slow.message
    assert simple == parse_file(DOCS / "simple.docx", "simple.docx")
    assert email == parse_file(DOCS / "fake-email.eml", "fake-email.eml")  # after the slow one, on a fresh child
    assert fake == parse_file(DOCS / "fake.docx", "fake.docx")
    assert isinstance(empty, FileRejected) and empty.message == "The file is empty."


def test_a_parser_child_that_cannot_start_fails_only_the_file_it_was_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS refusing one fork (out of processes or memory) fails one file of a group, not the group."""
    from retrievd.ingest import parse

    refusals = iter([True])
    start = parse._context.Process.start

    def refused_once(process: multiprocessing.Process) -> None:
        if next(refusals, False):
            raise OSError("Resource temporarily unavailable")
        start(process)

    monkeypatch.setattr(parse._context.Process, "start", refused_once)
    names = ["fake.docx", "simple.docx", "fake-email.eml"]

    outcomes = parse_files([(DOCS / name, name) for name in names], memory_mb=3200)  # no idle child has 3200

    refused = [o for o in outcomes if isinstance(o, FileRejected)]
    assert len(refused) == 1 and refused[0].code == "server_error"
    assert "The parser process could not be started" in refused[0].message
    for name, outcome in zip(names, outcomes):
        if outcome is not refused[0]:
            assert outcome == parse_file(DOCS / name, name)


def test_small_files_are_parsed_by_one_warm_child() -> None:
    parse_file(DOCS / "fake.docx", "fake.docx", memory_mb=3000)
    warm = set(_parser_processes())

    parse_file(DOCS / "simple.docx", "simple.docx", memory_mb=3000)
    parse_file(DOCS / "fake-email.eml", "fake-email.eml", memory_mb=3000)

    assert set(_parser_processes()) == warm


def test_a_parser_that_dies_rejects_the_file_and_the_next_file_parses() -> None:
    before = set(_parser_processes())
    pages = iter_parse(DOCS / "failure-after-repair.pdf", "failure-after-repair.pdf", memory_mb=3100)
    next(pages)
    (child,) = [p for pid, p in _parser_processes().items() if pid not in before]
    os.kill(child.pid, signal.SIGSEGV)

    with pytest.raises(FileRejected) as rejected:
        list(pages)

    assert rejected.value.code == "invalid_file"
    assert "The parser crashed on this file (SIGSEGV)" in rejected.value.message
    assert parse_file(DOCS / "fake.docx", "fake.docx", memory_mb=3100)


def test_a_missing_spacy_model_is_an_asset_error_not_a_download(tmp_path: Path) -> None:
    # A package that shadows the installed model, as if `retrievd models pull` had never run.
    (tmp_path / "en_core_web_sm").mkdir()
    (tmp_path / "en_core_web_sm" / "__init__.py").write_text("raise ImportError('not installed')\n")
    program = (
        "from pathlib import Path\n"
        "from retrievd.ingest.parse import parse_file\n"
        "try:\n"
        f"    parse_file(Path({str(DOCS / 'fake.docx')!r}), 'fake.docx')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert done.stdout.startswith(AssetMissingError.__name__), done.stderr
    assert "'en_core_web_sm' is not installed" in done.stdout and "retrievd models pull" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "phrase", "last_page"),
    [("DA-619p.pdf", "Arcane Horror", 619), ("handbook-872p.docx", "Chapter 13", None)],
)
def test_huge_documents_parse(name: str, phrase: str, last_page: int | None) -> None:
    elements = parse_file(DOCS / name, name)

    assert len(elements) > 4000 and phrase in "\n".join(e.text for e in elements)
    assert elements[-1].page == last_page
    assert sum(e.category == "Title" for e in elements) > 200
