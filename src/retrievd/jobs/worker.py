"""Threads that take jobs off the queue: in the API process by default, or in `retrievd worker`.

Each pool also reclaims, every `heartbeat_s`, the jobs of workers that died (see `JobQueue.reclaim`),
so one surviving process is enough for every job to finish.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Callable

from retrievd.jobs.queue import JobQueue, process_name
from retrievd.store.models import Job

log = logging.getLogger("retrievd.jobs")

Handler = Callable[[Job], None]
_pool_numbers = itertools.count()


class WorkerPool:
    def __init__(
        self,
        queue: JobQueue,
        handlers: dict[str, Handler],
        *,
        threads: int = 1,
        poll_s: float = 0.5,
        heartbeat_s: float = 10.0,
        on_idle: Callable[[], object] | None = None,
    ) -> None:
        self.queue = queue
        self.on_idle = on_idle
        self.handlers = handlers
        self.threads = threads
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count = threading.Lock()
        self._running = 0  # jobs running in this pool now
        self._prefix = f"{process_name()}:{next(_pool_numbers)}"

    def start(self) -> None:
        for n in range(self.threads):
            t = threading.Thread(
                target=self._loop, args=(f"{self._prefix}:{n}",), name=f"worker-{n}", daemon=True
            )
            t.start()
            self._threads.append(t)
        reaper = threading.Thread(target=self._reclaim_loop, name="job-reaper", daemon=True)
        reaper.start()
        self._threads.append(reaper)

    def wake(self) -> None:
        """Called after enqueueing so a job starts without waiting for the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def _loop(self, worker_id: str) -> None:
        worked = False
        while not self._stop.is_set():
            try:
                job = self.queue.claim(worker_id, tuple(self.handlers))
            except Exception:  # the database may be briefly unavailable; try again later
                log.exception("claiming a job failed")
                job = None
            if job is None:
                if worked and self.on_idle is not None and not self._running:  # the whole pool ran dry
                    try:
                        self.on_idle()
                    except Exception:
                        log.exception("the idle hook failed")
                worked = False
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            worked = True
            with self._count:
                self._running += 1
            try:
                self._run(job, worker_id)
            finally:
                with self._count:
                    self._running -= 1

    def _reclaim_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if reclaimed := self.queue.reclaim():
                    log.warning("reclaimed %d jobs of dead workers", reclaimed)
            except Exception:
                log.exception("reclaiming jobs failed")

    def _run(self, job: Job, worker_id: str) -> None:
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                try:
                    self.queue.heartbeat(job.id, worker_id)
                except Exception:
                    log.exception("heartbeat failed")

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        try:
            self.handlers[job.kind](job)
            self.queue.finish(job.id, worker_id)
        except Exception:
            error = traceback.format_exc()
            log.error("job %s (%s) failed: %s", job.id, job.kind, error)
            self.queue.retry_or_fail(job.id, worker_id, error)
        finally:
            done.set()
            beater.join()

    def drain(self, worker_id: str | None = None) -> int:
        """Run queued jobs in the calling thread until none is left (CLI ingestion, tests)."""
        worker_id = worker_id or f"{self._prefix}:inline"
        ran = 0
        while (job := self.queue.claim(worker_id, tuple(self.handlers))) is not None:
            self._run(job, worker_id)
            ran += 1
        return ran
