"""The application core: settings, database, blobs, index, models and workers, built once per process.

Heavy parts (the embedding model, the vector index) open on first use, so `retrievd serve`
answers within seconds and a missing model asset is an error on the requests that need it.

Which process writes the index: with a Qdrant server, every one; with the embedded Qdrant Edge
shard (which one process opens at a time), only its owner, i.e. a `serve` with no
`index_owner_url`. Other `serve` processes search through the owner (`retrievd.index.owner`),
and `retrievd worker` processes never write the index: they leave chunk rows and an
`index_file` job that the owner applies (see `retrievd.ingest.pipeline`). A worker searches (for
the runs it executes) through the owner too, so it takes runs only when it knows the owner.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from retrievd.config import Settings
from retrievd.index.owner import OwnerLock
from retrievd.jobs.queue import JobQueue
from retrievd.jobs.worker import WorkerPool
from retrievd.runtime.code_interpreter import Containers
from retrievd.services.expiration import ExpirationScheduler
from retrievd.store.blobs import LocalBlobStore
from retrievd.store.db import Database

if TYPE_CHECKING:
    from retrievd.embedding import Embedder
    from retrievd.index.base import VectorIndex
    from retrievd.index.sparse import Bm25Encoder

log = logging.getLogger("retrievd")


class Core:
    def __init__(self, settings: Settings, *, worker: bool = False) -> None:
        """`worker`: a `retrievd worker` process, which never opens an embedded index."""
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.sqlalchemy_url)
        self.db.migrate()
        self.blobs = LocalBlobStore(settings.blobs_dir)
        self.queue = JobQueue(self.db)
        self.writes_index = settings.qdrant_url is not None or (
            settings.index_owner_url is None and not worker
        )
        self.workers: list[WorkerPool] = []
        self.expiration: ExpirationScheduler | None = None
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._bm25: Bm25Encoder | None = None
        self._owner_lock = OwnerLock(self.db.engine)
        self.containers = Containers(self.db, settings.data_dir / "containers", settings.container_idle_s)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from retrievd import assets
                    from retrievd.embedding import get_embedder

                    assets.configure_runtime(self.settings)
                    self._embedder = get_embedder(self.settings)
        return self._embedder

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            dim = self.embedder.dim
            with self._lock:
                if self._index is None:
                    self._index = self._open_index(dim)
        return self._index

    def _open_index(self, dim: int) -> VectorIndex:
        if self.writes_index:
            from retrievd.index import open_index

            self.claim_index()
            return open_index(self.settings, dim)
        if self.settings.index_owner_url is None:
            raise RuntimeError(
                "A `retrievd worker` never opens the embedded index; set RETRIEVD_INDEX_OWNER_URL to read it."
            )
        from retrievd.index.owner import RemoteIndex

        return RemoteIndex(self.settings.index_owner_url, dim, key=self.settings.api_key)

    @property
    def bm25(self) -> Bm25Encoder:
        if self._bm25 is None:
            with self._lock:
                if self._bm25 is None:
                    from retrievd.index.sparse import Bm25Encoder

                    self._bm25 = Bm25Encoder()
        return self._bm25

    def claim_index(self, wait_s: float = 30.0) -> None:
        """Become the owner of this database's embedded index (a no-op with a Qdrant server).

        Raises RuntimeError while another process owns it; waits `wait_s` first, the time the
        database takes to notice that a killed owner (or its machine) is gone."""
        deadline = time.monotonic() + wait_s
        while self.settings.qdrant_url is None and not self._owner_lock.acquire():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "Another process owns the embedded index of this database. Stop it, or make this process read "
                    "through it (RETRIEVD_INDEX_OWNER_URL) and leave ingestion to `retrievd worker`."
                )
            time.sleep(0.5)

    @property
    def can_search(self) -> bool:
        """Whether this process can search: not a `retrievd worker` with the embedded index and no
        owner to read it through."""
        return self.writes_index or self.settings.index_owner_url is not None

    def start_workers(self, threads: int | None = None) -> None:
        """Run this process's share of the background work: `threads` ingestion threads (default
        `ingest_workers`; 0 = none), `runtime_workers` threads for runs if this process can search
        (their file_search does), one thread applying index jobs if this process writes the index,
        and expiration sweeps. Jobs of dead workers (an earlier run of this one) resume."""
        from retrievd.ingest.pipeline import INDEX_JOBS, INGEST_JOBS, group_handlers, job_handlers
        from retrievd.runtime.executor import runtime_job_handlers

        if self.writes_index:
            self.claim_index()  # fail at start, not at the first index job
        self.queue.reclaim()
        threads = self.settings.ingest_workers if threads is None else threads
        if threads:
            self.workers.append(
                WorkerPool(
                    self.queue,
                    job_handlers(self, INGEST_JOBS),
                    threads=threads,
                    group_handlers=group_handlers(self, INGEST_JOBS),
                )
            )
        runs = self.settings.runtime_workers
        if runs and not self.can_search:
            log.warning("This worker takes no runs: their file_search needs RETRIEVD_INDEX_OWNER_URL.")
        elif runs:
            # A pool of its own, so that runs never wait behind ingestion, nor ingestion behind runs
            # (which can wait on a model for minutes).
            self.workers.append(WorkerPool(self.queue, runtime_job_handlers(self), threads=runs, poll_s=1.0))
        if self.writes_index:
            # A pool of its own, so that index jobs never wait behind a long ingestion. One thread:
            # qdrant-edge holds the GIL while it writes or flushes, so more threads would not overlap.
            # When the index jobs drain, new points get their HNSW graph (a no-op below ~7k of them;
            # a pause of seconds per ~10k chunks, which searches would otherwise pay in scans).
            self.workers.append(
                WorkerPool(
                    self.queue,
                    job_handlers(self, INDEX_JOBS),
                    threads=1,
                    group_handlers=group_handlers(self, INDEX_JOBS),
                    on_idle=lambda: self.index.optimize(),
                )
            )
        for pool in self.workers:
            pool.start()
        self.expiration = ExpirationScheduler(self, self.settings.expiration_interval_s)
        self.expiration.start()

    def wake_workers(self, *kinds: str) -> None:
        """Start queued jobs now rather than at the next poll: in the pools that take any of `kinds`
        (default: every pool)."""
        for pool in self.workers:
            if not kinds or any(kind in pool.handlers for kind in kinds):
                pool.wake()

    def close(self) -> None:
        self.containers.close_all()
        if self.expiration is not None:
            self.expiration.stop()
            self.expiration = None
        for pool in self.workers:
            pool.stop()
        self.workers.clear()
        if self._index is not None:
            self._index.close()
            self._index = None
        self._owner_lock.release()
        self.db.dispose()
