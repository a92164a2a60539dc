"""Document parsing: a stored file -> `Element`s, with unstructured, in a bounded child process.

unstructured runs in a child process, never in the server: a worker forked from a forkserver that
has preloaded it (unstructured, the spaCy model: ~4 s of imports on 2 cores, paid once per server
process). The child has an address-space limit (RLIMIT_AS) and no network; the parent kills it at
the timeout. So a zip bomb, a hostile PDF or a parser crash rejects that file and never takes the
server down. The warm child parses file after file; it is replaced by a fresh fork after a
timeout, a crash, a file that hit the memory limit, once it has grown 256 MB, or after 200 files.
Measured on small files (bench/parse.py --overhead, 2 busy cores): a reused worker adds ~1-10 ms
to the parse itself, a new fork per file 60-200 ms (fork, copy-on-write faults, exit: ~60 ms of
CPU), a fresh interpreter per file 10-15 s.

The type comes from the content (libmagic, zip/OLE inspection), the name's extension only breaking
ties: a DOCX named .pdf parses as DOCX, a PNG named .pdf is read as an image. PDFs use
unstructured's fast strategy (the text layer; never a layout model or a download), with pdfium
reading the text instead of pdfminer (`pdf_layout`: 6x faster on a 619-page PDF), a page at a time
(`iter_parse` hands each page over as it is parsed). A page without a usable text layer (under 20
characters, and an image on it: a scan) is rendered at 200 dpi and read by OCR (`ocr`, Tesseract);
so is each page of a PNG, JPEG, TIFF, WebP or BMP image. Mixed PDFs: only the scanned pages are OCR'd.

Elements keep unstructured's category, the 1-based page (PDF page, DOCX page where Word recorded
page breaks, PPTX slide, XLSX sheet) and the section: the text of the nearest Title at or above.
Dropped: empty elements, page breaks, page numbers, images (alt text), and headers/footers that
are boilerplate (a page number, or a repeat of an earlier header/footer). Tables keep their text.

Outcomes on the real documents in /work/shared/docs (tests/test_parse.py checks each):

| file                                  | outcome                                                   |
|---------------------------------------|-----------------------------------------------------------|
| empty.txt                             | invalid_file "The file is empty."                         |
| empty.eml (whitespace only)           | invalid_file "The EML file has no text."                  |
| single_table.pdf (a scanned image)    | parses: its table read by OCR                             |
| password_protected.xlsx               | invalid_file "The file is password-protected; ..."        |
| failure-after-repair.pdf              | parses: 76 pages. unstructured's partition_pdf returns    |
|                                       | nothing (a drawing-heavy page trips its "too complex"     |
|                                       | check); users expect the text of a text PDF searchable    |
| copy-protected.pdf                    | parses: the flag restricts copying in viewers; it is not  |
|                                       | a password, and users expect their own text searchable    |
| fake-power-point-malformed.pptx       | parses (the slide text python-pptx can read)              |
| pdf-bad-color-space.pdf               | parses (color errors do not affect text)                  |
| negative-coords.pdf                   | parses (its text sits at negative coordinates)            |
| fake-text-utf-16.txt                  | parses (UTF-16 detected)                                  |
| fake-html-cp1252.html                 | parses ("schöne", "köstlich" decoded from cp1252)         |
| korean-text-with-tables.pdf           | parses (Hangul text)                                      |
| fake-email*.eml                       | parses: the subject (a Title) + the body; attachments are |
|                                       | not parsed                                                |
| every other file                      | parses with real text                                     |

Files that are not documents: HEIC images -> unsupported_file; .doc/.ppt/.xls -> unsupported_file
(save as the x format); unknown content -> unsupported_file naming the supported types; a file
named as a supported type whose content is another unsupported type -> unsupported_file saying so;
a damaged file of a supported type -> invalid_file "The DOCX file is damaged: ..."; an image or a
scanned PDF in which OCR finds no text -> invalid_file. Limits: an image frame over 100 million
pixels -> invalid_file, read from its header (a decompression bomb is never decoded); a zip
archive (DOCX, XLSX, PPTX, ODT, EPUB) whose central directory declares over 1 GiB unpacked, over
100,000 members or, past 100 MB, over 200 times the file's size -> invalid_file from the server
itself, in milliseconds (`check_zip`: such a bomb could hold a parser for minutes); over
`timeout_s` -> invalid_file; over `memory_mb` of address space (the preloaded child starts with
~0.75 GB of it) -> invalid_file; a child killed by a signal -> invalid_file naming the signal; a
child that could not start or exited otherwise -> server_error.
The spaCy model or the OCR model (`tessdata`) missing -> `AssetMissingError` naming
`retrievd models pull` (not a file problem).
"""

