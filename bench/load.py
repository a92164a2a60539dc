"""Load: concurrent clients search a store for a minute while a file batch ingests into it.

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--corpus cranfield] [--files 70]

Starts `retrievd serve` on a fresh data dir (or uses `--base-url` and `--api-key`), uploads a BEIR
collection from /work/shared/eval as text files of 20 documents each, indexes the first half into
one store and waits. Then, at the same moment, adds the other half to the store as one file batch
and starts the clients: each runs the collection's real queries against the store, one request at
a time, for `--seconds`. Reports requests, errors by kind, throughput, latency p50/p95/p99/max and
how far the batch got during the window. Exits 1 on any error. The server's rate limit is off
(`RETRIEVD_RATE_LIMIT_PER_MINUTE=0`): every client uses the same key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

EVAL = Path("/work/shared/eval")
KEY = "sk-admin-load-bench-0123456789"
DOCS_PER_FILE = 20


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def documents(corpus: str) -> list[str]:
    rows = [json.loads(line) for line in (EVAL / corpus / "corpus.jsonl").read_text().splitlines()]
    return [f"{row.get('title') or ''}\n\n{row['text']}".strip() for row in rows]


def queries(corpus: str) -> list[str]:
    return [json.loads(line)["text"] for line in (EVAL / corpus / "queries.jsonl").read_text().splitlines()]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "RETRIEVD_DATA_DIR": str(data_dir),
        "RETRIEVD_API_KEY": KEY,
        "RETRIEVD_RATE_LIMIT_PER_MINUTE": "0",
    }
    log = open(data_dir.parent / f"{data_dir.name}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrievd", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, f"{base}/v1"
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def upload_files(http: httpx.Client, docs: list[str], count: int) -> list[str]:
    ids = []
    for n in range(count):
        text = "\n\n".join(docs[n * DOCS_PER_FILE : (n + 1) * DOCS_PER_FILE])
        response = http.post(
            "/files", files={"file": (f"part-{n:03}.txt", text.encode())}, data={"purpose": "assistants"}
        )
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def wait_for(http: httpx.Client, store: str) -> dict:
    while (counts := http.get(f"/vector_stores/{store}").json()["file_counts"])["in_progress"]:
        time.sleep(0.5)
    return counts


async def client(
    base_url: str, key: str, store: str, pool: list[str], until: float, seed: int, tally: Tally
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = await http.post(f"/vector_stores/{store}/search", json={"query": rng.choice(pool)})
                if response.status_code != 200 or not response.json()["data"]:
                    tally.errors[
                        f"HTTP {response.status_code}" if response.status_code != 200 else "no results"
                    ] += 1
                    continue
            except httpx.HTTPError as error:
                tally.errors[type(error).__name__] += 1
                continue
            tally.latencies.append(time.monotonic() - started)


async def drive(base_url: str, key: str, store: str, pool: list[str], clients: int, seconds: float) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(base_url, key, store, pool, until, n, tally) for n in range(clients)))
    return tally


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--corpus", default="cranfield")
    parser.add_argument(
        "--files", type=int, default=70, help="text files of 20 documents; half indexed before, half during"
    )
    parser.add_argument("--base-url", help="an already running server's /v1 URL (default: start one)")
    parser.add_argument("--api-key", default=KEY)
    args = parser.parse_args()

    proc = None
    if args.base_url is None:
        data_dir = Path(tempfile.mkdtemp(prefix="retrievd-load-"))
        proc, args.base_url = start_server(data_dir)
        print(f"server: {args.base_url}, data dir {data_dir}, log {data_dir}.log")
    try:
        with httpx.Client(
            base_url=args.base_url, headers={"Authorization": f"Bearer {args.api_key}"}, timeout=300
        ) as http:
            docs = documents(args.corpus)
            files = upload_files(http, docs, min(args.files, len(docs) // DOCS_PER_FILE))
            before, during = files[: len(files) // 2], files[len(files) // 2 :]
            store = http.post(
                "/vector_stores", json={"name": f"load-{args.corpus}", "file_ids": before}
            ).json()["id"]
            t = time.monotonic()
            counts = wait_for(http, store)
            print(
                f"indexed {counts['completed']} files ({len(before) * DOCS_PER_FILE} documents) in {time.monotonic() - t:.0f} s"
            )

            batch = http.post(f"/vector_stores/{store}/file_batches", json={"file_ids": during}).json()["id"]
            tally = asyncio.run(
                drive(args.base_url, args.api_key, store, queries(args.corpus), args.clients, args.seconds)
            )
            progress = http.get(f"/vector_stores/{store}/file_batches/{batch}").json()["file_counts"]
            wait_for(http, store)
            final = http.get(f"/vector_stores/{store}").json()["file_counts"]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)

    lat = sorted(tally.latencies)
    errors = sum(tally.errors.values())
    figures = {
        "clients": args.clients,
        "seconds": args.seconds,
        "requests": len(lat) + errors,
        "errors": dict(tally.errors),
        "throughput_rps": round(len(lat) / args.seconds, 1),
        "p50_ms": round(percentile(lat, 0.50) * 1000, 1),
        "p95_ms": round(percentile(lat, 0.95) * 1000, 1),
        "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
        "max_ms": round(lat[-1] * 1000, 1),
        "batch_during_window": progress,
        "store_after": final,
    }
    print(json.dumps(figures, indent=2))
    return 1 if errors or final["completed"] != len(files) else 0


if __name__ == "__main__":
    sys.exit(main())
