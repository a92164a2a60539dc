"""End-to-end search latency over HTTP on a store of 100,000 chunks.

    .venv/bin/python bench/search_e2e.py [--chunks 100000] [--queries 300] [--qdrant-url :memory:]

--chunks sets the size (the scale figures use 100k, 300k and 1M); --qdrant-url measures the
qdrant-client adapter instead of embedded Qdrant Edge. A store built by the run is measured by a
fresh process that opens it, as a restarted server would; after the latencies it prints that
process's RSS and the data dir's size on disk. Runs at two sizes give the cost per million chunks.

The store is built from real text: --base documents drawn from the six collections in
../shared/eval, each embedded once with the real model (cached under the data dir), then repeated
with a small random perturbation of its vector until the store holds --chunks chunks. That gives the
engine real vocabulary and real-model vectors at full size without hours of embedding. Queries are the
collections' real queries, sent through the API (`POST /v1/vector_stores/{id}/search`), so the
figures include HTTP, query embedding, BM25 encoding, the engine, fusion and the database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from rich.console import Console
from rich.progress import track
from rich.table import Table

from retrievd.api.app import create_app
from retrievd.config import Settings
from retrievd.core import Core
from retrievd.index.base import IndexPoint
from retrievd.services.projects import ProjectService
from retrievd.store.db import now
from retrievd.store.models import Chunk, File, VectorStore, VectorStoreFile
from retrievd.usage.bytes import chunk_usage_bytes

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
KEY = "sk-bench-admin"
CHUNKS_PER_FILE = 100


def load_texts() -> tuple[list[str], list[str]]:
    docs, queries = [], []
    for folder in sorted(p for p in EVAL.iterdir() if p.is_dir()):
        for line in (folder / "corpus.jsonl").open():
            d = json.loads(line)
            docs.append(f"{d.get('title', '')}\n{d['text']}".strip())
        queries += [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()]
    return docs, queries


def build_store(core: Core, project_id: str, n_chunks: int, docs: list[str], cache: Path) -> None:
    if cache.exists():
        base = np.load(cache)
    else:
        base = np.vstack([core.embedder.embed_documents(docs[i : i + 256]) for i in track(range(0, len(docs), 256), "embedding corpus")])
        np.save(cache, base)
    rng = np.random.default_rng(7)
    store_id = "vs_bench"
    avg_len = core.bm25.mean_length(docs)
    sparse_base = core.bm25.encode_documents(docs, avg_len)
    t = now()
    with core.db.session() as s:
        s.add(VectorStore(id=store_id, project_id=project_id, name="bench", created_at=t, last_active_at=t, bm25_avg_len=avg_len))
    for start in track(range(0, n_chunks, CHUNKS_PER_FILE), "indexing"):
        file_id = f"file-bench{start // CHUNKS_PER_FILE:06d}"
        picks = [(start + j) % len(docs) for j in range(CHUNKS_PER_FILE)]
        dense = base[picks] + rng.normal(0, 0.02, size=(CHUNKS_PER_FILE, base.shape[1])).astype(np.float32)
        dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        points, rows, total = [], [], 0
        for j, doc in enumerate(picks):
            size = chunk_usage_bytes(docs[doc], None, None, None, base.shape[1], len(sparse_base[doc].indices))
            total += size
            payload = {"text": docs[doc], "page": None, "section": None, "filename": f"{file_id}.txt", "attributes": {"group": start % 10}}
            points.append(IndexPoint(store_id, file_id, j, dense[j].tolist(), sparse_base[doc], payload))
            rows.append(Chunk(vector_store_id=store_id, file_id=file_id, chunk_index=j, text=docs[doc], token_count=0, dense=dense[j].astype("<f4").tobytes(), usage_bytes=size))
        core.index.upsert(points)
        with core.db.session() as s:
            s.add(File(id=file_id, project_id=project_id, filename=f"{file_id}.txt", bytes=0, purpose="assistants", sha256=""))
            s.add(VectorStoreFile(vector_store_id=store_id, file_id=file_id, project_id=project_id, status="completed", max_chunk_size_tokens=200, chunk_overlap_tokens=50, attributes={"group": start % 10}, usage_bytes=total, chunk_count=len(rows)))
            s.add_all(rows)
    core.index.flush()
    t0 = time.perf_counter()
    core.index.optimize()
    print(f"optimize: {time.perf_counter() - t0:.1f} s")


def measure(client: httpx.Client, store_id: str, queries: list[str], body_extra: dict) -> list[float]:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        r = client.post(f"/vector_stores/{store_id}/search", json={"query": q, **body_extra})
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return times


def resident_bytes() -> int:
    """The process's resident set now (VmRSS), engine and app together, as the OS counts it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--base", type=int, default=2000, help="distinct documents embedded")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--qdrant-url", default=None, help="':memory:' or a URL: the qdrant-client adapter")
    parser.add_argument("--record", type=Path, help="append the figures as a JSON line (bench/scale_plot.py reads them)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="retrievd-search-"))
    core = Core(Settings(data_dir=data_dir, api_key=KEY, qdrant_url=args.qdrant_url))
    ProjectService(core.db).bootstrap(KEY)
    project_id = ProjectService(core.db).list_projects()[0].id
    docs, queries = load_texts()
    picks = np.random.default_rng(3).choice(len(docs), size=min(args.base, len(docs)), replace=False)
    docs = [docs[i] for i in sorted(picks)]
    with core.db.session() as s:
        exists = s.get(VectorStore, "vs_bench") is not None
    if not exists:
        build_store(core, project_id, args.chunks, docs, data_dir / "base.npy")
        if args.qdrant_url != ":memory:":  # (an in-memory index lives only as long as this process)
            core.close()
            # Measure a server that opens the store, as after a restart: the build's own memory
            # (its arrays, the engine's write buffers) is not what serving the store costs.
            again = [*(argv if argv is not None else sys.argv[1:]), "--data-dir", str(data_dir)]
            subprocess.run([sys.executable, __file__, *again], check=True)
            return
    store_id = "vs_bench"
    print(f"store: {core.index.count(store_id)} chunks")

    server = uvicorn.Server(uvicorn.Config(create_app(core, start_workers=False), host="127.0.0.1", port=8765, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    rng = np.random.default_rng(1)
    picked = rng.choice(len(queries), size=2 * args.queries, replace=False)
    # Warm-up and measured queries are disjoint: what the warm-up caches (the page cache, BM25's
    # per-term bounds) helps the measured queries only through the terms they share, as in real use.
    warm_up, sample = ([queries[i] for i in part] for part in (picked[: args.queries], picked[args.queries :]))
    table = Table("search", "p50 ms", "p95 ms", "p99 ms", "mean ms")
    figures: dict[str, list[float]] = {}
    with httpx.Client(base_url="http://127.0.0.1:8765/v1", headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        measure(client, store_id, warm_up, {})
        for key, label, extra in (
            ("top10", "hybrid, top 10", {}),
            ("filtered", "hybrid, top 10, filter (10% of files)", {"filters": {"type": "eq", "key": "group", "value": 3}}),
            ("top50", "hybrid, top 50", {"max_num_results": 50}),
        ):
            t = sorted(measure(client, store_id, sample, extra))
            q = statistics.quantiles(t, n=100)
            figures[key] = [round(q[49], 1), round(q[94], 1), round(q[98], 1)]
            table.add_row(label, f"{q[49]:.1f}", f"{q[94]:.1f}", f"{q[98]:.1f}", f"{statistics.mean(t):.1f}")
    Console(width=160).print(table)
    chunks = core.index.count(store_id)
    rss, disk = resident_bytes(), sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())
    print(f"{chunks:,} chunks: RSS {rss / 2**30:.2f} GiB, disk {disk / 2**30:.2f} GiB (the cost per million is the slope between two sizes)")
    if args.record:
        index = "qdrant-client" if args.qdrant_url else "qdrant-edge"
        row = {"index": index, "chunks": chunks, **figures, "rss_gib": round(rss / 2**30, 2), "disk_gib": round(disk / 2**30, 2)}
        with args.record.open("a") as f:
            f.write(json.dumps(row) + "\n")
    server.should_exit = True
    core.close()


if __name__ == "__main__":
    main()