from __future__ import annotations

import functools
import mmap
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import spawn
from multiprocessing.connection import Connection
from pathlib import Path
from typing import ClassVar

from retrievd.errors import AssetMissingError
from retrievd.ingest.types import Element, FileRejected

SUPPORTED_EXTENSIONS = (
    ".pdf, .docx, .pptx, .xlsx, .html, .md, .txt (and source code), .csv, .tsv, .json, .eml, .odt, .rtf, "
    ".epub, .xml, and images read by OCR: .png, .jpg, .tiff, .webp, .bmp"
)
MAIN_PATH_ENV = "RETRIEVD_PARSER_MAIN_PATH"

# Past these a zip is refused unopened. The parser holds a document's XML as a tree several times its
# size, so 1 GiB of it exceeds any sensible memory limit; real documents unpack to a few times their
# size (images are stored compressed already).
MAX_UNZIPPED_BYTES = 1 << 30
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_RATIO = 200
ZIP_RATIO_FROM_BYTES = 100 * 1024 * 1024

_END = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_MEMBER = struct.Struct("<4s6H3L5H2L")  # central directory file header
_MB = 1024 * 1024

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["retrievd.ingest._parse_worker"])


def parse_file(path: Path, filename: str, *, timeout_s: float = 600, memory_mb: int = 4096) -> list[Element]:
    """Parse the file at `path` (named `filename` by its uploader) into elements, in reading order.

    Raises `FileRejected` for a file that cannot be ingested (its message is meant for the user)
    and `AssetMissingError` when the spaCy model unstructured needs is not installed.
    """
    return [
        element
        for batch in iter_parse(path, filename, timeout_s=timeout_s, memory_mb=memory_mb)
        for element in batch
    ]


Parsed = list[Element] | FileRejected | AssetMissingError  # a file's elements, or why it has none


# Children that parse one group side by side: the model waits while a group is parsed, so on a
# 2-core machine the second core would otherwise idle (bench/small_files.py).
GROUP_PARSERS = 2


def parse_files(
    files: Sequence[tuple[Path, str]], *, timeout_s: float = 600, memory_mb: int = 4096
) -> list[Parsed]:
    """`parse_file` of each (path, filename), its outcome in its place: for a group of small files.

    The files are shared among GROUP_PARSERS warm children. Each child is sent its whole share and
    parses file after file, answering as it goes, so files do not each wait for a round trip.
    Each file keeps its own time limit, counted from the previous file's answer; a file that
    times out or kills its child fails alone, and the files after it go to a fresh child.
    """
    outcomes: dict[int, Parsed] = {}
    todo: list[int] = []
    for i, (path, _) in enumerate(files):
        try:
            check_zip(path)
            todo.append(i)
        except FileRejected as error:
            outcomes[i] = error
    shares = [share for k in range(GROUP_PARSERS) if (share := todo[k::GROUP_PARSERS])]

    def parse_share(share: list[int]) -> list[Parsed]:
        return _parse_in_turn([files[i] for i in share], timeout_s, memory_mb)

    if len(shares) > 1:
        with ThreadPoolExecutor(len(shares), thread_name_prefix="retrievd-parse") as pool:
            parts = list(pool.map(parse_share, shares))
    else:
        parts = [parse_share(share) for share in shares]
    for share, part in zip(shares, parts, strict=True):
        outcomes.update(zip(share, part, strict=True))
    return [outcomes[i] for i in range(len(files))]


def _parse_in_turn(files: Sequence[tuple[Path, str]], timeout_s: float, memory_mb: int) -> list[Parsed]:
    """The files' outcomes, parsed in order by one child, or a fresh one after each that stops."""
    outcomes: list[Parsed] = []
    while len(outcomes) < len(files):
        try:
            exchange = _Exchange(memory_mb, files[len(outcomes) :])
        except FileRejected as error:  # no child could be started: that file fails, as parse_file's would
            outcomes.append(error)
            continue
        try:
            while exchange.open:
                try:
                    outcomes.append([e for batch in exchange.next_file(timeout_s) for e in batch])
                except (FileRejected, AssetMissingError) as error:
                    outcomes.append(error)
        finally:
            exchange.close()
    return outcomes


