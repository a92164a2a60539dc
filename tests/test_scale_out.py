"""Scale-out on one PostgreSQL database and one embedded index: two API processes, two workers.

The first API owns the Qdrant Edge shard (it applies every index job and serves reads to the
other API); the second reaches the index through it; the two `retrievd worker` processes parse,
chunk and embed, leaving chunk rows for the owner. Fifty files arrive through both APIs at once,
one worker is SIGKILLed in the middle of a job, and everything still ends exactly once.

A replica's reads through the owner are checked against the owner's own, and the compose files
(which cannot run here) against the settings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import openai
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, func, select

from retrievd.config import Settings
from retrievd.core import Core
from retrievd.errors import APIError
from retrievd.index import owner
from retrievd.index.edge import EdgeIndex
from retrievd.index.owner import RemoteIndex
from retrievd.store.models import Chunk, Job, VectorStore, VectorStoreFile
from tests.conftest import ADMIN_KEY, SHARED, free_port
from tests.test_index import DIM, DOCS, STORE, chunks, query

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = [ROOT / "docker-compose.yml", ROOT / "docker-compose.cluster.yml"]
FILES = 50
QUERIES = [
    "history of the Dewey Decimal Classification",
    "library catalog automation",
    "citation analysis of journals",
]


def _documents(folder: Path) -> list[Path]:
    """The first CISI abstracts (real text, about one chunk each), one .txt file per document."""
    folder.mkdir()
    paths = []
    with open(SHARED / "eval" / "cisi" / "corpus.jsonl") as corpus:
        for line, _ in zip(corpus, range(FILES)):
            doc = json.loads(line)
            path = folder / f"cisi-{doc['_id']}.txt"
            path.write_text(f"{doc['title']}\n\n{doc['text']}\n")
            paths.append(path)
    return paths


def _start(args: list[str], env: dict[str, str], log: Path, port: int | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrievd", *args],
        env={**os.environ, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while port is not None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"{args} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("any_database", ["postgresql"], indirect=True)
def test_two_apis_and_two_workers_ingest_50_files_once_through_a_worker_crash(
    assets_ready: None, any_database: str, tmp_path: Path
) -> None:
    database_url = any_database
    common = {
        "RETRIEVD_DATABASE_URL": database_url,
        "RETRIEVD_API_KEY": ADMIN_KEY,
        "RETRIEVD_BLOBS_DIR": str(tmp_path / "blobs"),
    }
    owner_port, replica_port = free_port(), free_port()
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["owner"] = _start(
            ["serve", "--no-workers", "--port", str(owner_port)],
            {**common, "RETRIEVD_DATA_DIR": str(tmp_path / "owner")},
            tmp_path / "owner.log",
            owner_port,
        )
        procs["replica"] = _start(
            ["serve", "--no-workers", "--port", str(replica_port)],
            {
                **common,
                "RETRIEVD_DATA_DIR": str(tmp_path / "replica"),
                "RETRIEVD_INDEX_OWNER_URL": f"http://127.0.0.1:{owner_port}",
            },
            tmp_path / "replica.log",
            replica_port,
        )
        for name in ("worker-1", "worker-2"):
            procs[name] = _start(
                ["worker", "--threads", "1"],
                {**common, "RETRIEVD_DATA_DIR": str(tmp_path / name)},
                tmp_path / f"{name}.log",
            )
        apis = [
            openai.OpenAI(
                base_url=f"http://127.0.0.1:{port}/v1", api_key=ADMIN_KEY, max_retries=0, timeout=120
            )
            for port in (owner_port, replica_port)
        ]
        store = apis[0].vector_stores.create(name="scale-out")

        def add(n_path: tuple[int, Path]) -> str:
            n, path = n_path
            api = apis[n % 2]  # every other file through each API
            file = api.files.create(file=(path.name, path.read_bytes()), purpose="assistants")
            api.vector_stores.files.create(store.id, file_id=file.id)
            return file.id

        with ThreadPoolExecutor(8) as pool:
            file_ids = list(pool.map(add, enumerate(_documents(tmp_path / "docs"))))

        # The victim is whichever worker is first seen inside an ingestion job: one worker may claim a
        # whole group of files before the other has polled, so neither can be picked in advance.
        engine = create_engine(database_url)
        workers = {f":{procs[name].pid}:": name for name in ("worker-1", "worker-2")}
        running = select(Job.claimed_by).where(Job.status == "running", Job.kind == "ingest_file")
        deadline = time.time() + 300
        victim = None
        with engine.connect() as conn:
            while victim is None:
                assert time.time() < deadline, "no worker took a job"
                claims = " ".join(conn.execute(running).scalars())
                victim = next((name for pid, name in workers.items() if pid in claims), None)
                conn.rollback()
                time.sleep(0.05)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        assert apis[1].vector_stores.retrieve(store.id).file_counts.in_progress > 0, (
            "all done before the kill"
        )

        while (counts := apis[1].vector_stores.retrieve(store.id).file_counts).in_progress:
            assert time.time() < deadline, counts
            time.sleep(0.5)
        assert (counts.completed, counts.failed, counts.total) == (FILES, 0, FILES)
        # Files complete before the store settles: a BM25 re-encoding (avg_len moved) may still run.
        unsettled = select(func.count()).where(Job.vector_store_id == store.id, Job.status.in_(("queued", "running")))
        while True:
            with engine.connect() as conn:
                if not conn.execute(unsettled).scalar():
                    break
            assert time.time() < deadline, "store jobs still running"
            time.sleep(0.5)

        with engine.connect() as conn:
            rows = conn.execute(
                select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id)
            ).all()
            chunk_rows = dict(
                conn.execute(
                    select(Chunk.file_id, func.count())
                    .where(Chunk.vector_store_id == store.id)
                    .group_by(Chunk.file_id)
                ).all()
            )
            chunk_bytes = conn.execute(
                select(func.sum(Chunk.usage_bytes)).where(Chunk.vector_store_id == store.id)
            ).scalar()
            usage = conn.execute(select(VectorStore.usage_bytes).where(VectorStore.id == store.id)).scalar()
            jobs = conn.execute(
                select(Job.file_id, Job.status, Job.attempts).where(Job.kind == "ingest_file")
            ).all()
        engine.dispose()
        # Every file ingested exactly once: one ingestion job each, done; the victim's was run twice.
        assert sorted(j.file_id for j in jobs) == sorted(file_ids)
        assert {j.status for j in jobs} == {"done"}
        assert max(j.attempts for j in jobs) == 2
        # Chunk rows, the index (asked through its owner) and the byte counts agree.
        index = RemoteIndex(f"http://127.0.0.1:{owner_port}", 384, key=ADMIN_KEY)
        for row in rows:
            assert row.chunk_count > 0
            assert chunk_rows[row.file_id] == row.chunk_count == index.count(store.id, row.file_id), (
                row.file_id
            )
        assert index.count(store.id) == sum(chunk_rows.values())
        assert chunk_bytes == usage == sum(row.usage_bytes for row in rows)
        index.close()

        for query in QUERIES:
            pages = [api.vector_stores.search(store.id, query=query, max_num_results=5) for api in apis]
            owner_hits, replica_hits = (
                [(h.file_id, h.score, h.content[0].text) for h in page.data] for page in pages
            )
            assert owner_hits and owner_hits == replica_hits, query
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture()
def owner_url(tmp_path: Path) -> Iterator[tuple[str, EdgeIndex]]:
    """An owner's internal index routes, serving an Edge index of ADI abstracts (hashed vectors, real BM25)."""
    index = EdgeIndex(tmp_path / "index", DIM)
    index.upsert(
        chunks(STORE, "file-a", DOCS[:20], {"kind": "a"})
        + chunks(STORE, "file-b", DOCS[20:40], {"kind": "b"})
    )
    app = FastAPI()  # the routes as `retrievd serve` mounts them, with its error envelope
    app.add_exception_handler(APIError, lambda _, e: JSONResponse(e.body(), status_code=e.status))  # type: ignore[arg-type, attr-defined]
    app.state.core = SimpleNamespace(settings=SimpleNamespace(api_key=ADMIN_KEY), index=index)
    app.include_router(owner.router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", index
    server.should_exit = True
    thread.join(10)
    index.close()


def test_a_replica_reads_the_owners_index_exactly_as_the_owner(owner_url: tuple[str, EdgeIndex]) -> None:
    url, index = owner_url
    remote = RemoteIndex(url, DIM, key=ADMIN_KEY)
    q = query("computer information retrieval systems", filters={"type": "eq", "key": "kind", "value": "a"})
    assert remote.query(q) == index.query(q) != []
    assert remote.query_branches(q, complete=True) == index.query_branches(q, complete=True)
    assert (remote.count(STORE), remote.count(STORE, "file-b")) == (40, 20)
    assert remote.scroll(STORE, "file-a") == index.scroll(STORE, "file-a")
    ids = [h.id for h in index.query(q)]
    assert remote.payloads([STORE], ids) == index.payloads([STORE], ids) != {}
    with pytest.raises(APIError) as invalid:  # the caller's mistake stays a 400 for the caller
        remote.query(query("x", filters={"type": "nope", "key": "kind", "value": 1}))
    assert invalid.value.status == 400
    with pytest.raises(RuntimeError, match="index writes are jobs the owner runs"):
        remote.upsert(chunks(STORE, "file-c", DOCS[40:41]))
    with pytest.raises(RuntimeError, match="401"):
        RemoteIndex(url, DIM, key="sk-not-the-admin-key").count(STORE)
    remote.close()


def test_an_embedded_index_has_one_owner_per_database(any_database: str, tmp_path: Path) -> None:
    """A second owner would index half of the jobs into a shard of its own: it is refused."""
    owner, rival = (
        Core(Settings(data_dir=tmp_path / name, database_url=any_database)) for name in ("a", "b")
    )
    worker = Core(Settings(data_dir=tmp_path / "w", database_url=any_database), worker=True)
    try:
        owner.claim_index()
        with pytest.raises(RuntimeError, match="Another process owns the embedded index"):
            rival.claim_index(wait_s=0)
        assert not worker.writes_index  # workers leave the index to its owner
        owner.close()
        rival.claim_index()  # the lock goes with its holder
    finally:
        for core in (owner, rival, worker):
            core.close()


def _environment_names(compose: dict) -> set[str]:
    services = compose["services"].values()  # YAML merge keys already applied
    return {
        name
        for service in services
        for name in service.get("environment", {})
        if name.startswith("RETRIEVD_")
    }


def test_the_compose_files_set_only_real_settings() -> None:
    settings = {f"RETRIEVD_{name.upper()}" for name in Settings.model_fields}
    for path in COMPOSE:
        names = _environment_names(yaml.safe_load(path.read_text()))
        assert names and names <= settings, (path.name, names - settings)


def test_the_compose_files_are_valid() -> None:
    """`docker compose config` (or the older `docker-compose`), where a client is installed."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    else:
        pytest.skip("no docker compose client")
    files = [arg for path in COMPOSE for arg in ("-f", str(path))]
    for chosen in (files[:2], files):  # the base alone, then with the cluster override
        result = subprocess.run(
            [*command, *chosen, "config", "-q"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "RETRIEVD_API_KEY": "sk-x"},
        )
        assert result.returncode == 0, result.stderr
