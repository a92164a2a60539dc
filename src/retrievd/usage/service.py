"""Usage and costs over time buckets, for the organization API and `retrievd usage report`.

Buckets are aligned on multiples of their width (UTC midnights for `1d`) and never accrue past now.
A vector-stores result's `usage_bytes` is the mean of the bytes stored over the bucket's elapsed part
(exactly: floor(byte-seconds / elapsed seconds)), so a whole `1d` bucket's usage_bytes / 10**9 is its
GB-days. Costs are per project and UTC day, by the rule in `retrievd.usage.pricing`.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from sqlalchemy import select

from retrievd.errors import invalid
from retrievd.store.db import now
from retrievd.store.usage_models import CodeInterpreterSession, ContainerLedgerEntry, FileSearchCall
from retrievd.usage import schemas
from retrievd.usage.pricing import pricing_from_settings
from retrievd.usage.storage import (
    BYTE_SECONDS_PER_GB_DAY,
    DAY,
    StoreHistory,
    bucket_edges,
    elapsed,
    integrate,
    load_histories,
    project_byte_seconds,
    store_byte_seconds,
)

if TYPE_CHECKING:
    from retrievd.core import Core

WIDTHS = {"1m": 60, "1h": 3600, "1d": DAY}
# (default, max) number of buckets per page, as OpenAI's Usage API.
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
COSTS_LIMITS = (7, 180)
# The last second of year 9999: times past it are typos, and would overflow the databases' integers.
LAST_TIME = 253_402_300_799
STORAGE_LINE_ITEM = "vector store storage"
SESSIONS_LINE_ITEM = "code interpreter sessions"
CONTAINER_STORAGE_LINE_ITEM = "container file storage"


@dataclass(frozen=True)
class Window:
    """The buckets of one page: their edges, and the cursor of the next page if any."""

    edges: list[int]
    next_page: str | None

    @property
    def spans(self) -> list[tuple[int, int]]:
        return list(itertools.pairwise(self.edges))


def window(
    start_time: int,
    end_time: int | None,
    bucket_width: str,
    limit: int | None,
    page: str | None,
    limits: tuple[int, int],
) -> Window:
    if bucket_width not in WIDTHS:
        raise invalid(f"Invalid bucket_width '{bucket_width}'.", param="bucket_width")
    width = WIDTHS[bucket_width]
    end = now() if end_time is None else end_time
    if not 0 <= start_time < end:
        raise invalid("start_time must be a Unix time before end_time.", param="start_time")
    if end > LAST_TIME:
        raise invalid(f"end_time must be at most {LAST_TIME} (9999-12-31).", param="end_time")
    default, most = limits
    limit = default if limit is None else limit
    if not 1 <= limit <= most:
        raise invalid(f"limit must be between 1 and {most} for bucket_width={bucket_width}.", param="limit")
    start = start_time
    if page is not None:
        if not page.isdecimal() or not start_time <= int(page) < end or int(page) % width:
            raise invalid("Invalid page cursor.", param="page")
        start = int(page)
    # Only this page's buckets: a window of years in 1m buckets would be millions of them.
    edges = bucket_edges(start, min(end, start - start % width + limit * width), width)
    return Window(edges, str(edges[-1]) if edges[-1] < end else None)


def _grouping(group_by: Sequence[str], allowed: set[str]) -> set[str]:
    unknown = set(group_by) - allowed
    if unknown:
        raise invalid(
            f"Cannot group by {', '.join(sorted(unknown))}; supported: {', '.join(sorted(allowed))}.",
            param="group_by",
        )
    return set(group_by)


def _page(w: Window, results: list[list[schemas.Result]]) -> schemas.UsageResponse:
    buckets = [
        schemas.UsageTimeBucket(start_time=lo, end_time=hi, results=r)
        for (lo, hi), r in zip(w.spans, results, strict=True)
    ]
    return schemas.UsageResponse(data=buckets, has_more=w.next_page is not None, next_page=w.next_page)


@dataclass(frozen=True)
class DayRow:
    """One project's UTC day: what `retrievd usage report` prints."""

    day: int  # unix time of the day's start
    project_id: str
    bytes_at_end: int  # at the day's end, or now for today
    byte_seconds: int
    billable_byte_seconds: int
    cost: Fraction
    file_search_calls: int

    @property
    def gb_days(self) -> Fraction:
        return Fraction(self.byte_seconds, BYTE_SECONDS_PER_GB_DAY)