def iter_parse(
    path: Path, filename: str, *, timeout_s: float = 600, memory_mb: int = 4096
) -> Iterator[list[Element]]:
    """`parse_file` as it goes: one batch per PDF page (other formats: one batch), so embedding can
    start before a long PDF is parsed. The timeout covers the whole parse, consumer's time included;
    closing the iterator early stops the child."""
    check_zip(path)
    exchange = _Exchange(memory_mb, [(path, filename)])
    try:
        yield from exchange.next_file(timeout_s)
    finally:
        exchange.close()


class _Exchange:
    """A warm child's work on a list of files, sent at once and answered in order (`next_file`).

    The child sends ("elements", batch)* then ("done", last batch, reusable) | ("rejected", code,
    message, reusable) | ("asset_missing", message) for each file (`_parse_worker.serve`), and
    exits after a file that leaves it not reusable. `open` turns False once it will answer no more.
    """

    def __init__(self, memory_mb: int, files: Sequence[tuple[Path, str]]) -> None:
        self.worker = _Worker.take(memory_mb)
        self.files = [(str(path), filename) for path, filename in files]
        self.answered = 0
        self.open = True  # it may answer more files
        self.reusable = False  # it may take more files after these
        self._sent = False

    def next_file(self, timeout_s: float) -> Iterator[list[Element]]:
        """The next file's batches; raises FileRejected or AssetMissingError as `parse_file` does."""
        conn, deadline = self.worker.conn, time.monotonic() + timeout_s
        if not self._sent:
            self._sent = True
            try:
                conn.send(self.files)
            except OSError:
                self.open = False
                raise self.worker.died() from None
        while True:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                self.open = False
                raise FileRejected(
                    "invalid_file",
                    f"Parsing took longer than {timeout_s:g} s and was stopped; the file may be too large or too complex.",
                )
            try:
                message = conn.recv()
            except EOFError:
                self.open = False
                raise self.worker.died() from None
            match message:
                case ("elements", batch):
                    yield batch
                case ("done", batch, reusable):
                    self._answer(reusable)
                    yield batch
                    return
                case ("rejected", code, text, reusable):
                    self._answer(reusable)
                    raise FileRejected(code, text)
                case ("asset_missing", text):
                    self._answer(True)
                    raise AssetMissingError(text)

    def _answer(self, reusable: bool) -> None:
        self.answered += 1
        self.reusable = reusable
        self.open = reusable and self.answered < len(self.files)

    def close(self) -> None:
        """Keep the child warm if it answered every file and may take more; else stop it."""
        if self.answered == len(self.files) and self.reusable:
            self.worker.give_back()
        else:
            self.worker.stop()


def check_zip(path: Path) -> None:
    """Refuse a zip bomb from its central directory alone, before a parser spends its limits on it.

    Python's zipfile (the DOCX, XLSX and PPTX parsers) never yields more than a member's declared
    size; an archive that understates them (for pandoc, which reads ODT and EPUB) still meets the
    parser's limits. Not a zip, a damaged one or an unreadable file: the parser reports it as usual.
    """
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            size, totals = len(data), _zip_totals(data)
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return
    if totals is None:
        return
    members, unzipped = totals
    refused = "it may be a zip bomb and was not parsed."
    if members > MAX_ZIP_MEMBERS:
        raise FileRejected(
            "invalid_file",
            f"The file is a zip archive of more than {MAX_ZIP_MEMBERS:,} members, the limit; {refused}",
        )
    if unzipped > ZIP_RATIO_FROM_BYTES and unzipped > MAX_ZIP_RATIO * size:
        raise FileRejected(
            "invalid_file",
            f"The file is a zip archive that would unpack to {unzipped // _MB:,} MB, {unzipped // size:,} times "
            f"its own size (the limit is {MAX_ZIP_RATIO} times); {refused}",
        )
    if unzipped > MAX_UNZIPPED_BYTES:
        raise FileRejected(
            "invalid_file",
            f"The file is a zip archive that would unpack to {unzipped // _MB:,} MB (the limit is "
            f"{MAX_UNZIPPED_BYTES // _MB:,} MB); {refused}",
        )


