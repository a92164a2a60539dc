"""Ingestion throughput on ../shared/docs beside the raw throughput of the same embedding model.

    .venv/bin/python bench/ingest.py [--docs DIR] [--only NAME ...]

Each file goes through the real pipeline (parse in a subprocess -> chunk -> embed -> index -> commit),
one at a time, timed end to end. Right after it, the chunks it produced are embedded again, alone, in
the same process: the raw model throughput on exactly the same texts, under the same conditions.
"tokens" are the tiktoken tokens of the chunks (overlap included: that is what the model embeds).
Text-heavy files are those of at least TEXT_HEAVY_TOKENS tokens; their ratio is the headline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from retrievd.api import schemas
from retrievd.config import Settings
from retrievd.core import Core
from retrievd.ingest.parse import parse_file
from retrievd.ingest.pipeline import job_handlers
from retrievd.jobs.worker import WorkerPool
from retrievd.services.files import FileService
from retrievd.services.projects import ProjectService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.models import Chunk, VectorStoreFile

DOCS = Path(__file__).resolve().parents[2] / "shared" / "docs"
TEXT_HEAVY_TOKENS = 10_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--only", nargs="*", help="file names to run (default: all)")
    args = parser.parse_args(argv)
    console = Console(width=160)
    core = Core(Settings(data_dir=Path(tempfile.mkdtemp(prefix="retrievd-bench-"))))
    ProjectService(core.db).bootstrap("sk-bench")
    project = ProjectService(core.db).list_projects()[0].id
    stores = VectorStoreService(core)
    store = stores.create(project, schemas.CreateVectorStoreRequest(name="bench")).id
    pool = WorkerPool(core.queue, job_handlers(core))
    # Start-up, not ingestion: loading the model, and the parser's child process importing unstructured.
    core.embedder.embed_documents(["warm up"])
    warm_up = Path(tempfile.mkdtemp(prefix="retrievd-bench-")) / "warm-up.txt"
    warm_up.write_text("Warm up.")
    parse_file(warm_up, warm_up.name, timeout_s=core.settings.parse_timeout_s, memory_mb=core.settings.parse_memory_mb)
    files = sorted(p for p in args.docs.iterdir() if p.is_file() and p.name != "SOURCE.md")
    if args.only:
        files = [p for p in files if p.name in args.only]

    table = Table("file", "status", "pages", "chunks", "tokens", "seconds", "pages/s", "tokens/s", "raw tokens/s", "pipeline/raw")
    totals: dict[str, dict[str, float]] = {
        group: {"pages": 0, "chunks": 0, "tokens": 0, "seconds": 0.0, "raw_seconds": 0.0} for group in ("all", "heavy")
    }
    for path in files:
        with path.open("rb") as f:
            file_id = FileService(core).create(project, f, path.name, "assistants").id
        stores.add_file(project, store, schemas.CreateVectorStoreFileRequest(file_id=file_id))
        t0 = time.perf_counter()
        pool.drain()
        seconds = time.perf_counter() - t0
        with core.db.session() as s:
            row = s.get(VectorStoreFile, (store, file_id))
            chunks = list(s.execute(select(Chunk).where(Chunk.file_id == file_id).order_by(Chunk.chunk_index)).scalars())
        if row is None or row.status != "completed":
            table.add_row(path.name, row.status if row else "?", "", "", "", f"{seconds:.1f}", "", "", "", "")
            continue
        t0 = time.perf_counter()
        core.embedder.embed_documents([c.text for c in chunks])
        raw_seconds = time.perf_counter() - t0
        pages = max((c.page or 1 for c in chunks), default=1)
        tokens = sum(c.token_count for c in chunks)
        for group in ("all", "heavy") if tokens >= TEXT_HEAVY_TOKENS else ("all",):
            for key, value in (("pages", pages), ("chunks", len(chunks)), ("tokens", tokens), ("seconds", seconds), ("raw_seconds", raw_seconds)):
                totals[group][key] += value
        table.add_row(
            path.name, "completed", str(pages), str(len(chunks)), str(tokens), f"{seconds:.1f}", f"{pages / seconds:.1f}",
            f"{tokens / seconds:.0f}", f"{tokens / raw_seconds:.0f}", f"{raw_seconds / seconds:.0%}",
        )
    console.print(table)

    summary = Table("measure", "all completed files", f"text-heavy files (>= {TEXT_HEAVY_TOKENS:,} tokens)")
    rows = (
        ("pages/s", lambda t: f"{t['pages'] / t['seconds']:.2f}"),
        ("chunks/s", lambda t: f"{t['chunks'] / t['seconds']:.2f}"),
        ("tokens/s (pipeline)", lambda t: f"{t['tokens'] / t['seconds']:.0f}"),
        ("tokens/s (raw model, same chunks)", lambda t: f"{t['tokens'] / t['raw_seconds']:.0f}"),
        ("pipeline / raw model", lambda t: f"{t['raw_seconds'] / t['seconds']:.0%}"),
    )
    for label, cell in rows:
        summary.add_row(label, cell(totals["all"]), cell(totals["heavy"]) if totals["heavy"]["seconds"] else "-")
    console.print(summary)
    core.close()


if __name__ == "__main__":
    main()
