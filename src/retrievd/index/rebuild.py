"""`retrievd index rebuild`: a new index from the chunk rows, without parsing or embedding anything.

The metadata database holds every chunk's text and float32 dense vector (the source of truth), and
each store's fixed BM25 average length, so the same rows always give the same points. That repairs
a lost or damaged index, and moves one: with RETRIEVD_QDRANT_URL set, the points go to the
server's collection instead of the embedded shard.

Run it while no process has the embedded index open. An embedded index is built beside the current
one and swapped in only once complete (the previous one stays as `index.previous` until the next
rebuild); a server's collection is dropped and created again.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from retrievd.index.base import VectorIndex
from retrievd.index.client import ClientIndex
from retrievd.index.edge import EdgeIndex
from retrievd.store.models import Chunk, VectorStoreFile

if TYPE_CHECKING:
    from retrievd.core import Core


@dataclass(frozen=True)
class RebuildReport:
    files: int
    points: int
    seconds: float


def rebuild(core: Core, progress: Callable[[int, int], None] | None = None) -> RebuildReport:
    """Rebuild the index the settings name from every completed store file's chunk rows.

    `progress(done, total)` is called after each file.
    """
    started = time.perf_counter()
    index_dir = core.settings.index_dir
    if core.settings.qdrant_url is not None:
        target = core.index
        assert isinstance(target, ClientIndex)
        target.recreate()
        files, points = _fill(core, target, progress)
        return RebuildReport(files=files, points=points, seconds=time.perf_counter() - started)
    dim = _dim(core)
    EdgeIndex(index_dir, dim).close()  # fails while another process holds the shard
    building = index_dir.with_name(index_dir.name + ".rebuild")
    shutil.rmtree(building, ignore_errors=True)
    target = EdgeIndex(building, dim, store_shard_points=core.settings.store_shard_points)
    try:
        files, points = _fill(core, target, progress)
        target.optimize()
    finally:
        target.close()
    previous = index_dir.with_name(index_dir.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    index_dir.rename(previous)
    building.rename(index_dir)
    return RebuildReport(files=files, points=points, seconds=time.perf_counter() - started)


def _fill(core: Core, target: VectorIndex, progress: Callable[[int, int], None] | None) -> tuple[int, int]:
    from retrievd.ingest.pipeline import points_from_rows

    with core.db.session() as s:
        keys = s.execute(
            select(VectorStoreFile.vector_store_id, VectorStoreFile.file_id)
            .where(VectorStoreFile.status == "completed")
            .order_by(VectorStoreFile.vector_store_id, VectorStoreFile.file_id)
        ).all()
    points = 0
    for done, (store_id, file_id) in enumerate(keys, 1):
        file_points = points_from_rows(core, store_id, file_id)
        target.upsert(file_points)
        points += len(file_points)
        if progress is not None:
            progress(done, len(keys))
    target.flush()
    return len(keys), points


def _dim(core: Core) -> int:
    """The dimension of the stored vectors (the model's, when nothing is stored yet)."""
    with core.db.session() as s:
        size = s.scalar(select(func.length(Chunk.dense)).limit(1))
    return size // 4 if size else core.embedder.dim
