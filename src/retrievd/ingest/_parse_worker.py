"""The child side of `retrievd.ingest.parse`: unstructured runs here, never in the server process.

Importing this module loads unstructured's partitioners and the spaCy model it classifies text
with, so the forkserver that preloads it pays those seconds once and every worker forked from it
starts warm (`serve`). It also cuts unstructured off from the network (telemetry, downloads).
"""

from __future__ import annotations

import os

# Before unstructured (or numpy) is imported: no telemetry, one thread (the embedder owns the
# other cores).
os.environ.update(
    SCARF_NO_ANALYTICS="true",
    DO_NOT_TRACK="true",
    UNSTRUCTURED_DISABLE_NOTICE="1",
    OMP_NUM_THREADS="1",
    OPENBLAS_NUM_THREADS="1",
    MKL_NUM_THREADS="1",
)

import copy
import functools
import gc
import importlib
import io
import itertools
import logging
import math
import re
import resource
import socket
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import spawn
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import docx
import olefile
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import spacy
import unstructured.nlp.tokenize as unstructured_nlp
import unstructured.partition.text_type as unstructured_text_type
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError as DocxPackageNotFoundError
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from lxml.etree import XMLSyntaxError
from PIL import Image, ImageSequence, UnidentifiedImageError
from pptx.exc import PackageNotFoundError as PptxPackageNotFoundError
from spacy.tokens import Doc
from unstructured.cleaners.core import clean_extra_whitespace_with_index_run
from unstructured.documents.coordinates import PixelSpace
from unstructured.documents.elements import CoordinatesMetadata, ElementMetadata, ListItem, Title
from unstructured.documents.elements import Element as UElement
from unstructured.errors import UnprocessableEntityError
from unstructured.file_utils.encoding import read_txt_file
from unstructured.file_utils.filetype import detect_filetype
from unstructured.file_utils.model import FileType
from unstructured.partition.csv import partition_csv
from unstructured.partition.docx import partition_docx
from unstructured.partition.email import partition_email
from unstructured.partition.epub import partition_epub
from unstructured.partition.html import partition_html
from unstructured.partition.json import partition_json
from unstructured.partition.md import partition_md
from unstructured.partition.odt import partition_odt
from unstructured.partition.pptx import partition_pptx
from unstructured.partition.rtf import partition_rtf
from unstructured.partition.text import (
    _split_by_paragraph,
    auto_paragraph_grouper,
    element_from_text,
    partition_text,
)
from unstructured.partition.tsv import partition_tsv
from unstructured.partition.utils.constants import SORT_MODE_BASIC, SORT_MODE_XY_CUT
from unstructured.partition.utils.sorting import coord_has_valid_points, sort_page_elements
from unstructured.partition.xlsx import partition_xlsx
from unstructured.partition.xml import partition_xml

from retrievd import assets
from retrievd.assets import missing_message
from retrievd.config import get_settings
from retrievd.errors import AssetMissingError
from retrievd.ingest import ocr
from retrievd.ingest.parse import MAIN_PATH_ENV, SUPPORTED_EXTENSIONS
from retrievd.ingest.pdf_layout import page_blocks
from retrievd.ingest.types import Element, FileRejected

logging.getLogger("unstructured").setLevel(logging.ERROR)
warnings.filterwarnings("ignore")

SPACY_MODEL = "en_core_web_sm"
ASSET_MISSING = missing_message(SPACY_MODEL, Path(sys.prefix))


# -- Text classification ------------------------------------------------------------------------
# unstructured tells titles from narrative text with spaCy: it counts sentences (and words) of
# every string, and looks for a verb (POS tags) in those of fewer than two sentences. Its default
# pipeline runs tok2vec, tagger and dependency parser for each. Here sentences and words come from
# the tokenizer and the rule-based sentencizer alone, and the POS tagger runs only for the strings
# that ask for tags, in one `nlp.pipe` batch per PDF page or document before unstructured
# classifies them one at a time. The same elements as the full pipeline, faster: 150 pages of
# DA-619p.pdf parsed in 7.9 s instead of 9.9 s (pdfminer then), handbook-872p.docx in 2.8 s
# instead of 3.6 s. A string of more than TITLE_MAX_WORDS words is never tagged: it can never be
# a Title, and a verb only tells NarrativeText from UncategorizedText, which nothing here tells
# apart (the chunker's sections come from Titles alone). That was most of a paragraph-long
# file's parse: ~6 of its ~9 ms (bench/small_files.py).


