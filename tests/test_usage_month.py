"""A simulated month of adds, deletes and expirations, with an injected clock, billed exactly.

The expectation is computed by hand from each file's (size, added, removed) interval, independently
of the ledger: GB-days must match to the byte-second per store, per project and per UTC day, and
the cost to the cent. Real ingestion (parser, chunker, embedding model, Qdrant Edge) makes the bytes.

Files here are kilobytes, so the price is scaled up to make cents meaningful: $1,000,000 per GB-day
(a tenth of a cent per byte-day) with 10,000 bytes free per project.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from retrievd.api import schemas
from retrievd.config import Settings
from retrievd.core import Core
from retrievd.errors import APIError
from retrievd.ingest.pipeline import job_handlers
from retrievd.jobs.worker import WorkerPool
from retrievd.retrieval.search import SearchOptions
from retrievd.services.expiration import sweep
from retrievd.services.files import FileService
from retrievd.services.projects import ProjectService
from retrievd.services.search import SearchService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store import db
from retrievd.store.models import Chunk
from retrievd.usage.service import UsageService
from retrievd.usage.storage import BYTE_SECONDS_PER_GB_DAY, DAY, store_byte_seconds
from retrievd.usage.verify import verify

MARCH_1 = 1740787200  # 2025-03-01T00:00:00Z
HOUR = 3600
PRICE = Decimal(1_000_000)
FREE_GB = Decimal("0.00001")  # 10,000 bytes


def march(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Unix time of 2025-03-01 + day, at hour:minute:second UTC."""
    return MARCH_1 + day * DAY + hour * HOUR + minute * 60 + second


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def at(self, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> None:
        self.t = march(day, hour, minute, second)


@dataclass
class Held:
    """One file's bytes in one store over [start, end); end 0 while still stored."""

    project: str
    store: str
    file_id: str
    size: int
    start: int
    end: int = 0


def text(topic: str, sentences: int) -> bytes:
    body = " ".join(
        f"The {topic} report, part {i}, notes that measure {i * 7 % 13} rose in quarter {i % 4 + 1}."
        for i in range(sentences)
    )
    return f"{topic.title()}\n\n{body}\n".encode()


@pytest.fixture()
def world(assets_ready: None, tmp_path: Path) -> Iterator[tuple[Core, Clock]]:
    clock = Clock(MARCH_1)
    db.set_clock(lambda: clock.t)
    core = Core(Settings(data_dir=tmp_path, price_per_gb_day=PRICE, free_gb_per_project=FREE_GB))
    try:
        yield core, clock
    finally:
        core.close()
        db.set_clock(None)


def test_a_month_of_adds_deletes_and_expirations_is_billed_to_the_byte_second(
    world: tuple[Core, Clock],
) -> None:
    core, clock = world
    projects = ProjectService(core.db)
    a, b = projects.create_project("alpha").id, projects.create_project("beta").id
    files, stores = FileService(core), VectorStoreService(core)
    pool = WorkerPool(core.queue, job_handlers(core))
    held: list[Held] = []

    def add(project: str, store: str, name: str, body: bytes, expires_after_s: int | None = None) -> Held:
        f = files.create(project, io.BytesIO(body), name, "assistants", expires_after_s)
        stores.add_file(project, store, schemas.CreateVectorStoreFileRequest(file_id=f.id))
        pool.drain()
        vsf = stores.get_file(project, store, f.id)
        assert vsf.status == "completed" and vsf.usage_bytes > 0, vsf.last_error
        h = Held(project, store, f.id, vsf.usage_bytes, clock.t)
        held.append(h)
        return h

    def end(h: Held) -> None:
        h.end = clock.t

    # Day 0, 10:00: alpha's first store with two files.
    clock.at(0, 10)
    s1 = stores.create(a, schemas.CreateVectorStoreRequest(name="alpha docs")).id
    f1 = add(a, s1, "markets.txt", text("markets", 20))
    add(a, s1, "weather.txt", text("weather", 8))
    # Day 2, 13:37:11: a third file.
    clock.at(2, 13, 37, 11)
    add(a, s1, "harvest.txt", text("harvest", 45))
    # Day 5, 08:00: beta's store, expiring 3 days after its last activity.
    clock.at(5, 8)
    s2 = stores.create(
        b,
        schemas.CreateVectorStoreRequest(
            name="beta", expires_after=schemas.StoreExpiresAfter(anchor="last_active_at", days=3)
        ),
    ).id
    f4 = add(b, s2, "ledger.txt", text("ledger", 60))
    # Day 6, 12:00: a search keeps it alive until day 9, 12:00.
    clock.at(6, 12)
    SearchService(core).results(b, [s2], ["ledger measure"], SearchOptions(limit=3))
    assert stores.get(b, s2).expires_at == march(9, 12)
    clock.at(8, 23)
    assert sweep(core).expired_stores == []
    # Day 9, 18:30: the sweep finds it due; its bytes stop here.
    clock.at(9, 18, 30)
    assert sweep(core).expired_stores == [s2]
    end(f4)
    pool.drain()  # the purge of its index points
    # Day 10, 00:00 exactly (a bucket edge): alpha removes its first file.
    clock.at(10)
    stores.delete_file(a, s1, f1.file_id)
    end(f1)
    pool.drain()
    # Day 12, 06:00: a file that itself expires after two days.
    clock.at(12, 6)
    f5 = add(a, s1, "transient.txt", text("transient", 12), expires_after_s=2 * DAY)
    clock.at(14, 6)
    assert sweep(core).deleted_files == [f5.file_id]
    end(f5)
    # Day 15 to day 20, 00:00: a second alpha store, deleted whole.
    clock.at(15, 21, 5, 9)
    s3 = stores.create(a, schemas.CreateVectorStoreRequest(name="scratch")).id
    s3_files = [
        add(a, s3, "scratch-1.txt", text("scratch", 15)),
        add(a, s3, "scratch-2.txt", text("notes", 6)),
    ]
    clock.at(20)
    stores.delete(a, s3)
    for h in s3_files:
        end(h)
    pool.drain()
    # The month is over; what is still stored is held until now.
    clock.at(31)
    for h in held:
        h.end = h.end or clock.t

    # --- the hand computation ----------------------------------------------------------------
    days = [(march(d), march(d + 1)) for d in range(31)]
    by_store: dict[str, int] = defaultdict(int)
    by_project_day: dict[tuple[str, int], int] = defaultdict(int)
    for h in held:
        for d, (lo, hi) in enumerate(days):
            overlap = max(0, min(hi, h.end) - max(lo, h.start))
            by_store[h.store] += h.size * overlap
            by_project_day[(h.project, d)] += h.size * overlap
    by_project = {p: sum(v for (q, _), v in by_project_day.items() if q == p) for p in (a, b)}
    free = int(FREE_GB * 10**9)
    cost = {
        p: sum(
            (
                Fraction(max(0, by_project_day[(p, d)] - free * DAY), BYTE_SECONDS_PER_GB_DAY)
                * Fraction(PRICE)
                for d in range(31)
            ),
            Fraction(0),
        )
        for p in (a, b)
    }

    # --- what the service bills -------------------------------------------------------------
    edges = [march(0), march(31)]
    with core.db.session() as s:
        billed = store_byte_seconds(s, edges, clock.t)
    assert {store: series[0] for (_, store), series in billed.items()} == dict(by_store)

    usage = UsageService(core)
    rows = usage.daily(MARCH_1)
    assert {(r.project_id, (r.day - MARCH_1) // DAY): r.byte_seconds for r in rows} == {
        (p, d): by_project_day.get((p, d), 0) for p in (a, b) for d in range(31)
    }
    for p in (a, b):
        assert sum(r.byte_seconds for r in rows if r.project_id == p) == by_project[p]
        assert sum((r.cost for r in rows if r.project_id == p), Fraction(0)) == cost[p]
    gb_days = {p: float(Fraction(by_project[p], BYTE_SECONDS_PER_GB_DAY)) for p in (a, b)}
    dollars = {p: float(cost[p]) for p in (a, b)}
    print(f"\nGB-days {gb_days[a]:.9f} and {gb_days[b]:.9f}, USD {dollars[a]:.2f} and {dollars[b]:.2f}")

    page = usage.costs(MARCH_1, march(31), group_by=["project_id"], limit=31)
    api_cost: dict[str, float] = defaultdict(float)
    for bucket in page.data:
        for result in bucket.results:
            api_cost[result.project_id] += result.amount.value  # type: ignore[union-attr]
    assert not page.has_more
    for p in (a, b):
        assert round(api_cost[p], 2) == round(float(cost[p]), 2)
        assert abs(api_cost[p] - float(cost[p])) < 1e-6

    daily_usage = usage.vector_stores(MARCH_1, march(31), group_by=["project_id"], limit=31)
    for d, bucket in enumerate(daily_usage.data):
        got = {r.project_id: r.usage_bytes for r in bucket.results}  # type: ignore[union-attr]
        want = {p: by_project_day[(p, d)] // DAY for p in (a, b) if by_project_day[(p, d)]}
        assert got == want, d

    # --- the expired store kept its metadata and lost its data --------------------------------
    expired = stores.get(b, s2)
    assert (expired.status, expired.name, expired.usage_bytes) == ("expired", "beta", 0)
    with pytest.raises(APIError) as e:
        SearchService(core).results(b, [s2], ["ledger"], SearchOptions())
    assert e.value.code == "vector_store_expired"
    with core.db.session() as s:
        assert s.query(Chunk).filter(Chunk.vector_store_id == s2).count() == 0
    assert core.index.count(s2) == 0
    with pytest.raises(APIError):
        files.get(a, f5.file_id)

    report = verify(core)
    assert report.ok, report.differences
    assert report.files == 2 + 1  # weather + harvest in s1; ledger.txt's row stays in the expired store
