"""The application core: settings, database, blobs, index, models and workers, built once per process.

Heavy parts (the embedding model, the vector index) open on first use, so `retrievd serve`
answers within seconds and a missing model asset is an error on the requests that need it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from retrievd.config import Settings
from retrievd.jobs.queue import JobQueue
from retrievd.jobs.worker import WorkerPool
from retrievd.services.expiration import ExpirationScheduler
from retrievd.store.blobs import LocalBlobStore
from retrievd.store.db import Database

if TYPE_CHECKING:
    from retrievd.embedding import Embedder
    from retrievd.index.base import VectorIndex
    from retrievd.index.sparse import Bm25Encoder

log = logging.getLogger("retrievd")


class Core:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.sqlalchemy_url)
        self.db.create_all()
        self.blobs = LocalBlobStore(settings.blobs_dir)
        self.queue = JobQueue(self.db)
        self.workers: WorkerPool | None = None
        self.expiration: ExpirationScheduler | None = None
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._bm25: Bm25Encoder | None = None

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
                    from retrievd.index import open_index

                    self._index = open_index(self.settings, dim)
        return self._index

    @property
    def bm25(self) -> Bm25Encoder:
        if self._bm25 is None:
            with self._lock:
                if self._bm25 is None:
                    from retrievd.index.sparse import Bm25Encoder

                    self._bm25 = Bm25Encoder()
        return self._bm25

    def start_workers(self, threads: int | None = None) -> None:
        """Run ingestion and expiration sweeps in this process; an earlier run's unfinished jobs resume."""
        from retrievd.ingest.pipeline import job_handlers

        self.queue.requeue_stale(all_running=True)
        self.workers = WorkerPool(self.queue, job_handlers(self), threads=threads or self.settings.ingest_workers)
        self.workers.start()
        self.expiration = ExpirationScheduler(self, self.settings.expiration_interval_s)
        self.expiration.start()

    def wake_workers(self) -> None:
        if self.workers is not None:
            self.workers.wake()

    def close(self) -> None:
        if self.expiration is not None:
            self.expiration.stop()
            self.expiration = None
        if self.workers is not None:
            self.workers.stop()
            self.workers = None
        if self._index is not None:
            self._index.close()
            self._index = None
        self.db.dispose()