class AssetMissing(Exception):
    """The spaCy model is not installed: the parent raises `AssetMissingError`."""


def _refuse_download() -> None:
    raise AssetMissing(ASSET_MISSING)


def _load_nlp() -> spacy.language.Language | None:
    try:
        nlp = spacy.load(SPACY_MODEL, exclude=["ner", "lemmatizer", "attribute_ruler", "parser", "senter"])
    except (OSError, ImportError):
        return None
    nlp.add_pipe("sentencizer")
    nlp("Warm up.")
    return nlp


_NLP = _load_nlp()
_TAGS: dict[str, list[tuple[str, str]]] = {}  # text -> POS tags, for the page or document being classified
_TAG_BATCH_MAX = 5_000  # strings; a longer document's remaining ones are tagged one by one


def _nlp() -> spacy.language.Language:
    global _NLP
    if _NLP is None:
        importlib.invalidate_caches()
        _NLP = _load_nlp()  # installed since this forkserver started?
        if _NLP is None:
            raise AssetMissing(ASSET_MISSING)
    return _NLP


@functools.lru_cache(maxsize=4096)  # asked by `_pretag`, then by unstructured's classification
def _sentences(text: str) -> Doc:
    """Tokens and sentence boundaries, without the tagger: all unstructured's `_process` is read for,
    apart from POS tags (`_pos_tag`)."""
    nlp = _nlp()
    return nlp.get_pipe("sentencizer")(nlp.make_doc(text[: nlp.max_length]))


TITLE_MAX_WORDS = 12  # unstructured's title_max_word_length, counted as it counts (split on " ")
_A_VERB = [("", "VB")]  # the tags of a string too long to be a title: "narrative", untagged


def _could_be_title(text: str) -> bool:
    return len(text.split(" ")) <= TITLE_MAX_WORDS


def _pos_tag(text: str) -> list[tuple[str, str]]:
    if not _could_be_title(text):
        return _A_VERB
    tags = _TAGS.get(text)
    if tags is None:
        nlp = _nlp()
        tags = _TAGS[text] = [(token.text, token.tag_) for token in nlp(text[: nlp.max_length])]
    return tags


def _pretag(texts: Iterable[str]) -> None:
    """Tag in one batch the strings unstructured is about to classify and will want tags of: those
    of fewer than two sentences and at most TITLE_MAX_WORDS words (it lowercases all-caps strings first)."""
    nlp = _nlp()
    variants = (v for t in texts for v in ((t, t.lower()) if t.isupper() else (t,)))
    unique = dict.fromkeys(v for v in variants if v.strip() and len(v) <= nlp.max_length and _could_be_title(v))
    wanted = [t for t in unique if sum(1 for _ in _sentences(t).sents) < 2][:_TAG_BATCH_MAX]
    _TAGS.clear()
    _TAGS.update(zip(wanted, ([(t.text, t.tag_) for t in doc] for doc in nlp.pipe(wanted, batch_size=64))))


unstructured_nlp._get_nlp = _nlp
unstructured_nlp._install_spacy_model = _refuse_download  # never pip-install from GitHub at run time
unstructured_nlp._process = _sentences  # its Docs carry no tags: every pos_tag must be ours
unstructured_nlp.pos_tag = unstructured_text_type.pos_tag = _pos_tag


# -- Limits -------------------------------------------------------------------------------------


_connect = socket.socket.connect


def _refuse_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError("retrievd's parser does not use the network")
    _connect(self, address)


