"""OCR of scanned pages and image files, with Tesseract (tesserocr: libtesseract ships in its wheel).

Runs only in the parser's child process (see `_parse_worker`), under its time and memory limits.
The English model (tessdata_fast) and the orientation model are the pinned `tessdata` asset.

Chosen by measurement against RapidOCR (PP-OCRv6 small, ONNX), on 12 pages of ../shared/docs
rendered at 200 dpi (bench/ocr.py): with dot leaders erased Tesseract reads 0.982 of the words at
~1.1 s a page on one core, RapidOCR 0.978 at ~5.3 s on two (about 10 s of CPU), and Tesseract needs
no OpenCV. Upscaling pages, other page segmentation modes and the larger tessdata model gained
nothing that lasted (the figures are in bench/ocr.py's docstring).

Dot leaders (the rows of dots of a table of contents) are erased before a page is read: among them
Tesseract's layout analysis merges the columns and loses the entries' words (DA-619p.pdf's contents
pages: 0.63 and 0.77 of their words read with the leaders, 0.98 and 0.99 without; see
`_without_leaders`).

A page is read as it is; when Tesseract is unsure of it (mean word confidence under
`ROTATE_BELOW`), its orientation is detected and, if the page lies sideways or upside down, it is
turned and read again. The contrast is stretched first, so a faint scan reads like a clean one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tesserocr
from PIL import Image, ImageOps
from scipy import ndimage

DPI = 200  # PDF pages are rendered at this resolution to be read
MAX_PIXELS = 40_000_000  # a larger image (or page) is scaled down to this before it is read
ROTATE_BELOW = 60  # mean word confidence (0-100) under which the page's orientation is checked
MIN_CONFIDENCE = 30  # paragraphs read with less (noise, pictures) are dropped
LEADER_DOTS = 5  # a row of at least this many evenly spaced dots, nothing between them, is a dot leader
MAX_DOTS = 50_000  # a page with more dot-sized specks than this (noise) keeps them: looking would be slow


@dataclass(frozen=True)
class Block:
    """A paragraph read from an image; `bbox` in the image's pixels (left, top, right, bottom)."""

    text: str
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class Reading:
    blocks: list[Block]
    size: tuple[int, int]  # of the image the boxes refer to (turned upright)


class Reader:
    """One Tesseract engine per process, made at first use (~0.1 s) and reused for every page."""

    def __init__(self, tessdata: Path) -> None:
        path = f"{tessdata}/"
        self._text = tesserocr.PyTessBaseAPI(path=path, lang="eng", psm=tesserocr.PSM.AUTO)
        self._orientation = tesserocr.PyTessBaseAPI(path=path, lang="osd", psm=tesserocr.PSM.OSD_ONLY)

    def read(self, image: Image.Image) -> Reading:
        image = _prepared(image)
        blocks, confidence = self._read(_without_leaders(image))
        if confidence < ROTATE_BELOW:
            angle = self._upright_angle(image)
            if angle:
                turned = _without_leaders(image.rotate(angle, expand=True))
                turned_blocks, turned_confidence = self._read(turned)
                if turned_confidence > confidence:
                    return Reading(turned_blocks, turned.size)
        return Reading(blocks, image.size)

    def _read(self, image: Image.Image) -> tuple[list[Block], float]:
        api = self._text
        api.SetImage(image)
        api.Recognize()
        confidence = api.MeanTextConf()
        blocks = []
        level = tesserocr.RIL.PARA
        for paragraph in tesserocr.iterate_level(api.GetIterator(), level):
            text = paragraph.GetUTF8Text(level)
            box = paragraph.BoundingBox(level)
            if text and text.strip() and box and paragraph.Confidence(level) >= MIN_CONFIDENCE:
                blocks.append(Block(" ".join(text.split()), tuple(float(v) for v in box)))  # type: ignore[arg-type]
        api.Clear()
        return blocks, confidence

    def _upright_angle(self, image: Image.Image) -> int:
        """Degrees (counter-clockwise) that turn the page upright: 0, 90, 180 or 270."""
        api = self._orientation
        api.SetImage(image)
        try:
            found = api.DetectOrientationScript()
        except RuntimeError:  # too little text to tell
            found = None
        finally:
            api.Clear()
        return int(found["orient_deg"]) if found else 0


