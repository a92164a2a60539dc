"""A file batch of many one-paragraph files, ingested as the server does it, beside the raw model.

    .venv/bin/python bench/small_files.py [--files 2000] [--rounds 3] [--database-url postgresql://...]

The files are the abstracts of ../shared/eval's CISI and Cranfield collections, one a file (a
ticket, an email, an FAQ entry: a paragraph of ~50-300 tokens). They are uploaded, attached in one
`file_batches.create`, and ingested by the server's own worker pools (`Core.start_workers`: the
ingestion thread and the index thread), timed from the batch's creation until it is `completed`.
Right after it, the same chunks are embedded again, alone, in the same process, in the embedder's
batches: the raw model throughput on the same texts. Goal (issue #15): pipeline >= 90% of raw.
Each round does this into a fresh store; the median ratio is the figure (the machine is shared and
its speed drifts by several percent from one minute to the next).
The batch is polled every POLL_S, a quarter of the SDK's `file_batches.poll` interval (1 s); a
50 ms poll took ~5 s of CPU from the ingestion.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from retrievd.api import schemas
from retrievd.config import Settings
from retrievd.core import Core
from retrievd.services.files import FileService
from retrievd.services.projects import ProjectService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.models import Chunk

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
POLL_S = 0.25


def paragraphs(n: int) -> list[str]:
    """n abstracts, CISI's then Cranfield's."""
    texts: list[str] = []
    for name in ("cisi", "cranfield"):
        with (EVAL / name / "corpus.jsonl").open() as f:
            texts += [t for line in f if (t := json.loads(line)["text"].strip())]
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} paragraphs available")
    return texts[:n]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="batches, each on a fresh server (default 3)")
    parser.add_argument("--database-url", help="default: SQLite in a fresh data dir")
    args = parser.parse_args(argv)
    console = Console()
    texts = paragraphs(args.files)
    table = Table(
        "round", "files done / failed", "chunks", "tokens", "batch s", "ms/file", "tok/s pipeline", "tok/s raw",
        "pipeline / raw",
    )
    ratios = []
    for round_ in range(1, args.rounds + 1):
        cells, ratio = _round(texts, args.database_url, console)
        ratios.append(ratio)
        table.add_row(str(round_), *cells, f"{ratio:.0%}")
    console.print(table)
    console.print(f"median pipeline / raw model over {len(ratios)} rounds: {statistics.median(ratios):.0%}")


def _round(texts: list[str], database_url: str | None, console: Console) -> tuple[list[str], float]:
    """One server (a fresh data dir), the files uploaded, one batch of them timed, then its chunks
    embedded alone: the table's cells and the ratio. The machine's speed drifts from one minute to
    the next (it is shared), so each round's raw figure is taken right after its batch."""
    extra = {"database_url": database_url} if database_url else {}
    core = Core(Settings(data_dir=Path(tempfile.mkdtemp(prefix="retrievd-bench-")), **extra))
    ProjectService(core.db).bootstrap("sk-bench")
    project = ProjectService(core.db).list_projects()[0].id
    stores = VectorStoreService(core)
    store = stores.create(project, schemas.CreateVectorStoreRequest(name="small files")).id
    core.embedder.embed_documents(["warm up"])  # start-up, not ingestion
    files = FileService(core)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("uploading", total=len(texts))
        file_ids = []
        for i, text in enumerate(texts):
            file_ids.append(files.create(project, io.BytesIO(text.encode()), f"note-{i:05}.txt", "assistants").id)
            progress.advance(task)
    # Warm the parser's child process (imports), as a running server has.
    warm = stores.add_file(project, store, schemas.CreateVectorStoreFileRequest(file_id=file_ids.pop()))
    core.start_workers()
    while stores.get_file(project, store, warm.id).status == "in_progress":
        time.sleep(0.05)

    t0 = time.perf_counter()
    batch = stores.create_batch(project, store, schemas.CreateFileBatchRequest(file_ids=file_ids))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("ingesting", total=len(file_ids))
        while (b := stores.get_batch(project, store, batch.id)).status == "in_progress":
            progress.update(task, completed=b.file_counts.completed + b.file_counts.failed)
            time.sleep(POLL_S)
    seconds = time.perf_counter() - t0
    counts = b.file_counts
    core.close()

    with core.db.session() as s:
        rows = s.execute(
            select(Chunk.text, Chunk.token_count).where(Chunk.vector_store_id == store, Chunk.file_id != warm.id)
        ).all()
    chunks = [text for text, _ in rows]
    tokens = sum(count for _, count in rows)
    t0 = time.perf_counter()
    core.embedder.embed_documents(chunks)
    raw_seconds = time.perf_counter() - t0
    cells = [
        f"{counts.completed} / {counts.failed}",
        f"{len(chunks):,}",
        f"{tokens:,}",
        f"{seconds:.1f}",
        f"{1000 * seconds / len(file_ids):.1f}",
        f"{tokens / seconds:.0f}",
        f"{tokens / raw_seconds:.0f}",
    ]
    return cells, raw_seconds / seconds


if __name__ == "__main__":
    main()
