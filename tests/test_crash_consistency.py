"""Crash consistency: SIGKILL the server at random points of ingestion, file deletion, batch cancel and
store deletion; after each restart nothing is lost, stuck or counted twice.

Each round starts the server on the same data dir, lets a client thread mix the four operations (and
detaching files) over real documents while ingestion runs, and kills the server at a random moment.
The server is then restarted and left to finish what was queued, stopped cleanly, and its data dir
checked offline:
- no store file is left `in_progress` and no job is left queued or running;
- each completed store file has as many points in the index as chunk rows, and a store as many
  points as its completed files' chunks; failed, cancelled, detached or deleted files and deleted
  stores have none (no orphan points, no orphan chunk rows);
- usage_bytes is exact: `retrievd usage verify` recomputes every byte from the index and the ledger;
- every file row has its blob. (The reverse need not hold: a kill during an upload, or between a
  file's row and its blob, leaves a blob no row names. The maintenance scheduler removes such blobs
  once they are an hour old (`FileService.sweep_orphan_blobs`), so a round still finds them; they are
  counted in its log line.)

CI runs a few rounds with a fixed seed; `pytest -m slow tests/test_crash_consistency.py` runs many
(`RETRIEVD_CRASH_SEED` and `RETRIEVD_CRASH_ROUNDS` choose them).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import ADMIN_KEY, DOCS, free_port
from tests.conftest import serve_process as _serve

BOOK = (DOCS / "book-war-and-peace-1p.txt").read_text()
DOCUMENTS = [
    "fake.docx",
    "layout-parser-paper-fast.pdf",
    "example-10k-1p.html",
    "fake-power-point.pptx",
    "fake.odt",
]
QUIET_TIMEOUT_S = 600


@dataclass
class Chaos:
    """A client that keeps changing the server's state, at random, until the server dies under it."""

    http: httpx.Client
    rng: random.Random
    stores: set[str] = field(default_factory=set)  # every store ever created, deleted ones included
    files: set[str] = field(default_factory=set)  # every file ever uploaded, deleted ones included
    done: list[str] = field(default_factory=list)  # the operations that got an answer
    batches: list[tuple[str, str, int]] = field(default_factory=list)  # acknowledged small batches
    grouped: list[int] = field(default_factory=list)  # per kill, the jobs it left running in groups

    def upload(self) -> str:
        if self.rng.random() < 0.3:
            name = self.rng.choice(DOCUMENTS)
            content = (DOCS / name).read_bytes()
        else:
            start = self.rng.randrange(len(BOOK) - 2000)
            name, content = (
                f"book-{start}.txt",
                BOOK[start : start + self.rng.randrange(500, 20_000)].encode(),
            )
        response = self.http.post("/files", files={"file": (name, content)}, data={"purpose": "assistants"})
        response.raise_for_status()
        self.files.add(response.json()["id"])
        return response.json()["id"]

    def live_stores(self) -> list[str]:
        return [s["id"] for s in self.http.get("/vector_stores", params={"limit": 100}).json()["data"]]

    def store_files(self, store: str) -> list[str]:
        return [
            f["id"]
            for f in self.http.get(f"/vector_stores/{store}/files", params={"limit": 100}).json()["data"]
        ]

    def ingest(self) -> None:
        ids = [self.upload() for _ in range(self.rng.randint(1, 3))]
        live = self.live_stores()
        if live and self.rng.random() < 0.7:
            store = self.rng.choice(live)
            if self.rng.random() < 0.3:
                ids.append(self.rng.choice(sorted(self.files)))  # a file again, maybe one in another store
            self.http.post(f"/vector_stores/{store}/file_batches", json={"file_ids": sorted(set(ids))})
        else:
            store = self.http.post("/vector_stores", json={"name": "chaos", "file_ids": ids}).json()["id"]
            self.stores.add(store)

    def small_batch(self) -> None:
        """A file batch of 20-60 one-paragraph files: what workers take in groups (one embedding
        call, transaction and flush for many files), so a kill lands inside a group."""
        live = self.live_stores()
        if not live:
            store = self.http.post("/vector_stores", json={"name": "small"}).json()["id"]
            self.stores.add(store)
            live = [store]
        ids = []
        for _ in range(self.rng.randint(20, 60)):
            start = self.rng.randrange(len(BOOK) - 1000)
            content = BOOK[start : start + self.rng.randrange(200, 1000)].encode()
            response = self.http.post(
                "/files", files={"file": (f"note-{start}.txt", content)}, data={"purpose": "assistants"}
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
            self.files.add(ids[-1])
        store = self.rng.choice(live)
        response = self.http.post(f"/vector_stores/{store}/file_batches", json={"file_ids": ids})
        response.raise_for_status()
        self.batches.append((store, response.json()["id"], len(ids)))

    def delete_file(self) -> None:
        if self.files:
            self.http.delete(f"/files/{self.rng.choice(sorted(self.files))}")

    def detach_file(self) -> None:
        live = self.live_stores()
        if live and (attached := self.store_files(store := self.rng.choice(live))):
            self.http.delete(f"/vector_stores/{store}/files/{self.rng.choice(attached)}")

    def cancel_batch(self) -> None:
        live = self.live_stores()
        if live:
            store = self.rng.choice(live)
            ids = [self.upload() for _ in range(self.rng.randint(2, 4))]
            batch = self.http.post(f"/vector_stores/{store}/file_batches", json={"file_ids": ids}).json()[
                "id"
            ]
            time.sleep(self.rng.random() * 0.5)
            self.http.post(f"/vector_stores/{store}/file_batches/{batch}/cancel")

    def delete_store(self) -> None:
        live = self.live_stores()
        if len(live) > 1:
            self.http.delete(f"/vector_stores/{self.rng.choice(live)}")

    def run(self, stop: threading.Event, only: str | None = None) -> None:
        """Random operations until the server dies; `only` names the one operation to repeat."""
        operations: list[Callable[[], None]] = [self.ingest, self.ingest, self.delete_file, self.detach_file]
        operations += [self.cancel_batch, self.delete_store, self.small_batch]
        if only is not None:
            operations = [getattr(self, only)]
        while not stop.is_set():
            operation = self.rng.choice(operations) if self.files or only else self.ingest
            try:
                operation()
            except (httpx.HTTPError, KeyError, ValueError):
                return  # the server died under us (or answered a half-finished request)
            self.done.append(operation.__name__)


def _pending_jobs(data_dir: Path) -> int:
    """Jobs queued or running, read from the server's database (SQLite or PostgreSQL alike)."""
    from retrievd.config import Settings
    from retrievd.store.db import Database
    from retrievd.store.models import Job

    db = Database(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with db.session() as s:
            busy = select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
            return s.execute(busy).scalar_one()
    finally:
        db.dispose()


def _groups_in_flight(data_dir: Path) -> int:
    """Jobs left running by a killed server that were claimed in a group (several per worker)."""
    from retrievd.config import Settings
    from retrievd.store.db import Database
    from retrievd.store.models import Job

    db = Database(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with db.session() as s:
            per_worker = (
                select(Job.claimed_by, func.count())
                .where(Job.status == "running")
                .group_by(Job.claimed_by)
                .having(func.count() > 1)
            )
            return sum(n for _, n in s.execute(per_worker))
    finally:
        db.dispose()


def _wait_until_quiet(http: httpx.Client, data_dir: Path) -> None:
    """Until the restarted server has finished every queued job and no store file is in progress."""
    deadline = time.time() + QUIET_TIMEOUT_S
    while time.time() < deadline:
        stores = http.get("/vector_stores", params={"limit": 100}).json()["data"]
        if not any(s["file_counts"]["in_progress"] for s in stores) and not _pending_jobs(data_dir):
            return
        time.sleep(0.5)
    raise AssertionError(f"still busy after {QUIET_TIMEOUT_S} s: {stores}")


def assert_consistent(data_dir: Path, stores_ever: set[str]) -> set[str]:
    """Check every invariant; returns the names of orphan blobs (see the module docstring)."""
    from retrievd.config import Settings
    from retrievd.core import Core
    from retrievd.store.models import Chunk, File, Job, VectorStore, VectorStoreFile
    from retrievd.usage.verify import verify

    core = Core(Settings(data_dir=data_dir))
    try:
        report = verify(core)
        assert report.ok and not report.pending, report
        with core.db.session() as s:
            rows = s.execute(select(VectorStoreFile)).scalars().all()
            live = set(s.execute(select(VectorStore.id)).scalars())
            files = set(s.execute(select(File.id)).scalars())
            per_file = select(Chunk.vector_store_id, Chunk.file_id, func.count()).group_by(
                Chunk.vector_store_id, Chunk.file_id
            )
            chunks = {(store, file): n for store, file, n in s.execute(per_file)}
            busy = s.execute(
                select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
            ).scalar_one()
        assert busy == 0
        assert not [r.file_id for r in rows if r.status == "in_progress"], "files stuck in progress"
        per_store: dict[str, int] = {}
        for row in rows:
            points = core.index.count(row.vector_store_id, row.file_id)
            expected = row.chunk_count if row.status == "completed" else 0
            assert points == expected == chunks.get((row.vector_store_id, row.file_id), 0), (
                row.file_id,
                row.status,
                points,
            )
            if row.status != "completed":
                assert row.usage_bytes == 0, row.file_id
            assert row.file_id in files, "a store file outlived its file"
            per_store[row.vector_store_id] = per_store.get(row.vector_store_id, 0) + expected
        attached = {(r.vector_store_id, r.file_id) for r in rows}
        assert not set(chunks) - attached, "orphan chunk rows"
        for store in stores_ever | live:
            assert core.index.count(store) == per_store.get(store, 0), store  # deleted stores: 0
        blobs = {p.name for p in core.settings.blobs_dir.iterdir()}
        assert files <= blobs, files - blobs  # no file lost its bytes
        return blobs - files
    finally:
        core.close()


def chaos_rounds(data_dir: Path, seed: int, rounds: int, only: str | None = None) -> tuple[list[str], Chaos]:
    """Kill the server `rounds` times at random points; check the data dir after each recovery."""
    rng = random.Random(seed)
    port = free_port()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    log = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers=headers, timeout=60) as http:
        chaos = Chaos(http, rng)
        for round_ in range(rounds):
            proc = _serve(data_dir, port)
            stop = threading.Event()
            worker = threading.Thread(target=chaos.run, args=(stop, only), daemon=True)
            before = len(chaos.done)
            worker.start()
            time.sleep(rng.uniform(0.5, 6.0))
            in_flight = sum(
                s["file_counts"]["in_progress"] for s in http.get("/vector_stores").json()["data"]
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            grouped = _groups_in_flight(data_dir)
            chaos.grouped.append(grouped)
            stop.set()
            worker.join(120)

            proc = _serve(data_dir, port)
            try:
                _wait_until_quiet(http, data_dir)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(120)
            orphans = assert_consistent(data_dir, chaos.stores)
            log.append(
                f"round {round_}: killed after {chaos.done[before:]} with {in_flight} files in progress, "
                f"{grouped} jobs in claimed groups; consistent after restart ({len(orphans)} orphan blobs)"
            )
    return log, chaos


def test_sigkill_at_random_points_loses_nothing(assets_ready: None, tmp_path: Path) -> None:
    for line in chaos_rounds(tmp_path, seed=20261125, rounds=3)[0]:
        print(line)


def test_sigkill_inside_groups_of_small_files_loses_no_acknowledged_file(
    assets_ready: None, tmp_path: Path
) -> None:
    """Batches of small files, killed while their jobs run in groups: after each restart every
    acknowledged batch has all its files completed, each once (the consistency checks: as many
    points as chunk rows, exact bytes)."""
    log, chaos = chaos_rounds(tmp_path, seed=20261206, rounds=2, only="small_batch")
    for line in log:
        print(line)
    assert any(chaos.grouped), "no kill landed inside a group"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    port = free_port()
    proc = _serve(tmp_path, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers=headers, timeout=60) as http:
            for store, batch, n in chaos.batches:
                counts = http.get(f"/vector_stores/{store}/file_batches/{batch}").json()["file_counts"]
                assert (counts["completed"], counts["total"]) == (n, n), (batch, counts)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)


@pytest.mark.slow
def test_sigkill_at_many_random_points_loses_nothing(assets_ready: None, tmp_path: Path) -> None:
    seed = int(os.environ.get("RETRIEVD_CRASH_SEED") or time.time_ns() % 1_000_000)
    rounds = int(os.environ.get("RETRIEVD_CRASH_ROUNDS") or 25)
    print(f"seed {seed}")
    for line in chaos_rounds(tmp_path, seed, rounds)[0]:
        print(line)
