"""The job queue across processes and machines, on SQLite and PostgreSQL: exclusive claims, retries
with backoff, and the jobs of dead workers handed back."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from retrievd.jobs.queue import MAX_ATTEMPTS, JobQueue, process_name
from retrievd.store.db import Database
from retrievd.store.models import Job


@pytest.fixture()
def queue(any_database: str) -> Iterator[JobQueue]:
    db = Database(any_database)
    db.migrate()
    yield JobQueue(db, stale_after_s=60)
    db.dispose()


def _add(queue: JobQueue, n: int) -> list[int]:
    with queue.db.session() as s:
        jobs = [Job(kind="ingest_file", project_id="proj") for _ in range(n)]
        s.add_all(jobs)
        s.flush()
        return [j.id for j in jobs]


def _status(queue: JobQueue, job_id: int) -> tuple[str, str | None]:
    with queue.db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.status, job.claimed_by


def test_concurrent_workers_claim_each_job_once(queue: JobQueue) -> None:
    ids = _add(queue, 40)

    def drain(worker: int) -> list[int]:
        claimed = []
        while (job := queue.claim(f"elsewhere/1:{worker}:0")) is not None:
            claimed.append(job.id)
        return claimed

    with ThreadPoolExecutor(6) as pool:
        claims = [job_id for claimed in pool.map(drain, range(6)) for job_id in claimed]
    assert sorted(claims) == ids


def test_a_failed_job_comes_back_later_then_fails_for_good(queue: JobQueue) -> None:
    (job_id,) = _add(queue, 1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job = queue.claim("w:1:0")
        assert job is not None and job.attempts == attempt
        assert queue.retry_or_fail(job_id, "w:1:0", "boom") == (attempt < MAX_ATTEMPTS)
        assert queue.claim("w:1:0") is None  # backing off (or failed)
        with queue.db.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(run_after=0.0))  # the backoff elapses
    assert _status(queue, job_id) == ("failed", "w:1:0")


def test_jobs_of_dead_workers_go_back_to_the_queue(queue: JobQueue) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    this_machine = process_name().rpartition(":")[0]
    workers = {
        "gone here": f"{this_machine}:{gone.pid}:0:0",  # its process is gone: reclaimed at once
        "silent elsewhere": "other-host/1:123:0:0",  # no heartbeat for 2 minutes
        "alive elsewhere": "other-host/1:456:0:0",
        "alive here": f"{process_name()}:0:0",  # this very process
    }
    _add(queue, len(workers))
    claimed = {name: queue.claim(worker_id) for name, worker_id in workers.items()}
    with queue.db.session() as s:
        s.execute(
            update(Job)
            .where(Job.claimed_by == workers["silent elsewhere"])
            .values(heartbeat_at=time.time() - 120)
        )

    assert queue.reclaim() == 2
    statuses = {name: _status(queue, job.id)[0] for name, job in claimed.items() if job is not None}
    assert statuses == {
        "gone here": "queued",
        "silent elsewhere": "queued",
        "alive elsewhere": "running",
        "alive here": "running",
    }
    with queue.db.session() as s:
        assert s.scalar(select(Job.claimed_by).where(Job.id == claimed["gone here"].id)) is None  # type: ignore[union-attr]