def _confine(memory_mb: int) -> None:
    """Cap this worker's address space and cut it off from the network (unstructured's telemetry
    and model downloads are switched off above; this makes sure)."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    socket.socket.connect = _refuse_connect  # type: ignore[method-assign]


# -- Formats ------------------------------------------------------------------------------------


def _partition_docx(path: str) -> list[UElement]:
    document = docx.Document(path)  # every paragraph, those in tables and content controls too
    _pretag(Paragraph(p, document).text.strip() for p in document.element.body.iter(qn("w:p")))
    if _mark_explicit_page_breaks(document):
        marked = io.BytesIO()
        document.save(marked)
        return partition_docx(file=marked, include_page_breaks=False, strategy="fast", languages=["eng"])
    return partition_docx(path, include_page_breaks=False, strategy="fast", languages=["eng"])


def _mark_explicit_page_breaks(document: DocxDocument) -> bool:
    """Mark the page breaks a DOCX states outright, where Word left no marks of its own; True if any.

    unstructured numbers pages by `w:lastRenderedPageBreak`, which Word writes where its last layout
    broke pages. A file written by anything else (python-docx, LibreOffice, generators) has none and
    so no page numbers, though it may say where pages break: a page break (`w:br w:type="page"`), a
    paragraph that starts a page (`w:pageBreakBefore`), a section that starts one (any but a
    continuous section break). Each gets the mark Word would have written, so pages count as Word
    would lay them out, less the breaks where a page only fills up (handbook-872p.docx: 82 pages).
    Costs a second zip round trip: handbook-872p.docx parses in 5.3 s instead of 4.4 s.
    """
    body = document.element.body
    if body.xpath(".//w:lastRenderedPageBreak"):
        return False
    paragraphs = body.xpath("./w:p")
    starts = []
    for before, after in itertools.pairwise(paragraphs):  # the first paragraph is on page 1 whatever it says
        if after.xpath("./w:pPr/w:pageBreakBefore[not(@w:val='0' or @w:val='false')]") or (
            before.xpath("./w:pPr/w:sectPr") and _starts_a_page(_section_properties(after, body))
        ):
            starts.append(after)
    breaks = body.xpath("./w:p/w:r/w:br[@w:type='page'] | ./w:p/w:hyperlink/w:r/w:br[@w:type='page']")
    for br in breaks:
        br.addnext(OxmlElement("w:lastRenderedPageBreak"))
    for paragraph in starts:
        run = OxmlElement("w:r")
        run.append(OxmlElement("w:lastRenderedPageBreak"))
        properties = paragraph.find(qn("w:pPr"))
        paragraph.insert(0 if properties is None else 1, run)
    return bool(breaks or starts)


def _section_properties(paragraph: Any, body: Any) -> Any:
    """The w:sectPr of the section `paragraph` is in: on the section's last paragraph, or the body's."""
    for sibling in itertools.chain([paragraph], paragraph.itersiblings(qn("w:p"))):
        found = sibling.find(f"{qn('w:pPr')}/{qn('w:sectPr')}")
        if found is not None:
            return found
    return body.find(qn("w:sectPr"))


def _starts_a_page(section: Any) -> bool:
    kind = section.find(qn("w:type")) if section is not None else None
    return kind is None or kind.get(qn("w:val")) not in ("continuous", "nextColumn")


def _partition_text(path: str) -> list[UElement]:
    """partition_text, with the paragraphs it classifies tagged in one batch first: 2.5x faster on
    a 48 KB text (0.64 s instead of 1.59 s), the same elements."""
    _, text = read_txt_file(filename=path)
    _pretag(paragraph.strip() for paragraph in _split_by_paragraph(auto_paragraph_grouper(text)))
    return partition_text(path, languages=["eng"])


def _partition_email(path: str) -> list[UElement]:
    """The subject (as a Title, so it is the body's section) and the body. Attachments are not
    parsed: unstructured would route them through `partition()` with its default PDF strategy
    (hi_res, a model download) and no per-attachment limits."""
    elements = partition_email(path, process_attachments=False, languages=["eng"])
    subject = elements[0].metadata.subject if elements else None
    return [Title(subject), *elements] if subject and subject.strip() else elements


# languages=["eng"]: element metadata only (unused here); leaving it out runs langdetect on every
# document, 0.8 s of profile loading per child on its own.
_PARTITIONERS: dict[FileType, Callable[[str], list[UElement]]] = {
    FileType.DOCX: _partition_docx,
    FileType.PPTX: lambda p: partition_pptx(
        p, include_page_breaks=False, include_slide_notes=True, languages=["eng"]
    ),
    FileType.XLSX: lambda p: partition_xlsx(p, languages=["eng"]),
    FileType.HTML: lambda p: partition_html(p, languages=["eng"]),
    FileType.MD: lambda p: partition_md(p, languages=["eng"]),
    FileType.TXT: _partition_text,
    FileType.CSV: lambda p: partition_csv(p, languages=["eng"]),
    FileType.TSV: lambda p: partition_tsv(p, languages=["eng"]),
    FileType.JSON: lambda p: partition_json(p, languages=["eng"]),
    FileType.EML: _partition_email,
    FileType.ODT: lambda p: partition_odt(p, languages=["eng"]),
    FileType.RTF: lambda p: partition_rtf(p, languages=["eng"]),
    FileType.EPUB: lambda p: partition_epub(p, languages=["eng"]),
    FileType.XML: lambda p: partition_xml(p, languages=["eng"]),
}
_IMAGES = {FileType.BMP, FileType.JPG, FileType.PNG, FileType.TIFF, FileType.WEBP}  # read by OCR
SUPPORTED = {FileType.PDF, *_IMAGES, *_PARTITIONERS}
_LEGACY_OFFICE = {FileType.DOC: ".docx", FileType.PPT: ".pptx", FileType.XLS: ".xlsx"}


def _detect(path: str, filename: str) -> FileType:
    """The file's type from its content, with its name's extension to break ties (libmagic)."""
    if os.path.getsize(path) == 0:
        raise FileRejected("invalid_file", "The file is empty.")
    if _is_encrypted_office_file(path):
        raise FileRejected(
            "invalid_file", "The file is password-protected; remove the password and upload it again."
        )
    try:
        with open(path, "rb") as f:
            file_type = detect_filetype(file=f, metadata_file_path=filename)
    except zipfile.BadZipFile as e:  # telling DOCX from XLSX from PPTX reads the zip directory
        raise FileRejected("invalid_file", f"The file is damaged: its zip directory cannot be read ({e}).") from None
    if file_type in SUPPORTED:
        return file_type
    if file_type == FileType.EMPTY:
        raise FileRejected("invalid_file", "The file is empty.")
    if file_type == FileType.HEIC:
        raise FileRejected(
            "unsupported_file",
            f"HEIC images are not supported; save it as JPEG or PNG and upload that. Supported types are "
            f"{SUPPORTED_EXTENSIONS}.",
        )
    if file_type in _LEGACY_OFFICE:
        raise FileRejected(
            "unsupported_file",
            f"Legacy .{file_type.name.lower()} files are not supported; save it as "
            f"{_LEGACY_OFFICE[file_type]} and upload that. Supported types are {SUPPORTED_EXTENSIONS}.",
        )
    extension = Path(filename).suffix.lower()
    if file_type != FileType.UNK and FileType.from_extension(extension) in SUPPORTED:
        problem = (
            f"The file is named '{extension}' but its content is {file_type.name}, which is not supported"
        )
    else:
        problem = f"'{extension or 'extension-less'}' files are not supported"
    raise FileRejected("unsupported_file", f"{problem}; supported types are {SUPPORTED_EXTENSIONS}.")


def _is_encrypted_office_file(path: str) -> bool:
    """A password-protected DOCX/XLSX/PPTX is an OLE container holding an EncryptedPackage."""
    try:
        if not olefile.isOleFile(path):
            return False
        with olefile.OleFileIO(path) as ole:
            return ole.exists("EncryptedPackage")
    except OSError:
        return False


# -- PDF ----------------------------------------------------------------------------------------


def _pdf_pages(path: str) -> Iterator[list[UElement]]:
    """unstructured's fast strategy (text layer only: no OCR, no layout model), one page at a time,
    with pdfium as its text layer instead of pdfminer (`pdf_layout`). Unlike `partition_pdf` it
    reads pages with many vector drawings too (failure-after-repair.pdf: 76 pages of text, which
    partition_pdf skips), and lets errors through to `_rejection`."""
    document = pdfium.PdfDocument(path)
    try:
        document.init_forms()  # before any page is loaded: form fields' values
        form = document.formenv.raw if document.formenv else None  # None: the PDF has no form
        for number in range(1, len(document) + 1):
            page = document[number - 1]
            try:
                elements = _pdf_page_elements(page, number, form)
            finally:
                page.close()
            yield sort_page_elements(sort_page_elements(elements, SORT_MODE_BASIC), SORT_MODE_XY_CUT)
    finally:
        document.close()


def _pdf_page_elements(
    page: pdfium.PdfPage, number: int, form: pdfium_c.FPDF_FORMHANDLE | None
) -> list[UElement]:
    """What unstructured's `_pdfminer_page_elements` makes of pdfminer's boxes, made of pdfium's."""
    width, height = page.get_size()
    texts, boxes = [], []
    for block in page_blocks(page, form):
        text, _ = clean_extra_whitespace_with_index_run(block.text)
        if text.strip():
            texts.append(text)
            boxes.append(block.bbox)
    if sum(len(t) - t.count(" ") for t in texts) < _USABLE_TEXT_CHARS and _has_images(page):
        scanned = _ocr_pdf_page(page)
        if scanned is not None and sum(map(len, scanned[0])) > sum(map(len, texts)):
            texts, boxes, width, height = scanned
    _pretag(texts)
    return _classify(texts, boxes, width, height, number)


_USABLE_TEXT_CHARS = 20  # a page with less text than this and an image is read by OCR (a scan with a stamp)


def _has_images(page: pdfium.PdfPage) -> bool:
    return next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3)), None) is not None


