"""Threads that take jobs off the queue: in the API process by default, or in `retrievd worker`.

A kind of job with a group handler is taken in groups: the first job queued and up to
`group_size - 1` more of its kind, claimed, run and finished together, so that many small files
share one claim, one embedding call, one transaction and one index flush. A group that raises is
run again one job at a time, so a job that fails fails alone (and retries alone).

Each pool also reclaims, every `heartbeat_s`, the jobs of workers that died (see `JobQueue.reclaim`),
so one surviving process is enough for every job to finish.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from retrievd.jobs.queue import JobQueue, process_name
from retrievd.store.models import Job

log = logging.getLogger("retrievd.jobs")

Handler = Callable[[Job], None]
GroupHandler = Callable[[list[Job]], None]
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
        group_handlers: dict[str, GroupHandler] | None = None,
        group_size: int = 64,
    ) -> None:
        self.queue = queue
        self.on_idle = on_idle
        self.handlers = handlers
        self.group_handlers = group_handlers or {}
        self.group_size = group_size
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
                self._run_claimed(job, worker_id)
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

    def _run_claimed(self, job: Job, worker_id: str) -> None:
        """Run a claimed job, with more of its kind claimed beside it if the kind runs in groups."""
        group_handler = self.group_handlers.get(job.kind)
        if group_handler is None or self.group_size < 2:
            self._run(job, worker_id)
            return
        jobs = [job, *self.queue.claim_many(worker_id, (job.kind,), self.group_size - 1)]
        if len(jobs) == 1:
            self._run(job, worker_id)
            return
        try:
            with self._beating([j.id for j in jobs], worker_id):
                group_handler(jobs)
                self.queue.finish([j.id for j in jobs], worker_id)
        except Exception:
            log.warning("a group of %d %s jobs failed; running them one at a time", len(jobs), job.kind)
            for one in jobs:
                self._run(one, worker_id)

    @contextmanager
    def _beating(self, job_ids: list[int], worker_id: str) -> Iterator[None]:
        """Heartbeat the jobs while the block runs, so no other process takes them as abandoned."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                try:
                    self.queue.heartbeat(job_ids, worker_id)
                except Exception:
                    log.exception("heartbeat failed")

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        try:
            yield
        finally:
            done.set()
            beater.join()

    def _run(self, job: Job, worker_id: str) -> None:
        try:
            with self._beating([job.id], worker_id):
                self.handlers[job.kind](job)
                self.queue.finish([job.id], worker_id)
        except Exception:
            error = traceback.format_exc()
            log.error("job %s (%s) failed: %s", job.id, job.kind, error)
            self.queue.retry_or_fail(job.id, worker_id, error)

    def drain(self, worker_id: str | None = None) -> int:
        """Run queued jobs in the calling thread until none is left (CLI ingestion, tests)."""
        worker_id = worker_id or f"{self._prefix}:inline"
        ran = 0
        while (job := self.queue.claim(worker_id, tuple(self.handlers))) is not None:
            self._run_claimed(job, worker_id)
            ran += 1
        return ran
