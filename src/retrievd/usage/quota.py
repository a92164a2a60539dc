"""Per-project storage quotas: an optional cap on the sum of a project's stores' usage_bytes.

A quota is checked twice: when a file is added (a project at its cap can add nothing, answered at
once with a 400), and when the file's chunks are written, where its exact size is first known; there
a file that does not fit fails as a whole (`last_error` says why) and nothing of it is stored.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retrievd.errors import APIError, not_found
from retrievd.store.db import Database
from retrievd.store.models import Project, VectorStore


class QuotaExceeded(APIError):
    def __init__(self, project_id: str, quota: int, used: int, adding: int) -> None:
        super().__init__(
            400,
            f"Storing {adding} more bytes would exceed the storage quota of project '{project_id}' "
            f"({used} of {quota} bytes in use). Delete files or vector stores, or ask an administrator "
            "to raise the quota.",
            code="storage_quota_exceeded",
        )


def project_usage_bytes(s: Session, project_id: str) -> int:
    query = select(func.coalesce(func.sum(VectorStore.usage_bytes), 0)).where(
        VectorStore.project_id == project_id
    )
    return int(s.scalar(query) or 0)


def check_quota(s: Session, project_id: str, adding: int) -> None:
    """Raise QuotaExceeded if `adding` more bytes would pass the project's quota (if it has one)."""
    Allowance(s, project_id).take(adding)


class Allowance:
    """What a project may still add to its storage in this transaction, taken a file at a time,
    so that a group of files checks the quota with two queries rather than two a file.

    The project row is locked (PostgreSQL; SQLite serialises writers anyway), so two stores of one
    project cannot both pass the check with bytes that only fit once.
    """

    def __init__(self, s: Session, project_id: str) -> None:
        self.s = s
        self.project_id = project_id
        self.read = False  # the quota and usage are read (and the row locked) once something grows
        self.quota: int | None = None
        self.used = 0

    def take(self, adding: int) -> None:
        """Count `adding` bytes as used, or raise QuotaExceeded (counting nothing) if they do not fit."""
        if adding > 0 and not self.read:
            self.read = True
            self.quota = self.s.execute(
                select(Project.storage_quota_bytes).where(Project.id == self.project_id).with_for_update()
            ).scalar_one_or_none()
            self.used += 0 if self.quota is None else project_usage_bytes(self.s, self.project_id)
        if self.quota is not None and adding > 0 and self.used + adding > self.quota:
            raise QuotaExceeded(self.project_id, self.quota, self.used, adding)
        self.used += adding


def set_storage_quota(db: Database, project_id: str, quota_bytes: int | None) -> int:
    """Set (or, with None, remove) a project's quota; returns the bytes it uses now."""
    with db.session() as s:
        project = s.get(Project, project_id)
        if project is None:
            raise not_found("project", project_id)
        project.storage_quota_bytes = quota_bytes
        return project_usage_bytes(s, project_id)
