"""Every change of a store's `usage_bytes` goes through here, with its ledger row, in one transaction;
so does every change of the bytes a container's files hold.

Call `lock_store` first in a transaction that reads a store's (or its files') byte counts and then
changes them: it takes the store's write lock (the database lock on SQLite, the row lock on
PostgreSQL), so the values read afterwards are current and no other change interleaves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from retrievd.store.db import Database, now
from retrievd.store.models import VectorStore
from retrievd.store.runtime_models import Container
from retrievd.store.usage_models import ContainerLedgerEntry, FileSearchCall, UsageLedgerEntry
from retrievd.usage.quota import check_quota


def lock_store(s: Session, store_id: str) -> None:
    s.execute(
        update(VectorStore)
        .where(VectorStore.id == store_id)
        .values(usage_bytes=VectorStore.usage_bytes)
        .execution_options(synchronize_session=False)
    )


def record_change(
    s: Session, store: VectorStore, delta: int, reason: str, *, enforce_quota: bool = False
) -> int:
    """Add `delta` to the store's usage_bytes and append the ledger row; returns the new usage.

    With `enforce_quota`, a growth that would pass the project's quota raises QuotaExceeded before
    anything is written.
    """
    if enforce_quota and delta > 0:
        check_quota(s, store.project_id, delta)
    return record_changes(s, store, [delta], reason)


def record_changes(s: Session, store: VectorStore, deltas: Sequence[int], reason: str) -> int:
    """`record_change` of several changes at once (the files of a group): one ledger row each,
    in order, and one update of the store; returns the new usage. Quotas are the caller's."""
    deltas = [delta for delta in deltas if delta != 0]
    if not deltas:
        return store.usage_bytes
    after = s.execute(
        update(VectorStore)
        .where(VectorStore.id == store.id)
        .values(usage_bytes=VectorStore.usage_bytes + sum(deltas))
        .returning(VectorStore.usage_bytes)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(store, "usage_bytes", after)
    last_at = s.scalar(
        select(func.max(UsageLedgerEntry.at)).where(UsageLedgerEntry.vector_store_id == store.id)
    )
    at, running = max(now(), last_at or 0), after - sum(deltas)
    for delta in deltas:
        running += delta
        s.add(
            UsageLedgerEntry(
                project_id=store.project_id,
                vector_store_id=store.id,
                at=at,
                delta_bytes=delta,
                bytes_after=running,
                reason=reason,
            )
        )
    return after


def clear_store(s: Session, store: VectorStore, reason: str) -> None:
    """Take all of a store's bytes off (store deleted, store expired)."""
    lock_store(s, store.id)
    current = s.scalar(select(VectorStore.usage_bytes).where(VectorStore.id == store.id)) or 0
    record_change(s, store, -current, reason)


def record_container_change(
    s: Session, project_id: str, container_id: str, delta: int | None, reason: str
) -> int:
    """Append a change of the bytes a container's files hold (`delta` None: all of them go, the
    container expired or was deleted); returns its bytes after it.

    The container's row is locked first (as `lock_store` does a store's), so the last entry read is current.
    """
    s.execute(
        update(Container)
        .where(Container.id == container_id)
        .values(status=Container.status)
        .execution_options(synchronize_session=False)
    )
    e = ContainerLedgerEntry
    last = s.execute(
        select(e.at, e.bytes_after).where(e.container_id == container_id).order_by(e.id.desc()).limit(1)
    ).first()
    last_at, before = last or (0, 0)
    delta = -before if delta is None else delta
    if delta:
        s.add(
            ContainerLedgerEntry(
                project_id=project_id,
                container_id=container_id,
                at=max(now(), last_at),
                delta_bytes=delta,
                bytes_after=before + delta,
                reason=reason,
            )
        )
    return before + delta


def record_file_search(db: Database, project_id: str, store_ids: Sequence[str]) -> str:
    """Count one file_search tool call over `store_ids` (the runtime calls this); returns the call's id."""
    call_id = uuid.uuid4().hex
    at = now()
    with db.session() as s:
        for store_id in dict.fromkeys(store_ids):
            s.add(FileSearchCall(call_id=call_id, project_id=project_id, vector_store_id=store_id, at=at))
    return call_id
