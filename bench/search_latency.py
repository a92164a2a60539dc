"""Engine-side search latency of the default backend (Qdrant Edge) as a store grows to 100k chunks.

    .venv/bin/python bench/search_latency.py [--points 100000] [--queries 200] [--extra 10000]

Chunks are 3-8 real sentences drawn from one of the /work/shared/eval corpora, with real BM25
vectors. Dense vectors are 384-d and realistic without a model: a fixed random projection of
each chunk's BM25 terms plus noise, so texts that share words are neighbours, as with a
sentence embedder. Queries are the corpora's real queries, encoded the same way.

Phases: upsert N points into one store (plus a 2,000-point second store), measure, optimize(),
measure, upsert `--extra` more (left unoptimized, as between two optimize() runs), measure,
optimize again. Each measurement: p50/p95 over the queries of hybrid search (2 prefetches of 50,
RRF, top 10 with payload) without and with attribute filters, of `query_branches`, and of a
query on the small store. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from retrievd.index.base import IndexPoint, IndexQuery, Sparse
from retrievd.index.edge import EdgeIndex
from retrievd.index.sparse import Bm25Encoder

EVAL = Path("/work/shared/eval")
CORPORA = ("adi", "cacm", "cisi", "cranfield", "time")
DIM = 384
BUCKETS = 1 << 14  # hashed BM25 term ids folded into this many rows of the projection
BIG, SMALL = "vs_big", "vs_small"
BATCH = 256  # points per upsert, like ingestion of a large file


def sentences_by_corpus() -> dict[str, list[str]]:
    out = {}
    for name in CORPORA:
        docs = [json.loads(line) for line in (EVAL / name / "corpus.jsonl").read_text().splitlines()]
        text = " ".join(f"{d.get('title', '')}. {d['text']}" for d in docs)
        out[name] = [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4]
    return out


def queries() -> list[str]:
    return [json.loads(line)["text"] for name in CORPORA for line in (EVAL / name / "queries.jsonl").read_text().splitlines()]


class Projector:
    """Dense vectors from sparse ones: a fixed random projection of the hashed terms, plus noise."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.matrix = self.rng.standard_normal((BUCKETS, DIM), dtype=np.float32)

    def __call__(self, sparse: list[Sparse], noise: float = 0.3) -> np.ndarray:
        dense = np.zeros((len(sparse), DIM), dtype=np.float32)
        for row, s in enumerate(sparse):
            weights = np.asarray(s.values, dtype=np.float32)
            rows = self.matrix[np.asarray(s.indices, dtype=np.int64) % BUCKETS]
            dense[row] = weights @ rows / (np.linalg.norm(weights) + 1e-9)
        dense += noise * self.rng.standard_normal(dense.shape, dtype=np.float32)
        return dense / (np.linalg.norm(dense, axis=1, keepdims=True) + 1e-9)


