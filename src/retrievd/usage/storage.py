"""Stored bytes over time, from a ledger: exact byte-seconds per store (or container) and time bucket.

Units: GB = 10**9 bytes (as OpenAI bills), a GB-day is 10**9 bytes held for 86,400 seconds.
A store's bytes are a step function of time: the `bytes_after` of its last ledger entry at or
before t, 0 before its first. Its byte-seconds over [a, b) are that function's integral, kept as
an integer; GB-days are byte-seconds / (10**9 * 86,400). Nothing accrues after `until` (now).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retrievd.store.usage_models import BytesLedger, UsageLedgerEntry

GB = 10**9
DAY = 86400
BYTE_SECONDS_PER_GB_DAY = GB * DAY


@dataclass
class StoreHistory:
    """One store's (or container's) bytes from `lo` on: `initial` at lo, then each change
    (at, bytes_after), lo < at."""

    project_id: str
    subject_id: str
    initial: int = 0
    changes: list[tuple[int, int]] = field(default_factory=list)


def bucket_edges(start: int, end: int, width: int) -> list[int]:
    """Bucket boundaries aligned on multiples of `width` (UTC midnights for days), covering [start, end)."""
    first = start - start % width
    edges = [first]
    while edges[-1] < end:
        edges.append(edges[-1] + width)
    return edges


def integrate(
    initial: int, changes: Sequence[tuple[int, int]], edges: Sequence[int], until: int
) -> list[int]:
    """Byte-seconds of the step function in each [edges[k], edges[k+1]), counting only time before `until`.

    `initial` holds from edges[0]; `changes` are (at, bytes_after), sorted, with edges[0] < at.
    """
    out: list[int] = []
    value, i = initial, 0
    for lo, hi in itertools.pairwise(edges):
        end = min(hi, until)
        total, t = 0, lo
        while i < len(changes) and changes[i][0] < hi:
            at, after = changes[i]
            if at > t:
                total += value * max(0, min(at, end) - t)
                t = at
            value = after
            i += 1
        total += value * max(0, end - t)
        out.append(total)
    return out


def load_histories(
    s: Session,
    lo: int,
    hi: int,
    project_ids: Iterable[str] | None = None,
    ledger: type[BytesLedger] = UsageLedgerEntry,
) -> list[StoreHistory]:
    """Every store (of `ledger`) with bytes at `lo` or a change in (lo, hi), in (project, store) order."""
    e = ledger
    scope = [] if project_ids is None else [e.project_id.in_(list(project_ids))]
    last_before = select(func.max(e.id)).where(e.at <= lo, *scope).group_by(e.subject_id)
    columns = (e.project_id, e.subject_id, e.at, e.bytes_after)  # plain rows: ORM objects cost 10x
    histories: dict[str, StoreHistory] = {}
    for project_id, store_id, _, after in s.execute(select(*columns).where(e.id.in_(last_before))):
        histories[store_id] = StoreHistory(project_id, store_id, initial=after)
    changes = select(*columns).where(e.at > lo, e.at < hi, *scope).order_by(e.subject_id, e.id)
    for project_id, store_id, at, after in s.execute(changes):
        h = histories.get(store_id) or histories.setdefault(store_id, StoreHistory(project_id, store_id))
        h.changes.append((at, after))
    return sorted(
        (h for h in histories.values() if h.initial or h.changes),
        key=lambda h: (h.project_id, h.subject_id),
    )


def store_byte_seconds(
    s: Session,
    edges: Sequence[int],
    until: int,
    project_ids: Iterable[str] | None = None,
    ledger: type[BytesLedger] = UsageLedgerEntry,
) -> dict[tuple[str, str], list[int]]:
    """(project_id, vector_store_id or container_id) -> byte-seconds per bucket."""
    return {
        (h.project_id, h.subject_id): integrate(h.initial, h.changes, edges, until)
        for h in load_histories(s, edges[0], edges[-1], project_ids, ledger)
    }


def project_byte_seconds(
    s: Session,
    edges: Sequence[int],
    until: int,
    project_ids: Iterable[str] | None = None,
    ledger: type[BytesLedger] = UsageLedgerEntry,
) -> dict[str, list[int]]:
    """project_id -> byte-seconds per bucket (the sum over its stores, or containers)."""
    out: dict[str, list[int]] = {}
    for (project_id, _), series in store_byte_seconds(s, edges, until, project_ids, ledger).items():
        acc = out.setdefault(project_id, [0] * len(series))
        for k, v in enumerate(series):
            acc[k] += v
    return out


def elapsed(edges: Sequence[int], until: int) -> list[int]:
    """Seconds of each bucket before `until`: the span over which a bucket's usage has accrued."""
    return [max(0, min(hi, until) - lo) for lo, hi in itertools.pairwise(edges)]
