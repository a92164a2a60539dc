"""Where runs execute: as durable jobs on the shared job queue, in a worker pool of their own.

A run (or a background response) is a `Job` row written in the same transaction as the run's own
row, which points at it (`job_id`). Without streaming, a runtime worker pool takes the job: one
that `Core.start_workers` runs in any `serve` or `retrievd worker` of the deployment. With
streaming, the request hands the job to a thread of its own, already claimed, and relays the run's
events to the client (so an API process that runs no pool streams runs all the same); a client
that goes away does not stop the run. Either way, if the process dies, the job goes back to the
queue and the run is taken up again (or ends `failed` when it keeps getting interrupted): never
stuck.

The runtime's pool claims only its own kinds (`runtime_job_handlers`), so runs never wait behind
ingestion.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from retrievd.jobs.queue import process_name
from retrievd.jobs.worker import Handler
from retrievd.store.models import Job

if TYPE_CHECKING:
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
    """The runtime pool's kinds, which `Core.start_workers` gives a pool of their own."""
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
        """Start a queued run now if this process runs a runtime pool; elsewhere, another's poll takes it."""
        self.core.wake_workers(RUN_JOB, RESPONSE_JOB)

    def stream(self, job_id: int | None, drive: Callable[[Emit], None]) -> Iterator[Event]:
        """Run `drive(emit)` in its own thread and yield what it emits, until it returns.

        `job_id` is the claimed job to heartbeat and finish; None for work nothing durable tracks.
        """
        events: queue.Queue[Event | None] = queue.Queue()

        def target() -> None:
            done = threading.Event()

            def beat() -> None:
                while job_id is not None and not done.wait(HEARTBEAT_S):
                    self.core.queue.heartbeat([job_id], self.stream_worker_id)

            beater = threading.Thread(target=beat, daemon=True)
            beater.start()
            try:
                drive(lambda name, data: events.put((name, _snapshot(data))))
            except Exception:
                log.exception("streamed job %s failed", job_id)
            finally:
                done.set()
                if job_id is not None:
                    self.core.queue.finish([job_id], self.stream_worker_id)
                events.put(None)

        threading.Thread(target=target, name=f"runtime-stream-{job_id}", daemon=True).start()
        while (event := events.get()) is not None:
            yield event


def _snapshot(data: Any) -> Any:
    """An event's payload as it is now: the loop goes on changing the objects it reported."""
    return data.model_dump(mode="json") if isinstance(data, BaseModel) else copy.deepcopy(data)

