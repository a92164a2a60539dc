"""Runs a collection through retrievd itself: every document becomes a file in a fresh vector store
(its id kept as the attribute `doc_id`), ingested by the real pipeline, and every query goes through
the search service the API uses, once per retrieval configuration.

A hit counts for its document (or, for page-judged collections, its document's page); a document's
rank is that of its best chunk. The textbook rank-bm25 baseline ranks the same text.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retrievd.config import Settings
from retrievd.eval.baseline import bm25_run
from retrievd.eval.cache import CachedEmbedder, cache_path
from retrievd.eval.datasets import Dataset, page_key
from retrievd.eval.metrics import at_thresholds, per_query
from retrievd.eval.report import DatasetResult

if TYPE_CHECKING:
    from retrievd.core import Core

DOC_ID = "doc_id"  # the file attribute that carries the collection's document id
DEPTH = 100  # documents ranked per query: Recall@100 and MAP@100 need that many
CHUNKS = 2 * DEPTH  # chunks asked for, so that multi-chunk documents still fill DEPTH documents
BATCH = 2000  # files per file batch (the API's maximum)


def run_dataset(dataset: Dataset, configs: Sequence[str], default: str, settings: Settings) -> DatasetResult:
    from retrievd.retrieval.search import SearchOptions
    from retrievd.services.search import SearchService

    with _ingested(dataset, settings) as (core, project_id, store_id, units):
        service = SearchService(core)
        runs, latency = {}, {}
        with _progress() as bar:
            for name in configs:
                task = bar.add_task(f"{dataset.name}: {name}", total=len(dataset.queries))
                run, latency[name] = {}, []
                for query_id, query in dataset.queries.items():
                    options = SearchOptions(limit=CHUNKS, config=name)
                    start = time.perf_counter()
                    results = service.results(project_id, [store_id], [query], options)
                    latency[name].append((time.perf_counter() - start) * 1000)
                    run[query_id] = _documents((_unit(r.attributes.get(DOC_ID, ""), r.page, dataset), r.score) for r in results)
                    bar.advance(task)
                runs[name] = run
        baseline = bm25_run(units, dataset.queries, DEPTH)
    return DatasetResult(
        dataset=dataset.name,
        default_config=default,
        configs={name: per_query({q: [doc for doc, _ in ranked] for q, ranked in run.items()}, dataset.qrels) for name, run in runs.items()},
        baseline=per_query(baseline, dataset.qrels),
        latency_ms=latency,
        thresholds={name: at_thresholds(run, dataset.qrels) for name, run in runs.items()},
    )


def _unit(doc_id: str, page: int | None, dataset: Dataset) -> str:
    """What a hit counts for: its document, or its document's page."""
    return page_key(doc_id, page) if dataset.by_page else doc_id


def _documents(scored: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Distinct units in order of their best hit, each with that hit's score, at most DEPTH."""
    best: dict[str, float] = {}
    for unit, score in scored:
        best.setdefault(unit, score)
    return list(best.items())[:DEPTH]


@contextmanager
def _ingested(dataset: Dataset, settings: Settings) -> Iterator[tuple[object, str, str, list[tuple[str, str]]]]:
    """A fresh data dir with the collection ingested; yields (core, project, store, baseline units)."""
    from retrievd.api import schemas
    from retrievd.core import Core
    from retrievd.services.files import FileService
    from retrievd.services.projects import ProjectService
    from retrievd.services.vector_stores import VectorStoreService

    with tempfile.TemporaryDirectory(prefix=f"retrievd-eval-{dataset.name}-") as tmp:
        # Parsing runs in a child process per file, mostly start-up: several ingestion threads overlap them.
        workers = max(settings.ingest_workers, 2 * (os.cpu_count() or 1) + 2)
        # Everything this process writes stays in the temporary folder, whatever the environment says.
        data_dir = Path(tmp)
        fresh = settings.model_copy(
            update={
                "data_dir": data_dir,
                "blobs_dir": data_dir / "files",
                "database_url": None,
                "qdrant_url": None,
                "index_owner_url": None,
                "ingest_workers": workers,
            }
        )
        core = Core(fresh)
        embedder = CachedEmbedder(core.embedder, cache_path(settings.models_dir, settings.embedding_model))
        core._embedder = embedder  # type: ignore[assignment]  # the same model, remembered across runs
        try:
            project_id = ProjectService(core.db).create_project(f"eval-{dataset.name}").id
            stores = VectorStoreService(core)
            store_id = stores.create(project_id, schemas.CreateVectorStoreRequest(name=dataset.name)).id
            files = FileService(core)
            with _progress() as bar:
                task = bar.add_task(f"{dataset.name}: uploading", total=len(dataset.documents))
                file_ids = []
                for doc in dataset.documents:
                    file_ids.append(files.create(project_id, io.BytesIO(doc.content), doc.filename, "assistants").id)
                    bar.advance(task)
                for start in range(0, len(file_ids), BATCH):
                    items = [
                        schemas.CreateVectorStoreFileRequest(file_id=file_id, attributes={DOC_ID: doc.id})
                        for file_id, doc in zip(file_ids[start : start + BATCH], dataset.documents[start : start + BATCH])
                    ]
                    stores.create_batch(project_id, store_id, schemas.CreateFileBatchRequest(files=items))
                core.start_workers()
                task = bar.add_task(f"{dataset.name}: ingesting", total=len(file_ids))
                while (counts := stores.get(project_id, store_id).file_counts).in_progress or _pending_jobs(core, store_id):
                    bar.update(task, completed=counts.total - counts.in_progress)
                    time.sleep(0.5)
                bar.update(task, completed=counts.total)
            yield core, project_id, store_id, _units(core, store_id, dataset, dict(zip(file_ids, dataset.documents)))
        finally:
            core.close()
            embedder.close()


def _pending_jobs(core: Core, store_id: str) -> bool:
    """Work still queued for the store after its files completed (re-encoding BM25 as the mean grows)."""
    from sqlalchemy import select

    from retrievd.store.models import Job

    with core.db.session() as s:
        busy = select(Job.id).where(Job.vector_store_id == store_id, Job.status.in_(("queued", "running")))
        return s.scalar(busy.limit(1)) is not None


def _units(core: object, store_id: str, dataset: Dataset, by_file: dict) -> list[tuple[str, str]]:
    """What the baseline ranks: each document's text; for real files, the text the pipeline parsed,
    per file or per (file, page)."""
    if not dataset.by_page and all(doc.text is not None for doc in dataset.documents):
        return [(doc.id, doc.text or "") for doc in dataset.documents]
    from sqlalchemy import select

    from retrievd.store.models import Chunk as ChunkRow

    texts: dict[str, list[str]] = {}
    with core.db.session() as s:  # type: ignore[attr-defined]
        rows = s.execute(
            select(ChunkRow.file_id, ChunkRow.page, ChunkRow.text)
            .where(ChunkRow.vector_store_id == store_id)
            .order_by(ChunkRow.file_id, ChunkRow.chunk_index)
        ).all()
    for file_id, page, text in rows:
        texts.setdefault(_unit(by_file[file_id].id, page, dataset), []).append(text)
    return [(unit, "\n".join(parts)) for unit, parts in texts.items()]


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
