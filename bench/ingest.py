"""Ingestion throughput on ../shared/docs beside the raw throughput of the same embedding model.

    .venv/bin/python bench/ingest.py [--docs DIR] [--only NAME ...]

Each file goes through the real pipeline (parse in a subprocess -> chunk -> embed -> index -> commit),
one at a time, timed end to end. Then the chunks it produced are embedded again, alone, to give the
raw model throughput on exactly the same texts. "tokens" are the tiktoken tokens of the chunks
(overlap included: that is what the model embeds); "doc tokens" excludes the overlap.
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
from retrievd.ingest.pipeline import job_handlers
from retrievd.jobs.worker import WorkerPool
from retrievd.services.files import FileService
from retrievd.services.projects import ProjectService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.models import Chunk, VectorStoreFile

DOCS = Path(__file__).resolve().parents[2] / "shared" / "docs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--only", nargs="*", help="file names to run (default: all)")
    args = parser.parse_args()
    console = Console()
    core = Core(Settings(data_dir=Path(tempfile.mkdtemp(prefix="retrievd-bench-"))))
    ProjectService(core.db).bootstrap("sk-bench")
    project = ProjectService(core.db).list_projects()[0].id
    stores = VectorStoreService(core)
    store = stores.create(project, schemas.CreateVectorStoreRequest(name="bench")).id
    pool = WorkerPool(core.queue, job_handlers(core))
    core.embedder.embed_documents(["warm up"])  # model load is start-up, not ingestion
    files = sorted(p for p in args.docs.iterdir() if p.is_file() and p.name != "SOURCE.md")
    if args.only:
        files = [p for p in files if p.name in args.only]

    table = Table("file", "status", "pages", "chunks", "tokens", "seconds", "pages/s", "tokens/s", "chunks/s")
    totals = {"pages": 0, "chunks": 0, "tokens": 0, "doc_tokens": 0, "seconds": 0.0}
    texts: list[str] = []
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
            table.add_row(path.name, row.status if row else "?", "", "", "", f"{seconds:.1f}", "", "", "")
            continue
        pages = max((c.page or 1 for c in chunks), default=1)
        tokens = sum(c.token_count for c in chunks)
        doc_tokens = tokens - row.chunk_overlap_tokens * max(0, len(chunks) - 1)
        texts.extend(c.text for c in chunks)
        for key, value in (("pages", pages), ("chunks", len(chunks)), ("tokens", tokens), ("doc_tokens", doc_tokens), ("seconds", seconds)):
            totals[key] += value
        table.add_row(
            path.name, "completed", str(pages), str(len(chunks)), str(tokens), f"{seconds:.1f}",
            f"{pages / seconds:.1f}", f"{tokens / seconds:.0f}", f"{len(chunks) / seconds:.1f}",
        )
    console.print(table)

    t0 = time.perf_counter()
    core.embedder.embed_documents(texts)
    raw_seconds = time.perf_counter() - t0
    raw_rate = totals["tokens"] / raw_seconds
    rate = totals["tokens"] / totals["seconds"]
    summary = Table("measure", "value")
    summary.add_row("pages/s (all completed files)", f"{totals['pages'] / totals['seconds']:.2f}")
    summary.add_row("chunks/s", f"{totals['chunks'] / totals['seconds']:.2f}")
    summary.add_row("tokens/s embedded (pipeline)", f"{rate:.0f}")
    summary.add_row("document tokens/s (overlap excluded)", f"{totals['doc_tokens'] / totals['seconds']:.0f}")
    summary.add_row("raw model tokens/s (same chunks, embed only)", f"{raw_rate:.0f}")
    summary.add_row("pipeline / raw model", f"{rate / raw_rate:.0%}")
    console.print(summary)
    core.close()


if __name__ == "__main__":
    main()
