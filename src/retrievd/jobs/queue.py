"""A durable job queue in the metadata database.

A job is claimed with a compare-and-set on its status (and `FOR UPDATE SKIP LOCKED` where the
database has it), heartbeated while it runs, and handed back to the queue when its worker died, so
a killed process never leaves work stuck. A worker is known dead when it stopped heartbeating
(`stale_after_s`, from any machine), or at once when it ran on this machine (same host name and
pid namespace) and its process is gone: a restarted server or a surviving worker takes over
without waiting.
"""

from __future__ import annotations

import os
import socket
import time
from functools import cache

from sqlalchemy import select, update

from retrievd.store.db import Database
from retrievd.store.models import Job

MAX_ATTEMPTS = 5


class JobQueue:
    def __init__(self, db: Database, *, stale_after_s: float = 60.0) -> None:
        self.db = db
        self.stale_after_s = stale_after_s

    def claim(self, worker_id: str, kinds: tuple[str, ...] | None = None) -> Job | None:
        jobs = self.claim_many(worker_id, kinds, 1)
        return jobs[0] if jobs else None

    def claim_many(self, worker_id: str, kinds: tuple[str, ...] | None, limit: int) -> list[Job]:
        """Up to `limit` of the oldest queued jobs, claimed in one transaction (a group of small
        files costs one claim, not one each)."""
        with self.db.session() as s:
            t = time.time()
            query = select(Job.id).where(Job.status == "queued", Job.run_after <= t)
            if kinds:
                query = query.where(Job.kind.in_(kinds))
            query = query.order_by(Job.id).limit(limit).with_for_update(skip_locked=True)
            job_ids = list(s.execute(query).scalars())
            if not job_ids:
                return []
            claimed = s.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.status == "queued")
                .values(status="running", claimed_by=worker_id, heartbeat_at=t, attempts=Job.attempts + 1)
                .returning(Job.id)
            )
            mine = set(claimed.scalars())
            jobs = {job.id: job for job in s.scalars(select(Job).where(Job.id.in_(mine)))} if mine else {}
            return [jobs[job_id] for job_id in job_ids if job_id in jobs]

    def heartbeat(self, job_ids: list[int], worker_id: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.claimed_by == worker_id, Job.status == "running")
                .values(heartbeat_at=time.time())
            )

    def finish(self, job_ids: list[int], worker_id: str) -> None:
        with self.db.session() as s:
            s.execute(update(Job).where(Job.id.in_(job_ids), Job.claimed_by == worker_id).values(status="done"))

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

    def reclaim(self) -> int:
        """Hand back to the queue the running jobs of dead workers; returns how many."""
        with self.db.session() as s:
            running = s.execute(
                select(Job.id, Job.claimed_by, Job.heartbeat_at).where(Job.status == "running")
            ).all()
            stale = time.time() - self.stale_after_s
            reclaimed = 0
            for job_id, worker_id, heartbeat_at in running:
                if (heartbeat_at or 0.0) < stale or not worker_alive(worker_id or ""):
                    reclaimed += s.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.status == "running", Job.claimed_by == worker_id)
                        .values(status="queued", claimed_by=None)
                    ).rowcount
            return reclaimed

    def pending(self) -> int:
        with self.db.session() as s:
            return len(s.execute(select(Job.id).where(Job.status.in_(("queued", "running")))).all())


@cache
def _machine() -> str:
    """`host/pid-namespace`: the pid namespace tells apart containers that share a host name
    (only a process in the same namespace can see whether a pid still runs)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}/{namespace}"


def process_name() -> str:
    """`host/pid-namespace:pid`, the prefix of this process's worker ids."""
    return f"{_machine()}:{os.getpid()}"


def worker_alive(worker_id: str) -> bool:
    """False only for a worker of this machine whose process is gone (or a zombie); True otherwise.

    Ids that name the bare host (`host:pid:...`) are taken to be of this pid namespace too.
    """
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host not in (_machine(), socket.gethostname()) or not pid.isdigit() or int(pid) == os.getpid():
        return True  # elsewhere, or this very process: only its heartbeat can tell
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True
