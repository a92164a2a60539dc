"""What parsing hands to chunking, and how a file is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorCode = Literal["server_error", "unsupported_file", "invalid_file"]


@dataclass(frozen=True)
class Element:
    """One piece of a parsed document, in reading order."""

    text: str
    category: str  # unstructured's element type: Title, NarrativeText, Table, ListItem, ...
    page: int | None = None  # 1-based, where the format has pages
    section: str | None = None  # the nearest title above this element


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    token_count: int  # tiktoken tokens
    page: int | None = None  # page of the chunk's first token
    section: str | None = None
    page_end: int | None = None  # page of its last token: page_end > page when it spans a page break


class FileRejected(Exception):
    """A file that cannot be ingested; becomes the store file's `last_error`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
