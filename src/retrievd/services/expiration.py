"""Expiration: stores past their `expires_at` become `expired`, files past theirs are deleted.

An expired store keeps its metadata (name, file list, timestamps) but loses its data: in one
transaction its chunk rows go, its files' and its own usage_bytes drop to 0 (with the ledger entry),
ingestion still in flight is cancelled and a purge job is queued for its index points. Its bytes stop
accruing at that transaction, i.e. at the sweep that finds it due (at most `expiration_interval_s`
after `expires_at`): the ledger records what was stored, and it was stored until then.

The same scheduler removes orphan blobs (`FileService.sweep_orphan_blobs`), every
`BLOB_SWEEP_INTERVAL_S`: a scan of the blobs directory, for garbage only a crash leaves.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from retrievd.errors import APIError
from retrievd.store.db import now
from retrievd.store.models import Chunk, File, Job, VectorStore, VectorStoreFile
from retrievd.usage.ledger import clear_store, lock_store

if TYPE_CHECKING:
    from retrievd.core import Core

log = logging.getLogger("retrievd.expiration")

BLOB_SWEEP_INTERVAL_S = 3600.0


def is_due(expires_at: int | None, t: int) -> bool:
    return expires_at is not None and expires_at <= t


def expire_store(core: Core, store_id: str) -> bool:
    """Expire one store if it is (still) due; True if it was expired by this call."""
    with core.db.session() as s:
        lock_store(s, store_id)
        store = s.get(VectorStore, store_id)
        if store is None or store.expired or not is_due(store.expires_at, now()):
            return False  # deleted, already expired, or searched (touched) since the sweep listed it
        clear_store(s, store, "store_expired")
        in_store = VectorStoreFile.vector_store_id == store_id
        s.execute(delete(Chunk).where(Chunk.vector_store_id == store_id))
        s.execute(update(VectorStoreFile).where(in_store).values(usage_bytes=0, chunk_count=0))
        s.execute(
            update(VectorStoreFile)
            .where(in_store, VectorStoreFile.status == "in_progress")
            .values(status="cancelled")
        )
        s.execute(
            update(Job).where(Job.vector_store_id == store_id, Job.status == "queued").values(status="done")
        )
        store.expired = True
        s.add(Job(kind="purge", project_id=store.project_id, vector_store_id=store_id))
    core.wake_workers()
    return True


@dataclass
class Sweep:
    expired_stores: list[str] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)


def sweep(core: Core) -> Sweep:
    """One pass: expire every due store, delete every due file (from its stores too)."""
    from retrievd.services.files import FileService

    t = now()
    result = Sweep()
    with core.db.session() as s:
        stores = list(
            s.execute(
                select(VectorStore.id).where(VectorStore.expired.is_(False), VectorStore.expires_at <= t)
            ).scalars()
        )
        files = s.execute(select(File.id, File.project_id).where(File.expires_at <= t)).all()
    result.expired_stores = [store_id for store_id in stores if expire_store(core, store_id)]
    for file_id, project_id in files:
        try:
            FileService(core).delete(project_id, file_id)
        except APIError:  # deleted by its owner since
            continue
        result.deleted_files.append(file_id)
    return result


class ExpirationScheduler:
    """A daemon thread that sweeps every `interval_s` seconds (the sweep itself reads the service clock),
    and orphan blobs every `BLOB_SWEEP_INTERVAL_S`."""

    def __init__(self, core: Core, interval_s: float) -> None:
        self.core = core
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="expiration", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        """Sweep at once (catching up on what came due while the service was down), then periodically."""
        next_blob_sweep = 0.0
        while True:
            self._sweep_expired()
            self._sweep_containers()
            if time.monotonic() >= next_blob_sweep:
                next_blob_sweep = time.monotonic() + BLOB_SWEEP_INTERVAL_S
                self._sweep_blobs()
            if self._stop.wait(self.interval_s):
                return

    def _sweep_expired(self) -> None:
        try:
            done = sweep(self.core)
        except Exception:  # the database may be briefly unavailable; the next sweep catches up
            log.exception("expiration sweep failed")
            return
        if done.expired_stores or done.deleted_files:
            log.info("expired %d stores, deleted %d files", len(done.expired_stores), len(done.deleted_files))

    def _sweep_containers(self) -> None:
        """Close idle sandboxes, and expire containers past their expires_after."""
        from retrievd.services.containers import ContainerService

        try:
            self.core.containers.close_idle()
            if expired := ContainerService(self.core).expire_idle():
                log.info("expired %d containers", len(expired))
        except Exception:  # the database may be briefly unavailable; the next sweep catches up
            log.exception("container sweep failed")

    def _sweep_blobs(self) -> None:
        from retrievd.services.files import FileService

        try:
            orphans = FileService(self.core).sweep_orphan_blobs()
        except Exception:  # the database or the blobs directory may be briefly unavailable
            log.exception("orphan blob sweep failed")
            return
        if orphans:
            log.info("removed %d orphan blobs", len(orphans))
