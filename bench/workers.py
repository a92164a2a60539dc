"""Ingestion throughput with 1 and 2 `retrievd worker` processes, on PostgreSQL with the embedded index.

    .venv/bin/python bench/workers.py [--files 40] [--docs-per-file 20] [--workers 1 2] [--threads 1]

Per configuration: a fresh PostgreSQL database (RETRIEVD_TEST_POSTGRES_URL, default the server on
127.0.0.1:5432), the index owner (`retrievd serve --no-workers`) and N workers, all started and
warmed up (the model loaded, the parser's forkserver running) before the clock starts. The files
(each a run of real CISI abstracts) are uploaded, attached in one batch, and timed until every file
is `completed`. CPU seconds are summed over each process tree (parser children included).

Then the owner's share alone is timed: chunk rows -> points (BM25 re-encoded) -> upsert, i.e.
`retrievd index rebuild` over the same rows. That rate is the ceiling one index owner puts on any
number of workers.
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
import openai
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text

from retrievd.config import Settings
from retrievd.core import Core
from retrievd.index.rebuild import rebuild
from retrievd.store.models import Chunk

CISI = Path(__file__).resolve().parents[2] / "shared" / "eval" / "cisi" / "corpus.jsonl"
POSTGRES = os.environ.get("RETRIEVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
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
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(c) for c in children)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "retrievd", *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_http(url: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def run(workers: int, threads: int, paths: list[Path], root: Path) -> dict[str, float]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"retrievd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    data = root / f"w{workers}"
    env = {**os.environ, "RETRIEVD_DATABASE_URL": url, "RETRIEVD_API_KEY": KEY, "RETRIEVD_BLOBS_DIR": str(data / "blobs")}
    port = 18400 + workers
    procs = [start(["serve", "--no-workers", "--port", str(port)], {**env, "RETRIEVD_DATA_DIR": str(data / "owner")}, data.with_suffix(".owner.log"))]
    try:
        wait_http(f"http://127.0.0.1:{port}/health", procs[0])
        procs += [
            start(["worker", "--threads", str(threads)], {**env, "RETRIEVD_DATA_DIR": str(data / f"w{n}")}, data.with_suffix(f".w{n}.log"))
            for n in range(workers)
        ]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=300)
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
        engine = create_engine(url)
        with engine.connect() as conn:
            chunks, tokens = conn.execute(
                select(func.count(), func.sum(Chunk.token_count)).where(Chunk.vector_store_id == store.id)
            ).one()
        engine.dispose()
        assert counts.completed == len(paths), counts
        return {"seconds": seconds, "chunks": chunks, "tokens": tokens, "owner_cpu": cpu[0], "workers_cpu": sum(cpu[1:]), "url": url}  # type: ignore[dict-item]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)


def owner_rate(url: str, root: Path) -> tuple[int, float]:
    """Points per second of the owner's step alone: chunk rows -> points -> upsert (a rebuild)."""
    core = Core(Settings(data_dir=root / "rebuild", database_url=url))
    try:
        report = rebuild(core)
    finally:
        core.close()
    return report.points, report.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--docs-per-file", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="ingestion threads per worker")
    args = parser.parse_args()
    console = Console(width=150)
    root = Path(tempfile.mkdtemp(prefix="retrievd-bench-workers-"))
    paths = write_files(root, args.files, args.docs_per_file)
    console.print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {len(paths)} files of {args.docs_per_file} CISI abstracts")
    table = Table("workers", "seconds", "files/s", "chunks/s", "tokens/s", "worker CPU s", "owner CPU s", "CPU use")
    urls = []
    for n in args.workers:
        r = run(n, args.threads, paths, root)
        urls.append(str(r["url"]))
        busy = (r["workers_cpu"] + r["owner_cpu"]) / r["seconds"]
        table.add_row(
            str(n), f"{r['seconds']:.1f}", f"{len(paths) / r['seconds']:.2f}", f"{r['chunks'] / r['seconds']:.1f}",
            f"{r['tokens'] / r['seconds']:.0f}", f"{r['workers_cpu']:.1f}", f"{r['owner_cpu']:.1f}", f"{busy:.2f} cores",
        )
    console.print(table)
    points, seconds = owner_rate(urls[-1], root)
    console.print(f"owner step alone (rows -> points -> upsert, `index rebuild`): {points} points in {seconds:.2f} s = {points / seconds:.0f} points/s")
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for url in urls:
            conn.execute(text(f'DROP DATABASE "{create_engine(url).url.database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