def _ocr_pdf_page(page: pdfium.PdfPage) -> _Scanned | None:
    """The page rendered at `ocr.DPI` (fewer dots for a huge page) and read; None for a blank one."""
    width, height = page.get_size()
    scale = min(ocr.DPI / 72, math.sqrt(ocr.MAX_PIXELS / max(1.0, width * height)))
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        return _ocr_image(bitmap.to_pil())
    finally:
        bitmap.close()


def _ocr_image(image: Image.Image) -> _Scanned | None:
    """The paragraphs OCR reads in an image, as text blocks with boxes (pixels, origin bottom-left)."""
    if ocr.is_blank(image):
        return None
    reading = _reader().read(image)
    width, height = reading.size
    texts = [block.text for block in reading.blocks]
    boxes = [(b.bbox[0], height - b.bbox[3], b.bbox[2], height - b.bbox[1]) for b in reading.blocks]
    return texts, boxes, float(width), float(height)


_Scanned = tuple[list[str], list[tuple[float, float, float, float]], float, float]


@functools.cache  # one engine per process
def _reader() -> ocr.Reader:
    try:
        tessdata = assets.require(get_settings(), "tessdata")
    except AssetMissingError as error:
        raise AssetMissing(str(error)) from None
    return ocr.Reader(tessdata)


