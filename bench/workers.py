"""Ingestion throughput with 1 and 2 `retrievd worker` processes, on PostgreSQL with the embedded index.

    .venv/bin/python bench/workers.py [--files 30] [--docs-per-file 20] [--workers 1 2] [--embedding-threads N]

Per configuration: a fresh PostgreSQL database (RETRIEVD_TEST_POSTGRES_URL, default the server on
127.0.0.1:5432), the index owner (`retrievd serve --no-workers`) and N workers, all started and
warmed up (the model loaded, the parser's forkserver running) before the clock starts. The files
(each a run of real CISI abstracts) are uploaded, attached in one batch, and timed until every file
is `completed`. CPU seconds are summed over each process tree (parser children included).

A second API (RETRIEVD_INDEX_OWNER_URL = the owner) then answers the same searches as the owner:
its index reads cross HTTP to the owner, which is the cost of "one index, many processes" on the
read side.

Then the owner's share alone is timed: the same files indexed again by `index_file` jobs (chunk rows
-> points, BM25 re-encoded -> upsert -> flush -> completed) in the owner's index pool. That rate is
the ceiling one index owner puts on any number of workers; the workers' CPU per chunk is the
ceiling the cores put on them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import openai
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text

from retrievd.config import Settings
from retrievd.core import Core
from retrievd.index.base import IndexQuery
from retrievd.index.owner import RemoteIndex
from retrievd.index.sparse import Bm25Encoder
from retrievd.ingest.pipeline import INDEX_JOBS, job_handlers
from retrievd.jobs.worker import WorkerPool
from retrievd.store.models import Chunk, Job, VectorStoreFile

CISI = Path(__file__).resolve().parents[2] / "shared" / "eval" / "cisi" / "corpus.jsonl"
POSTGRES = os.environ.get(
    "RETRIEVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
KEY = "sk-bench-workers-0123456789"
TICKS = os.sysconf("SC_CLK_TCK")


def write_files(folder: Path, files: int, per_file: int) -> list[Path]:
    docs = [json.loads(line) for line in CISI.read_text().splitlines()]
    paths = []
    for n in range(files):
        part = docs[n * per_file : (n + 1) * per_file]
        path = folder / f"cisi-{n:03d}.txt"
        path.write_text("\n\n".join(f"{d['title']}\n\n{d['text']}" for d in part))
        paths.append(path)
    return paths


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants (reaped ones included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = [
            int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()
        ]
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(c) for c in children)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "retrievd", *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def wait_http(url: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def run(workers: int, embedding_threads: int | None, paths: list[Path], root: Path) -> dict[str, float]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"retrievd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    data = root / f"w{workers}"
    env = {
        **os.environ,
        "RETRIEVD_DATABASE_URL": url,
        "RETRIEVD_API_KEY": KEY,
        "RETRIEVD_BLOBS_DIR": str(data / "blobs"),
    }
    port, replica_port = 18400 + 2 * workers, 18401 + 2 * workers
    procs = [
        start(
            ["serve", "--no-workers", "--port", str(port)],
            {**env, "RETRIEVD_DATA_DIR": str(data / "owner")},
            data.with_suffix(".owner.log"),
        )
    ]
    try:
        wait_http(f"http://127.0.0.1:{port}/health", procs[0])
        replica_env = {
            **env,
            "RETRIEVD_DATA_DIR": str(data / "replica"),
            "RETRIEVD_INDEX_OWNER_URL": f"http://127.0.0.1:{port}",
        }
        procs.append(
            start(
                ["serve", "--no-workers", "--port", str(replica_port)],
                replica_env,
                data.with_suffix(".replica.log"),
            )
        )
        wait_http(f"http://127.0.0.1:{replica_port}/health", procs[1])
        worker_env = {
            **env,
            **({"RETRIEVD_EMBEDDING_THREADS": str(embedding_threads)} if embedding_threads else {}),
        }
        procs += [
            start(
                ["worker", "--threads", "1"],
                {**worker_env, "RETRIEVD_DATA_DIR": str(data / f"w{n}")},
                data.with_suffix(f".w{n}.log"),
            )
            for n in range(workers)
        ]
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=300
        )
        warm = client.vector_stores.create(name="warm-up")
        for n in range(workers):  # one small file per worker loads its model and parser
            f = client.files.create(file=(f"warm{n}.txt", paths[n].read_bytes()[:2000]), purpose="assistants")
            client.vector_stores.files.create(warm.id, file_id=f.id)
        while client.vector_stores.retrieve(warm.id).file_counts.in_progress:
            time.sleep(0.2)
        ids = [client.files.create(file=(p.name, p.read_bytes()), purpose="assistants").id for p in paths]
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        store = client.vector_stores.create(name="bench")
        t0 = time.perf_counter()
        client.vector_stores.file_batches.create(store.id, file_ids=ids)
        while (counts := client.vector_stores.retrieve(store.id).file_counts).in_progress:
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        cpu = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0)]
        latency = {
            name: search_p50(
                openai.OpenAI(base_url=f"http://127.0.0.1:{p}/v1", api_key=KEY, max_retries=0), store.id
            )
            for name, p in (("owner", port), ("replica", replica_port))
        }
        latency["read"] = remote_read_p50(f"http://127.0.0.1:{port}", store.id)
        engine = create_engine(url)
        with engine.connect() as conn:
            chunks, tokens = conn.execute(
                select(func.count(), func.sum(Chunk.token_count)).where(Chunk.vector_store_id == store.id)
            ).one()
        engine.dispose()
        assert counts.completed == len(paths), counts
        return {
            "seconds": seconds,
            "chunks": chunks,
            "tokens": tokens,
            "owner_cpu": cpu[0],
            "workers_cpu": sum(cpu[2:]),
            "owner_ms": latency["owner"],
            "replica_ms": latency["replica"],
            "read_ms": latency["read"],
            "url": url,  # type: ignore[dict-item]
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)


def search_p50(client: openai.OpenAI, store_id: str, n: int = 40) -> float:
    """Median milliseconds of a search (query embedding + index + HTTP), after a warm-up."""
    queries = [
        json.loads(line)["text"] for line in CISI.with_name("queries.jsonl").read_text().splitlines()[:n]
    ]
    client.vector_stores.search(store_id, query=queries[0])
    times = []
    for query in queries:
        t0 = time.perf_counter()
        client.vector_stores.search(store_id, query=query[:500])
        times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[len(times) // 2]


def remote_read_p50(owner_url: str, store_id: str, n: int = 100) -> float:
    """Median milliseconds of one index read through the owner (HTTP + JSON + the engine): what a
    replica adds to a search, the query embedding aside."""
    index = RemoteIndex(owner_url, 384, key=KEY)
    rng = np.random.default_rng(0)
    bm25 = Bm25Encoder()
    times = []
    for n_query in range(n):
        dense = rng.normal(size=384)
        query = IndexQuery(
            [store_id],
            dense=(dense / np.linalg.norm(dense)).tolist(),
            sparse=bm25.encode_query(f"library {n_query}"),
        )
        t0 = time.perf_counter()
        index.query_branches(query)
        times.append(time.perf_counter() - t0)
    index.close()
    return 1000 * sorted(times)[len(times) // 2]


def owner_rate(url: str, root: Path) -> tuple[int, int, float]:
    """The owner's share alone: every file of the run indexed again by `index_file` jobs (chunk rows ->
    points -> upsert -> flush -> completed) in the owner's index pool, into a fresh embedded index.
    Returns (files, points, seconds)."""
    core = Core(Settings(data_dir=root / "owner-step", database_url=url))
    try:
        with core.db.session() as s:
            files = (
                s.execute(select(VectorStoreFile).where(VectorStoreFile.status == "completed"))
                .scalars()
                .all()
            )
            for row in files:
                row.status = "in_progress"
                s.add(
                    Job(
                        kind="index_file",
                        project_id=row.project_id,
                        vector_store_id=row.vector_store_id,
                        file_id=row.file_id,
                    )
                )
            points = sum(row.chunk_count for row in files)
        core.index.count(files[0].vector_store_id)  # open the index before the clock starts
        pool = WorkerPool(core.queue, job_handlers(core, INDEX_JOBS), poll_s=0.01)
        t0 = time.perf_counter()
        pool.start()
        while True:
            with core.db.session() as s:
                if not s.scalar(select(func.count()).where(VectorStoreFile.status == "in_progress")):
                    break
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        pool.stop()
        return len(files), points, seconds
    finally:
        core.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--docs-per-file", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--embedding-threads", type=int, help="ONNX threads per worker (default: the model's, all cores)"
    )
    args = parser.parse_args()
    console = Console(width=180)
    root = Path(tempfile.mkdtemp(prefix="retrievd-bench-workers-"))
    paths = write_files(root, args.files, args.docs_per_file)
    console.print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {len(paths)} files of {args.docs_per_file} CISI abstracts"
    )
    table = Table(
        "workers",
        "chunks",
        "seconds",
        "chunks/s",
        "tokens/s",
        "worker CPU/chunk",
        "owner CPU/chunk",
        "CPU use",
        "search p50 owner",
        "search p50 replica",
        "index read via owner p50",
    )
    urls, worker_ms = [], []
    for n in args.workers:
        r = run(n, args.embedding_threads, paths, root)
        urls.append(str(r["url"]))
        busy = (r["workers_cpu"] + r["owner_cpu"]) / r["seconds"]
        worker_ms.append(1000 * r["workers_cpu"] / r["chunks"])
        table.add_row(
            str(n),
            str(r["chunks"]),
            f"{r['seconds']:.1f}",
            f"{r['chunks'] / r['seconds']:.1f}",
            f"{r['tokens'] / r['seconds']:.0f}",
            f"{1000 * r['workers_cpu'] / r['chunks']:.0f} ms",
            f"{1000 * r['owner_cpu'] / r['chunks']:.1f} ms",
            f"{busy:.2f} cores",
            f"{r['owner_ms']:.0f} ms",
            f"{r['replica_ms']:.0f} ms",
            f"{r['read_ms']:.1f} ms",
        )
    console.print(table)
    files, points, seconds = owner_rate(urls[-1], root)
    console.print(
        f"owner step alone: {files} files, {points} points in {seconds:.2f} s: {files / seconds:.1f} files/s, "
        f"{1000 * seconds / files:.0f} ms per file"
    )
    cpu_ms, chunks_per_file = min(worker_ms), points / files
    owner_chunks_s = points / seconds
    console.print(
        f"What limits it: CPU. A worker spends {cpu_ms:.0f} ms of CPU per chunk (mostly embedding), so {os.cpu_count()} cores "
        f"ingest at most {os.cpu_count() * 1000 / cpu_ms:.0f} chunks/s however many workers share them: more workers help "
        f"only on more cores or machines. One index owner applies {owner_chunks_s:.0f} chunks/s with files of "
        f"{chunks_per_file:.0f} chunks (its cost is mostly a flush per file): it keeps up with about "
        f"{owner_chunks_s * cpu_ms / 1000:.0f} worker cores."
    )
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for url in urls:
            conn.execute(text(f'DROP DATABASE "{create_engine(url).url.database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
