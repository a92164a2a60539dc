"""A durable job queue in the metadata database.

A job is claimed with a compare-and-set on its status (and `FOR UPDATE SKIP LOCKED` where the
database has it), heartbeated while it runs, and handed back to the queue when its worker stops
heartbeating, so a killed process never leaves work stuck.
"""

from __future__ import annotations

import time

from sqlalchemy import select, update

from retrievd.store.db import Database
from retrievd.store.models import Job

MAX_ATTEMPTS = 5


class JobQueue:
    def __init__(self, db: Database, *, stale_after_s: float = 60.0) -> None:
        self.db = db
        self.stale_after_s = stale_after_s

    def claim(self, worker_id: str, kinds: tuple[str, ...] | None = None) -> Job | None:
        with self.db.session() as s:
            t = time.time()
            query = select(Job.id).where(Job.status == "queued", Job.run_after <= t)
            if kinds:
                query = query.where(Job.kind.in_(kinds))
            query = query.order_by(Job.id).limit(1).with_for_update(skip_locked=True)
            job_id = s.execute(query).scalar_one_or_none()
            if job_id is None:
                return None
            claimed = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="running", claimed_by=worker_id, heartbeat_at=t, attempts=Job.attempts + 1)
            ).rowcount
            if not claimed:
                return None
            return s.get(Job, job_id)

    def heartbeat(self, job_id: int, worker_id: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.claimed_by == worker_id, Job.status == "running")
                .values(heartbeat_at=time.time())
            )

    def finish(self, job_id: int, worker_id: str) -> None:
        with self.db.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.claimed_by == worker_id).values(status="done"))

    def retry_or_fail(self, job_id: int, worker_id: str, error: str) -> bool:
        """Back to the queue with exponential backoff; False once attempts are spent."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.claimed_by != worker_id:
                return True
            job.last_error = error[-4000:]
            if job.attempts >= MAX_ATTEMPTS:
                job.status = "failed"
                return False
            job.status = "queued"
            job.claimed_by = None
            job.run_after = time.time() + min(60.0, 2.0**job.attempts)
            return True

    def requeue_stale(self, *, all_running: bool = False) -> int:
        """Return to the queue jobs whose worker stopped heartbeating (or all, at a single-process start)."""
        with self.db.session() as s:
            query = update(Job).where(Job.status == "running")
            if not all_running:
                query = query.where(Job.heartbeat_at < time.time() - self.stale_after_s)
            return s.execute(query.values(status="queued", claimed_by=None)).rowcount

    def pending(self) -> int:
        with self.db.session() as s:
            return len(s.execute(select(Job.id).where(Job.status.in_(("queued", "running")))).all())