# -- Images -------------------------------------------------------------------------------------

MAX_IMAGE_PIXELS = 100_000_000  # per frame: a 600-dpi A3 scan is 70 million; larger is refused unread
MAX_IMAGE_FRAMES = 2_000
Image.MAX_IMAGE_PIXELS = None  # checked here, per frame, with the size in the message


def _image_pages(path: str, file_type: FileType) -> Iterator[list[UElement]]:
    """Each frame (a TIFF's pages) read by OCR, one page at a time. The size is checked from the
    header before any pixel is decoded, so a decompression bomb costs nothing."""
    kind = file_type.name
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise FileRejected("invalid_file", f"The {kind} image is damaged: it cannot be decoded.") from None
    with image:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if number > MAX_IMAGE_FRAMES:
                raise FileRejected(
                    "invalid_file", f"The {kind} image has more than {MAX_IMAGE_FRAMES:,} pages, the limit."
                )
            if frame.width * frame.height > MAX_IMAGE_PIXELS:
                raise FileRejected("invalid_file", _too_large(kind, frame.size))
            scanned = _ocr_image(frame)
            if scanned is None:
                yield []
                continue
            texts, boxes, width, height = scanned
            _pretag(texts)
            yield _classify(texts, boxes, width, height, number)


def _too_large(kind: str, size: tuple[int, int]) -> str:
    return (
        f"The {kind} image of {size[0]:,} x {size[1]:,} pixels is too large to read (the limit is "
        f"{MAX_IMAGE_PIXELS // 1_000_000} million pixels a page); it may be a decompression bomb and was not decoded."
    )


