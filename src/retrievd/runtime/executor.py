"""Where runs execute: as durable jobs on the shared job queue, in a worker pool of their own.

A run (or a background response) is a `Job` row written in the same transaction as the run's own
row, which points at it (`job_id`). Without streaming, the runtime's worker pool takes the job.
With streaming, the request hands the job to a thread of its own, already claimed, and relays the
run's events to the client; a client that goes away does not stop the run. Either way, if the
process dies, the job goes back to the queue at the next start and the run is taken up again
(or ends `failed` when it keeps getting interrupted): never stuck.

The runtime's pool claims only its own kinds, so runs never wait behind ingestion.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from retrievd.jobs.queue import process_name
from retrievd.jobs.worker import Handler, WorkerPool
from retrievd.store.models import Job

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

    from retrievd.core import Core

log = logging.getLogger("retrievd.runtime")

RUN_JOB = "assistant_run"
RESPONSE_JOB = "response"
HEARTBEAT_S = 10.0
# Claims of one job (each start or restart counts one) after which the run is failed, not retried.
MAX_CLAIMS = 3

Event = tuple[str, Any]
Emit = Callable[[str, Any], None]


def runtime_job_handlers(core: Core) -> dict[str, Handler]:
    from retrievd.runtime.assistant_runs import drive_run_job
    from retrievd.runtime.response_runs import drive_response_job

    return {
        RUN_JOB: lambda job: drive_run_job(core, job),
        RESPONSE_JOB: lambda job: drive_response_job(core, job),
    }


class RuntimeExecutor:
    def __init__(self, core: Core) -> None:
        self.core = core
        # Named like the pools' workers, so that the queue can tell when this process is gone.
        self.stream_worker_id = f"{process_name()}:stream"
        self.pool: WorkerPool | None = None

    def start(self) -> None:
        if self.pool is None:
            self.pool = WorkerPool(
                self.core.queue,
                runtime_job_handlers(self.core),
                threads=self.core.settings.runtime_workers,
                poll_s=1.0,
            )
            self.pool.start()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.stop()
            self.pool = None

    def add_job(self, s: Session, kind: str, project_id: str, *, streaming: bool) -> Job:
        """A job for a run, in the caller's transaction; a streaming one is claimed by this process at once."""
        job = Job(kind=kind, project_id=project_id)
        if streaming:
            job.status = "running"
            job.claimed_by = self.stream_worker_id
            job.heartbeat_at = time.time()
            job.attempts = 1
        s.add(job)
        s.flush()
        return job

    def wake(self) -> None:
        if self.pool is not None:
            self.pool.wake()

    def stream(self, job_id: int | None, drive: Callable[[Emit], None]) -> Iterator[Event]:
        """Run `drive(emit)` in its own thread and yield what it emits, until it returns.

        `job_id` is the claimed job to heartbeat and finish; None for work nothing durable tracks.
        """
        events: queue.Queue[Event | None] = queue.Queue()

        def target() -> None:
            done = threading.Event()

            def beat() -> None:
                while job_id is not None and not done.wait(HEARTBEAT_S):
                    self.core.queue.heartbeat(job_id, self.stream_worker_id)

            beater = threading.Thread(target=beat, daemon=True)
            beater.start()
            try:
                drive(lambda name, data: events.put((name, _snapshot(data))))
            except Exception:
                log.exception("streamed job %s failed", job_id)
            finally:
                done.set()
                if job_id is not None:
                    self.core.queue.finish(job_id, self.stream_worker_id)
                events.put(None)

        threading.Thread(target=target, name=f"runtime-stream-{job_id}", daemon=True).start()
        while (event := events.get()) is not None:
            yield event


def _snapshot(data: Any) -> Any:
    """An event's payload as it is now: the loop goes on changing the objects it reported."""
    return data.model_dump(mode="json") if isinstance(data, BaseModel) else copy.deepcopy(data)


_executors: weakref.WeakKeyDictionary[Core, RuntimeExecutor] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def executor_for(core: Core) -> RuntimeExecutor:
    with _lock:
        if core not in _executors:
            _executors[core] = RuntimeExecutor(core)
        return _executors[core]


@asynccontextmanager
async def runtime_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs the runtime's workers while the app serves (after the core has re-queued interrupted jobs)."""
    executor = executor_for(app.state.core)
    executor.start()
    try:
        yield
    finally:
        executor.stop()
