"""OCR of scanned pages and image files, with Tesseract (tesserocr: libtesseract ships in its wheel).

Runs only in the parser's child process (see `_parse_worker`), under its time and memory limits.
The English model (tessdata_fast) and the orientation model are the pinned `tessdata` asset.

Chosen by measurement against RapidOCR (PP-OCRv6 small, ONNX), on 12 pages of ../shared/docs
rendered at 200 dpi (bench/ocr.py): Tesseract reads ~1.2 s a page on one core, RapidOCR ~5.3 s on
two (about 10 s of CPU); RapidOCR reads tables of contents' dot leaders better, Tesseract needs no
OpenCV (the figures are in bench/ocr.py's docstring).

A page is read as it is; when Tesseract is unsure of it (mean word confidence under
`ROTATE_BELOW`), its orientation is detected and, if the page lies sideways or upside down, it is
turned and read again. The contrast is stretched first, so a faint scan reads like a clean one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import tesserocr
from PIL import Image, ImageOps

DPI = 200  # PDF pages are rendered at this resolution to be read
MAX_PIXELS = 40_000_000  # a larger image (or page) is scaled down to this before it is read
ROTATE_BELOW = 60  # mean word confidence (0-100) under which the page's orientation is checked
MIN_CONFIDENCE = 30  # paragraphs read with less (noise, pictures) are dropped


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
        blocks, confidence = self._read(image)
        if confidence < ROTATE_BELOW:
            angle = self._upright_angle(image)
            if angle:
                turned = image.rotate(angle, expand=True)
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


def is_blank(image: Image.Image) -> bool:
    """Nothing to read: every pixel the same shade (a blank page)."""
    low, high = image.convert("L").getextrema()  # type: ignore[misc]
    return high - low < 16