def _classify(
    texts: list[str], boxes: list[tuple[float, float, float, float]], width: float, height: float, number: int
) -> list[UElement]:
    """unstructured's elements of a page's text blocks (boxes in PDF points, origin bottom-left)."""
    system = PixelSpace(width=width, height=height)
    elements = []
    for text, (left, bottom, right, top) in zip(texts, boxes, strict=True):
        points = ((left, height - top), (left, height - bottom), (right, height - bottom), (right, height - top))
        element = element_from_text(text, coordinates=points, coordinate_system=system)
        element.metadata = ElementMetadata(
            page_number=number, coordinates=CoordinatesMetadata(points=points, system=system), languages=["eng"]
        )
        elements.append(element)
    return _join_list_items(elements, system)


def _join_list_items(elements: list[UElement], system: PixelSpace) -> list[UElement]:
    """unstructured's `partition.pdf._combine_list_elements`, which needs its PDF stack (pdfminer,
    pi_heif, pypdf) to import: a block that starts inside a list item's box continues its text."""
    item: UElement | None = None
    text, box = "", None
    joined: list[UElement] = []
    for element in elements:
        if isinstance(element, ListItem):
            item, text, box = element, element.text, element.metadata.coordinates
        elif item is not None and _within(element.metadata.coordinates, box):
            item.text = f"{text} {element.text}"
            element = _union_box(item, element, system)
            joined.pop()  # the item as it was, without this continuation
        joined.append(element)
    return joined


def _union_box(first: UElement, second: UElement, system: PixelSpace) -> UElement:
    """A copy of `first` with the box around both (unstructured's `_combine_coordinates_into_element1`)."""
    a, b = first.metadata.coordinates.points, second.metadata.coordinates.points
    x1, x2 = min(a[0][0], b[0][0]), max(a[2][0], b[2][0])
    y1, y2 = min(a[0][1], b[0][1]), max(a[1][1], b[1][1])
    first.metadata.coordinates = CoordinatesMetadata(points=((x1, y1), (x1, y2), (x2, y2), (x2, y1)), system=system)
    return copy.deepcopy(first)


def _within(box: CoordinatesMetadata, bound: CoordinatesMetadata, horizontal: float = 0.2, vertical: float = 0.3) -> bool:
    """unstructured's `check_coords_within_boundary`: `box` starts inside `bound`, widened by the
    given fractions of its width and height."""
    if not coord_has_valid_points(box) and not coord_has_valid_points(bound):
        return False
    left, right, top, bottom = bound.points[0][0], bound.points[2][0], bound.points[0][1], bound.points[1][1]
    width, height = right - left, bottom - top
    x_in = left - horizontal * width < box.points[0][0] and box.points[2][0] < right + horizontal * width
    x_in = x_in and box.points[0][0] >= left
    y_in = top - vertical * height < box.points[0][1] < bottom + vertical * height
    return x_in and y_in