def value_at(h: StoreHistory, t: int) -> int:
    value = h.initial
    for at, after in h.changes:
        if at > t:
            break
        value = after
    return value


class UsageService:
    def __init__(self, core: Core) -> None:
        self.db = core.db
        self.pricing = pricing_from_settings(core.settings)

    def vector_stores(
        self,
        start_time: int,
        end_time: int | None = None,
        bucket_width: str = "1d",
        project_ids: Sequence[str] = (),
        group_by: Sequence[str] = (),
        limit: int | None = None,
        page: str | None = None,
    ) -> schemas.UsageResponse:
        # vector_store_id is a retrievd extension of OpenAI's grouping (the console charts it).
        keys = sorted(_grouping(group_by, {"project_id", "vector_store_id"}))
        w = window(start_time, end_time, bucket_width, limit, page, USAGE_LIMITS.get(bucket_width, (7, 31)))
        until = now()
        with self.db.session() as s:
            per_store = store_byte_seconds(s, w.edges, until, project_ids or None)
        spans = elapsed(w.edges, until)
        groups: dict[tuple[str | None, ...], list[int]] = {}
        for (project_id, store_id), series in per_store.items():
            ids = {"project_id": project_id, "vector_store_id": store_id}
            acc = groups.setdefault(tuple(ids[k] for k in keys), [0] * len(series))
            for k, v in enumerate(series):
                acc[k] += v

        def mean(byte_seconds: int, k: int) -> int:
            return byte_seconds // spans[k] if spans[k] else 0

        results: list[list[schemas.Result]] = []
        for k in range(len(spans)):
            if keys:
                results.append(
                    [
                        schemas.UsageVectorStoresResult(
                            usage_bytes=mean(series[k], k), **dict(zip(keys, group))
                        )
                        for group, series in groups.items()
                        if series[k]
                    ]
                )
            else:
                total = sum(series[k] for series in groups.values())
                results.append([schemas.UsageVectorStoresResult(usage_bytes=mean(total, k))])
        return _page(w, results)

    def file_search_calls(
        self,
        start_time: int,
        end_time: int | None = None,
        bucket_width: str = "1d",
        project_ids: Sequence[str] = (),
        vector_store_ids: Sequence[str] = (),
        group_by: Sequence[str] = (),
        limit: int | None = None,
        page: str | None = None,
    ) -> schemas.UsageResponse:
        keys = sorted(_grouping(group_by, {"project_id", "vector_store_id"}))
        w = window(start_time, end_time, bucket_width, limit, page, USAGE_LIMITS.get(bucket_width, (7, 31)))
        query = select(FileSearchCall).where(FileSearchCall.at >= w.edges[0], FileSearchCall.at < w.edges[-1])
        if project_ids:
            query = query.where(FileSearchCall.project_id.in_(project_ids))
        if vector_store_ids:
            query = query.where(FileSearchCall.vector_store_id.in_(vector_store_ids))
        width = WIDTHS[bucket_width]
        calls: list[dict[tuple[str, ...], set[str]]] = [defaultdict(set) for _ in w.spans]
        with self.db.session() as s:
            for row in s.execute(query).scalars():
                key = tuple(getattr(row, k) for k in keys)
                calls[(row.at - w.edges[0]) // width][key].add(row.call_id)
        results: list[list[schemas.Result]] = []
        for groups in calls:
            if not keys:
                total = len(set().union(*groups.values())) if groups else 0
                results.append([schemas.UsageFileSearchCallsResult(num_requests=total)])
            else:
                results.append(
                    [
                        schemas.UsageFileSearchCallsResult(
                            num_requests=len(ids), **dict(zip(keys, key, strict=True))
                        )
                        for key, ids in sorted(groups.items())
                    ]
                )
        return _page(w, results)

    def _sessions(self, w: Window, project_ids: Sequence[str]) -> list[dict[str, int]]:
        """Per bucket, the code_interpreter sessions started in it, per project."""
        query = select(CodeInterpreterSession.project_id, CodeInterpreterSession.started_at).where(
            CodeInterpreterSession.started_at >= w.edges[0], CodeInterpreterSession.started_at < w.edges[-1]
        )
        if project_ids:
            query = query.where(CodeInterpreterSession.project_id.in_(project_ids))
        counts: list[dict[str, int]] = [defaultdict(int) for _ in w.spans]
        with self.db.session() as s:
            for project_id, started_at in s.execute(query):
                k = next(i for i, (lo, hi) in enumerate(w.spans) if lo <= started_at < hi)
                counts[k][project_id] += 1
        return counts

    def code_interpreter_sessions(
        self,
        start_time: int,
        end_time: int | None = None,
        bucket_width: str = "1d",
        project_ids: Sequence[str] = (),
        group_by: Sequence[str] = (),
        limit: int | None = None,
        page: str | None = None,
    ) -> schemas.UsageResponse:
        by_project = "project_id" in _grouping(group_by, {"project_id"})
        w = window(start_time, end_time, bucket_width, limit, page, USAGE_LIMITS.get(bucket_width, (7, 31)))
        until = now()
        with self.db.session() as s:
            held = project_byte_seconds(s, w.edges, until, project_ids or None, ContainerLedgerEntry)
        spans = elapsed(w.edges, until)
        results: list[list[schemas.Result]] = []
        for k, counts in enumerate(self._sessions(w, project_ids)):
            byte_seconds = {p: series[k] for p, series in held.items() if series[k]}

            def mean(total: int, k: int = k) -> int:
                return total // spans[k] if spans[k] else 0

            if by_project:
                results.append(
                    [
                        schemas.UsageCodeInterpreterSessionsResult(
                            num_sessions=counts.get(p, 0), project_id=p, usage_bytes=mean(byte_seconds.get(p, 0))
                        )
                        for p in sorted(counts.keys() | byte_seconds.keys())
                    ]
                )
            else:
                results.append(
                    [
                        schemas.UsageCodeInterpreterSessionsResult(
                            num_sessions=sum(counts.values()), usage_bytes=mean(sum(byte_seconds.values()))
                        )
                    ]
                )
        return _page(w, results)

    def costs(
        self,
        start_time: int,
        end_time: int | None = None,
        bucket_width: str = "1d",
        project_ids: Sequence[str] = (),
        group_by: Sequence[str] = (),
        limit: int | None = None,
        page: str | None = None,
    ) -> schemas.UsageResponse:
        grouping = _grouping(group_by, {"project_id", "line_item"})
        if bucket_width != "1d":
            raise invalid("Costs are only available in 1d buckets.", param="bucket_width")
        w = window(start_time, end_time, bucket_width, limit, page, COSTS_LIMITS)
        until = now()
        with self.db.session() as s:
            per_project = project_byte_seconds(s, w.edges, until, project_ids or None)
            in_containers = project_byte_seconds(s, w.edges, until, project_ids or None, ContainerLedgerEntry)
        sessions = self._sessions(w, project_ids)
        spans = elapsed(w.edges, until)
        currency = self.pricing.currency
        by_project, by_line_item = "project_id" in grouping, "line_item" in grouping
        results: list[list[schemas.Result]] = []
        for k, span in enumerate(spans):
            # (project, line item, quantity, unit, cost) of the day
            rows = [
                (
                    p,
                    STORAGE_LINE_ITEM,
                    Fraction(series[k], BYTE_SECONDS_PER_GB_DAY),
                    "gigabyte_days",
                    self.pricing.day_cost(series[k], span),
                )
                for p, series in per_project.items()
                if series[k]
            ]
            rows += [
                (p, SESSIONS_LINE_ITEM, Fraction(n), "sessions", n * Fraction(self.pricing.price_per_session))
                for p, n in sessions[k].items()
            ]
            rows += [
                (
                    p,
                    CONTAINER_STORAGE_LINE_ITEM,
                    Fraction(series[k], BYTE_SECONDS_PER_GB_DAY),
                    "gigabyte_days",
                    self.pricing.container_cost(series[k]),
                )
                for p, series in in_containers.items()
                if series[k]
            ]
            groups: dict[tuple[str | None, str | None], list[tuple]] = defaultdict(list)
            for row in rows:
                groups[(row[0] if by_project else None, row[1] if by_line_item else None)].append(row)
            if not groups and not by_project:
                groups[(None, STORAGE_LINE_ITEM if by_line_item else None)] = []  # one zero result
            bucket: list[schemas.Result] = []
            for (p, item), members in sorted(groups.items(), key=lambda g: (g[0][0] or "", g[0][1] or "")):
                bucket.append(
                    schemas.CostsResult(
                        amount=schemas.CostAmount(
                            value=float(sum((r[4] for r in members), Fraction(0))), currency=currency
                        ),
                        project_id=p,
                        line_item=item,
                        quantity=float(sum((r[2] for r in members), Fraction(0))) if item else None,
                        quantity_unit=(members[0][3] if members else "gigabyte_days") if item else None,
                    )
                )
            results.append(bucket)
        return _page(w, results)

    def daily(self, since: int, until: int | None = None, project_ids: Sequence[str] = ()) -> list[DayRow]:
        """Every project's days from `since` (floored to UTC midnight) to `until` (default now)."""
        t_now = now()
        end = t_now if until is None else min(until, t_now)
        edges = bucket_edges(since, max(end, since + 1), DAY)
        spans = elapsed(edges, end)
        with self.db.session() as s:
            histories = load_histories(s, edges[0], edges[-1], project_ids or None)
            calls = s.execute(
                select(FileSearchCall.project_id, FileSearchCall.call_id, FileSearchCall.at).where(
                    FileSearchCall.at >= edges[0], FileSearchCall.at < end
                )
            ).all()
        counted: dict[tuple[str, int], set[str]] = defaultdict(set)
        for project_id, call_id, at in calls:
            counted[(project_id, (at - edges[0]) // DAY)].add(call_id)
        by_project: dict[str, list[StoreHistory]] = defaultdict(list)
        for h in histories:
            by_project[h.project_id].append(h)
        for project_id, _ in counted:
            if not project_ids or project_id in project_ids:
                by_project.setdefault(project_id, [])
        rows: list[DayRow] = []
        for project_id, hs in sorted(by_project.items()):
            series = [integrate(h.initial, h.changes, edges, end) for h in hs]
            for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
                if not spans[k]:
                    continue
                byte_seconds = sum(x[k] for x in series)
                rows.append(
                    DayRow(
                        day=lo,
                        project_id=project_id,
                        bytes_at_end=sum(value_at(h, min(hi - 1, end)) for h in hs),
                        byte_seconds=byte_seconds,
                        billable_byte_seconds=self.pricing.billable_byte_seconds(byte_seconds, spans[k]),
                        cost=self.pricing.day_cost(byte_seconds, spans[k]),
                        file_search_calls=len(counted.get((project_id, k), ())),
                    )
                )
        return sorted(rows, key=lambda r: (r.day, r.project_id))