def make_chunks(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pools = list(sentences_by_corpus().values())
    return [" ".join(rng.choices(rng.choice(pools), k=rng.randint(3, 8))) for _ in range(n)]


def make_points(store: str, texts: list[str], start: int, bm25: Bm25Encoder, project: Projector) -> Iterator[list[IndexPoint]]:
    avg_len = bm25.mean_length(texts[:5000])
    for lo in range(0, len(texts), BATCH):
        batch = texts[lo : lo + BATCH]
        sparse = bm25.encode_documents(batch, avg_len)
        dense = project(sparse)
        yield [
            IndexPoint(
                store,
                f"file-{(start + lo + i) // 100}",  # 100 chunks per file
                (start + lo + i) % 100,
                dense[i],
                sparse[i],
                {"text": text, "attributes": {"group": f"g{(start + lo + i) % 10}", "year": 2000 + (start + lo + i) % 25}},
            )
            for i, text in enumerate(batch)
        ]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def timed(fn: Callable[[IndexQuery], object], requests: list[IndexQuery]) -> tuple[float, float]:
    for r in requests[:5]:
        fn(r)  # warm-up
    samples = []
    for r in requests:
        t0 = time.perf_counter()
        fn(r)
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


GROUP = {"type": "eq", "key": "group", "value": "g3"}  # 10% of the store
GROUP_YEAR = {"type": "and", "filters": [GROUP, {"type": "eq", "key": "year", "value": 2008}]}  # 2% (i % 50 == 33)


def measure(index: EdgeIndex, label: str, qtexts: list[str], bm25: Bm25Encoder, project: Projector, rows: list) -> None:
    sparse = [bm25.encode_query(t) for t in qtexts]
    dense = project(sparse, noise=0.3)

    def request(store: str, i: int, filters: dict | None = None) -> IndexQuery:
        return IndexQuery([store], dense=dense[i].tolist(), sparse=sparse[i], filters=filters, limit=10, prefetch_limit=50)

    n = len(qtexts)
    cases = {
        "hybrid": (index.query, [request(BIG, i) for i in range(n)]),
        "hybrid, filter 10%": (index.query, [request(BIG, i, GROUP) for i in range(n)]),
        "hybrid, filter 2%": (index.query, [request(BIG, i, GROUP_YEAR) for i in range(n)]),
        "query_branches": (index.query_branches, [request(BIG, i) for i in range(n)]),
        "branches, complete": (lambda q: index.query_branches(q, complete=True), [request(BIG, i) for i in range(n)]),
        "hybrid, small store": (index.query, [request(SMALL, i) for i in range(n)]),
    }
    for case, (fn, requests) in cases.items():
        p50, p95 = timed(fn, requests)
        rows.append((label, case, p50, p95))
        print(f"  {label:<34} {case:<22} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms", flush=True)


def optimize_with_probe(index: EdgeIndex) -> tuple[float, float]:
    """optimize()'s duration, and the longest stall it caused another Python thread."""
    stamps: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.005)

    thread = threading.Thread(target=probe)
    thread.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    index.optimize()
    took = time.perf_counter() - t0
    done.set()
    thread.join()
    return took, float(np.max(np.diff(stamps)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--extra", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    bm25, project = Bm25Encoder(), Projector()
    qtexts = random.Random(1).sample(queries(), args.queries)
    texts = make_chunks(args.points + args.extra + 2000, seed=0)
    big, extra, small = texts[: args.points], texts[args.points : args.points + args.extra], texts[args.points + args.extra :]
    rows: list[tuple[str, str, float, float]] = []

    with tempfile.TemporaryDirectory() as tmp:
        index = EdgeIndex(Path(tmp) / "index", DIM)
        t0 = time.perf_counter()
        for points in make_points(BIG, big, 0, bm25, project):
            index.upsert(points)
        for points in make_points(SMALL, small, 0, bm25, project):
            index.upsert(points)
        print(f"upsert {args.points + len(small):,} points (encode + upsert, batches of {BATCH}): {time.perf_counter() - t0:.1f} s")
        measure(index, f"{args.points // 1000}k, never optimized", qtexts, bm25, project, rows)

        took, stall = optimize_with_probe(index)
        print(f"optimize(): {took:.1f} s; longest stall of another Python thread meanwhile: {stall:.1f} s")
        measure(index, f"{args.points // 1000}k, optimized", qtexts, bm25, project, rows)

        for points in make_points(BIG, extra, args.points, bm25, project):
            index.upsert(points)
        measure(index, f"+{args.extra // 1000}k not yet optimized", qtexts, bm25, project, rows)
        took, stall = optimize_with_probe(index)
        print(f"optimize() after +{args.extra:,}: {took:.1f} s; longest stall of another thread: {stall:.1f} s")
        index.close()

    print("\n| state | query | p50 ms | p95 ms |\n|---|---|---|---|")
    for label, case, p50, p95 in rows:
        print(f"| {label} | {case} | {p50:.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