# -- Elements -----------------------------------------------------------------------------------

_NOISE = {"PageBreak", "PageNumber", "Image"}
_RUNNING = {"Header", "Footer"}
_ROMAN = r"(?=[mdclxvi])m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})"
_PAGE_NUMBER = re.compile(rf"(page\s*)?(\d+|{_ROMAN})(\s*(of|/)\s*\d+)?", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


class _Assembler:
    """Turns unstructured's elements into ours: drops noise, tracks the section (nearest title).

    Header/Footer elements are boilerplate when they are a page number or repeat an earlier
    header/footer (digits ignored), and are dropped. Others are kept: unstructured finds PDF
    headers and footers by position alone, which misfires (negative-coords.pdf: the whole page is
    "Header"), and a DOCX header appears once per section, not once per page.
    """

    def __init__(self) -> None:
        self.section: str | None = None
        self.running_seen: set[str] = set()

    def add(self, elements: Iterable[UElement]) -> list[Element]:
        out = []
        for el in elements:
            text = (el.text or "").strip()
            if not text or el.category in _NOISE or self._is_boilerplate(el.category, text):
                continue
            if el.category == "Title":
                self.section = text
            out.append(
                Element(text=text, category=el.category, page=el.metadata.page_number, section=self.section)
            )
        return out

    def _is_boilerplate(self, category: str, text: str) -> bool:
        if category not in _RUNNING:
            return False
        if _PAGE_NUMBER.fullmatch(text):
            return True
        key = _DIGITS.sub("#", text.lower())
        seen = key in self.running_seen
        self.running_seen.add(key)
        return seen


def _parse(path: str, filename: str, memory_mb: int) -> Iterator[list[Element]]:
    """Yield the file's elements in batches (a PDF page at a time); raise FileRejected if unusable."""
    file_type = _detect(path, filename)
    try:
        yield from _partition(path, file_type)
    except (FileRejected, AssetMissing):
        raise
    except Exception as error:
        raise _rejection(error, file_type, path, filename, memory_mb) from error


def _partition(path: str, file_type: FileType) -> Iterator[list[Element]]:
    assembler = _Assembler()
    produced = False
    if file_type == FileType.PDF or file_type in _IMAGES:
        pages = _pdf_pages(path) if file_type == FileType.PDF else _image_pages(path, file_type)
        for page in pages:
            batch = assembler.add(page)
            produced = produced or bool(batch)
            yield batch
        if not produced:
            raise FileRejected(
                "invalid_file",
                "The PDF has no extractable text: no text layer, and OCR found no text in its pages."
                if file_type == FileType.PDF
                else f"The {file_type.name} image has no text that OCR could read.",
            )
        return
    batch = assembler.add(_PARTITIONERS[file_type](path))
    if not batch:
        raise FileRejected("invalid_file", f"The {file_type.name} file has no text.")
    yield batch


def _peak_memory_mb() -> float:
    """This process's peak address space (VmPeak), the quantity RLIMIT_AS caps."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmPeak:"):
                return int(line.split()[1]) / 1024
    return 0.0


_DAMAGED = (zipfile.BadZipFile, KeyError, pdfium.PdfiumError, UnicodeDecodeError, ValueError, XMLSyntaxError)
_NOT_A_PACKAGE = (DocxPackageNotFoundError, PptxPackageNotFoundError)


def _rejection(
    error: BaseException, file_type: FileType, path: str, filename: str, memory_mb: int
) -> FileRejected:
    """What a user should read about an exception raised while parsing."""
    if isinstance(error, MemoryError) or _peak_memory_mb() > 0.9 * memory_mb:
        # Parsers in C (lxml, pdfium) report a failed allocation as an error of their own.
        return FileRejected("invalid_file", f"The file needs more than {memory_mb} MB of memory to parse.")
    if (isinstance(error, pdfium.PdfiumError) and error.err_code == pdfium_c.FPDF_ERR_PASSWORD) or (
        isinstance(error, UnprocessableEntityError) and "password" in str(error).lower()
    ):
        return FileRejected(
            "invalid_file", "The file is password-protected; remove the password and upload it again."
        )
    kind = file_type.name
    if isinstance(error, _NOT_A_PACKAGE):
        return FileRejected(
            "invalid_file", f"The {kind} file is damaged: it is not a complete {kind} package."
        )
    detail = (str(error).strip() or type(error).__name__).replace(path, filename)[:300]
    if isinstance(error, _DAMAGED):
        return FileRejected("invalid_file", f"The {kind} file is damaged: {detail}")
    return FileRejected(
        "invalid_file",
        f"The {kind} file could not be read; it may be damaged ({type(error).__name__}: {detail}).",
    )


_RECYCLE_AFTER_FILES = 200
_RECYCLE_AFTER_GROWTH_MB = 256


def serve(conn: Connection, memory_mb: int) -> None:
    """Child entry point: parse the lists of `(path, filename)` the parent sends, file by file.

    For each file: ("elements", batch)*, then ("done", last batch, reusable) | ("rejected", code,
    message, reusable) | ("asset_missing", message); the last batch rides on "done", so a small
    file costs one message. `reusable` is False when this process should not take another file: it
    hit its memory limit, has grown (memory a Python process does not give back), or has parsed
    `_RECYCLE_AFTER_FILES` files; it then exits, and the parent sends the rest to a fresh fork.
    """
    _confine(memory_mb)
    start_mb = _peak_memory_mb()
    parsed = 0
    while True:
        try:
            files = conn.recv()
        except EOFError:
            return
        for path, filename in files:
            parsed += 1
            if not _answer(conn, path, filename, memory_mb, parsed < _RECYCLE_AFTER_FILES, start_mb):
                return


def _answer(conn: Connection, path: str, filename: str, memory_mb: int, reusable: bool, start_mb: float) -> bool:
    """Parse one file and send its messages; whether this process may parse another."""
    try:
        held: list[Element] = []
        for count, batch in enumerate(_parse(path, filename, memory_mb)):
            if count:
                conn.send(("elements", held))
            held = batch
        reusable = reusable and _peak_memory_mb() - start_mb < _RECYCLE_AFTER_GROWTH_MB
        conn.send(("done", held, reusable))
    except AssetMissing as error:
        conn.send(("asset_missing", str(error)))
    except FileRejected as error:
        reusable = reusable and _peak_memory_mb() - start_mb < _RECYCLE_AFTER_GROWTH_MB
        conn.send(("rejected", error.code, error.message, reusable))
    except MemoryError:
        message = f"The file needs more than {memory_mb} MB of memory to parse."
        conn.send(("rejected", "invalid_file", message, False))
        reusable = False
    finally:
        _TAGS.clear()
        _sentences.cache_clear()
    return reusable


def _import_parent_main() -> None:
    """In the forkserver: import the server's main script once, so that children do not each
    import it again (see `parse._share_main_path`)."""
    main_path = os.environ.get(MAIN_PATH_ENV)
    if main_path and getattr(sys.modules["__main__"], "__file__", None) != main_path:
        try:
            spawn.import_main_path(main_path)
        except Exception:
            # Then each child imports it: slower, still correct.
            logging.getLogger(__name__).warning("could not preload %s in the parser's forkserver", main_path)


def _compile_sorting() -> None:
    """Compile unstructured's XY-cut sort (numba: 2 s) once, here, rather than in every worker."""
    if _NLP is not None:  # else no worker can classify anything yet
        boxes = [(72.0, 700.0, 540.0, 712.0), (72.0, 600.0, 540.0, 612.0)]
        sort_page_elements(_classify(["Warm up.", "Warm up again."], boxes, 612.0, 792.0, 1), SORT_MODE_XY_CUT)


_import_parent_main()
_compile_sorting()
# Everything loaded so far is shared with each forked child, copy-on-write; a garbage collection in
# the child would walk (and so copy) all of it.
gc.freeze()
