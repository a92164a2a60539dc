"""File bytes, kept apart from metadata so that replicas can share a directory (or, later, an object store)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import BinaryIO, Protocol

from retrievd.errors import APIError

PARTIAL_SUFFIX = ".partial"  # an upload being written; renamed to its key once complete


class BlobStore(Protocol):
    def put(self, key: str, source: BinaryIO, max_bytes: int) -> tuple[int, str]: ...
    def path(self, key: str) -> Path: ...
    def delete(self, key: str) -> None: ...
    def older_than(self, age_s: float) -> list[str]: ...


class LocalBlobStore:
    """Blobs named by their object id only, never by a user's filename, so nothing escapes `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def put(self, key: str, source: BinaryIO, max_bytes: int) -> tuple[int, str]:
        """Stream `source` to disk; returns (size, sha256). Past `max_bytes` nothing is kept."""
        final = self.path(key)
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(partial, "wb") as out:
                while block := source.read(1 << 20):
                    size += len(block)
                    if size > max_bytes:
                        raise APIError(
                            413,
                            f"File is too large: the limit is {max_bytes} bytes.",
                            param="file",
                            code="file_too_large",
                        )
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return size, digest.hexdigest()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def older_than(self, age_s: float) -> list[str]:
        """Names of the blobs, complete or partial, last written over `age_s` seconds ago.

        By the wall clock, not the service's: file times come from the file system.
        """
        cutoff = time.time() - age_s
        names = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        names.append(entry.name)
                except FileNotFoundError:  # deleted since the directory was listed
                    continue
        return names