def _prepared(image: Image.Image) -> Image.Image:
    """Grayscale, at most `MAX_PIXELS`, contrast stretched (a faint or grey scan becomes black on white)."""
    gray = image.convert("L")
    pixels = gray.width * gray.height
    if pixels > MAX_PIXELS:
        scale = math.sqrt(MAX_PIXELS / pixels)
        size = (max(1, int(gray.width * scale)), max(1, int(gray.height * scale)))
        gray = gray.resize(size, Image.BILINEAR)
    return ImageOps.autocontrast(gray, cutoff=1)


_Dot = tuple[int, int, float, int, int]  # left, right, centre row, size, label


def _without_leaders(gray: Image.Image) -> Image.Image:
    """The page with its dot leaders (rows of evenly spaced dots, '....' or '…') painted white.

    A dot is a filled, roughly square speck of ink (two pixels or more) no larger than 1/300 of the
    page's height (7 pixels on a letter page at 200 dpi, below the x-height of 8-point text); a leader is a chain of at least `LEADER_DOTS` dots along one line,
    each within four dot sizes of the last with a gap of at least half a dot and no ink between
    them, evenly spaced. Letters are never chained: ink lies between them or they touch. Costs
    ~0.05-0.15 s on a 200-dpi page, ~1.3 s on one of `MAX_PIXELS` (mostly labelling its ink).
    """
    pixels = np.asarray(gray)
    ink = pixels < 128
    labels, count = ndimage.label(ink, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return gray
    areas = np.bincount(labels.ravel())
    limit = max(3, gray.height // 300)
    dots = []  # (left, right, centre row, size, label), by left edge
    for label, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        height, width = rows.stop - rows.start, cols.stop - cols.start
        if height <= limit and width <= limit and height <= 2 * width and width <= 2 * height:
            if areas[label] >= max(2, 0.55 * height * width):  # filled; a lone pixel is noise
                dots.append((cols.start, cols.stop, (rows.start + rows.stop) / 2, max(height, width), label))
                if len(dots) > MAX_DOTS:
                    return gray
    dots.sort()
    chains: list[list[_Dot]] = []
    ends: dict[int, list[list[_Dot]]] = {}  # the chains that may still grow, by their last dot's row // 4
    for dot in dots:
        key = int(dot[2] // 4)
        chain = None
        for k in (key - 1, key, key + 1):
            near = ends.get(k)
            if not near:
                continue
            near[:] = [c for c in near if c[-1][0] >= dot[0] - 4 * limit]  # too far left to grow
            chain = next((c for c in near if _follows(c[-1], dot, ink)), None)
            if chain is not None:
                near.remove(chain)
                break
        if chain is None:
            chain = []
            chains.append(chain)
        chain.append(dot)
        ends.setdefault(key, []).append(chain)
    erase = np.zeros(count + 1, dtype=bool)
    for chain in chains:
        if len(chain) >= LEADER_DOTS:
            pitch = np.diff([dot[0] for dot in chain])
            if pitch.std() <= 0.3 * pitch.mean() + 1:
                erase[[dot[4] for dot in chain]] = True
    if not erase.any():
        return gray
    cleaned = pixels.copy()
    cleaned[erase[labels]] = 255
    return Image.fromarray(cleaned)


def _follows(last: _Dot, dot: _Dot, ink: np.ndarray) -> bool:
    """`dot` continues a leader that ends with `last`: same line, similar size, near, clear between."""
    last_left, last_right, last_centre, last_size, _ = last
    left, _, centre, size, _ = dot
    larger = max(size, last_size)
    return (
        abs(centre - last_centre) <= max(1.5, size / 2)
        and left - last_right >= larger / 2
        and left - last_left <= 4 * larger
        and larger <= 2 * min(size, last_size)
        and not ink[int(centre - 1) : int(centre) + 2, last_right:left].any()
    )


def is_blank(image: Image.Image) -> bool:
    """Nothing to read: every pixel the same shade (a blank page)."""
    low, high = image.convert("L").getextrema()  # type: ignore[misc]
    return high - low < 16