def _zip_totals(data: mmap.mmap) -> tuple[int, int] | None:
    """(members, declared unpacked bytes) from the central directory, given up on past
    `MAX_ZIP_MEMBERS`; None when there is no readable directory."""
    directory = _zip_directory(data)
    if directory is None:
        return None
    at, end, declared = directory
    if declared > MAX_ZIP_MEMBERS:
        return declared, 0
    members = unzipped = 0
    while at < end and members <= MAX_ZIP_MEMBERS:
        if at + _MEMBER.size > len(data) or data[at : at + 4] != b"PK\x01\x02":
            return None
        *_, member_size, name_len, extra_len, comment_len, _disk, _internal, _external, _offset = (
            _MEMBER.unpack_from(data, at)
        )
        extra_at = at + _MEMBER.size + name_len
        if member_size == 0xFFFFFFFF:
            member_size = _zip64_size(data[extra_at : extra_at + extra_len], member_size)
        at = extra_at + extra_len + comment_len
        members += 1
        unzipped += member_size
    return members, unzipped


def _zip_directory(data: mmap.mmap) -> tuple[int, int, int] | None:
    """(start, end, declared members) of the central directory, found as zipfile finds it: from the
    end record in the last 64 KiB, preceded by a zip64 record for a large archive."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - _END.size - 0xFFFF))
    if at < 0 or len(data) - at < _END.size:
        return None
    *_, declared, length, _offset, _comment = _END.unpack_from(data, at)
    locator = at - _ZIP64_LOCATOR.size
    if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        at = locator - _ZIP64_END.size
        if at < 0 or data[at : at + 4] != b"PK\x06\x06":
            return None
        *_, declared, length, _offset = _ZIP64_END.unpack_from(data, at)
    if at - length < 0:
        return None
    return at - length, at, declared


def _zip64_size(extra: bytes, default: int) -> int:
    """A member's unpacked size from its zip64 extra field; without one, zipfile keeps `default`."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, at)
        if kind == 0x0001 and length >= 8 and at + 12 <= len(extra):
            return int(struct.unpack_from("<Q", extra, at + 4)[0])
        at += 4 + length
    return default


class _Worker:
    """A warm child that parses files one after another, each under the same limits.

    It is replaced after a timeout, a crash, a file whose elements were not all read, and whenever
    it asks to be (it has grown by a few hundred MB, or parsed many files: `_parse_worker.serve`).
    """

    _idle: ClassVar[list[_Worker]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.conn, child_end = _context.Pipe()
        self.process = _context.Process(
            target=_serve, args=(child_end, memory_mb), name="retrievd-parse", daemon=True
        )
        _share_main_path()
        try:
            self.process.start()
        except OSError as error:
            raise FileRejected("server_error", f"The parser process could not be started: {error}") from error
        finally:
            child_end.close()

    @classmethod
    def take(cls, memory_mb: int) -> _Worker:
        """An idle worker with these limits, or a new one (a fork of the warm forkserver)."""
        with cls._lock:
            for worker in [w for w in cls._idle if w.memory_mb == memory_mb]:
                cls._idle.remove(worker)
                if worker.process.is_alive():
                    return worker
                worker.stop()
        return cls(memory_mb)

    def give_back(self) -> None:
        with self._lock:
            self._idle.append(self)

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def died(self) -> FileRejected:
        self.process.join()
        code = self.process.exitcode
        if code is not None and code < 0:
            return FileRejected(
                "invalid_file",
                f"The parser crashed on this file ({signal.Signals(-code).name}); it may be damaged or need "
                f"more than {self.memory_mb} MB of memory.",
            )
        return FileRejected("server_error", f"The parser process exited unexpectedly (exit code {code}).")


@functools.cache  # once per process: the main script does not change
def _share_main_path() -> None:
    """Tell the forkserver (through its environment, before it starts) which main script to import.

    A child started by multiprocessing imports the parent's main script unless its forkserver did;
    Python 3.11's forkserver never does (it drops the path when asked to preload "__main__"). For a
    server started by its console script that re-import is retrievd.cli, 1 s per file.
    """
    main_path = spawn.get_preparation_data("retrievd-parse").get("init_main_from_path")
    if main_path:
        os.environ[MAIN_PATH_ENV] = main_path
    else:  # not inherited from a parent process with another main
        os.environ.pop(MAIN_PATH_ENV, None)


def _serve(conn: Connection, memory_mb: int) -> None:
    # The worker module is imported here, in the child (the forkserver preloaded it), never in the server.
    from retrievd.ingest import _parse_worker

    _parse_worker.serve(conn, memory_mb)
