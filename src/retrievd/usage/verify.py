"""`retrievd usage verify`: recompute every byte count from the index and compare.

For every store the ledger or the database knows (deleted ones included), the store's points are
read back from the vector index and each chunk's size recomputed with `chunk_usage_bytes` (text,
page and section from the payload, the index's dimension, the BM25 vector's size re-encoded from
the text). That must equal, file by file, the store file's usage_bytes and the sum of its chunk
rows; the store's usage_bytes must be the sum over its files, and the ledger's last `bytes_after`
(and the sum of its deltas). Files still being indexed, and stores or files whose index purge is
still queued, are skipped and counted as pending: their points and bytes legitimately differ.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retrievd.index.base import FILE_KEY, page_end
from retrievd.store.models import Chunk, Job, VectorStore, VectorStoreFile
from retrievd.store.usage_models import UsageLedgerEntry
from retrievd.usage.bytes import chunk_usage_bytes

if TYPE_CHECKING:
    from retrievd.core import Core


@dataclass(frozen=True)
class Difference:
    vector_store_id: str
    file_id: str | None
    check: str  # what was compared, e.g. "file usage_bytes vs index"
    recorded: int
    actual: int


@dataclass
class VerifyReport:
    stores: int = 0
    files: int = 0
    points: int = 0
    pending: int = 0  # stores or files skipped because indexing or a purge is still under way
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _index_bytes(core: Core, store_id: str) -> tuple[dict[str, int], int]:
    """file_id -> bytes of its points as the index holds them; and the number of points."""
    hits = core.index.scroll(store_id)
    # Only the number of terms counts, which BM25's avg_len does not change.
    sparse = core.bm25.encode_documents([h.payload.get("text", "") for h in hits], avg_len=1.0)
    sizes: dict[str, int] = defaultdict(int)
    for hit, vector in zip(hits, sparse, strict=True):
        p = hit.payload
        text = p.get("text", "")
        sizes[p[FILE_KEY]] += chunk_usage_bytes(
            text, p.get("page"), page_end(p), p.get("section"), core.index.dim, len(vector.indices)
        )
    return sizes, len(hits)


def _ledger(s: Session) -> dict[str, tuple[int, int]]:
    """store -> (sum of its deltas, its last bytes_after)."""
    per_store = select(UsageLedgerEntry.vector_store_id, func.sum(UsageLedgerEntry.delta_bytes))
    sums = dict(s.execute(per_store.group_by(UsageLedgerEntry.vector_store_id)).tuples().all())
    last = select(func.max(UsageLedgerEntry.id)).group_by(UsageLedgerEntry.vector_store_id)
    return {
        e.vector_store_id: (int(sums[e.vector_store_id]), e.bytes_after)
        for e in s.execute(select(UsageLedgerEntry).where(UsageLedgerEntry.id.in_(last))).scalars()
    }


def verify(core: Core) -> VerifyReport:
    report = VerifyReport()
    with core.db.session() as s:
        stores = {row.id: row for row in s.execute(select(VectorStore)).scalars()}
        files: dict[str, list[VectorStoreFile]] = defaultdict(list)
        for row in s.execute(select(VectorStoreFile)).scalars():
            files[row.vector_store_id].append(row)
        per_file = select(Chunk.vector_store_id, Chunk.file_id, func.sum(Chunk.usage_bytes))
        chunk_bytes = {
            (store_id, file_id): int(total)
            for store_id, file_id, total in s.execute(per_file.group_by(Chunk.vector_store_id, Chunk.file_id))
        }
        ledger = _ledger(s)
        purging = select(Job.vector_store_id, Job.file_id).where(
            Job.kind == "purge", Job.status.in_(("queued", "running"))
        )
        busy = {(store_id, file_id) for store_id, file_id in s.execute(purging)}
    diffs = report.differences
    for store_id in sorted(set(stores) | set(ledger)):
        if (store_id, None) in busy:
            report.pending += 1
            continue
        report.stores += 1
        store = stores.get(store_id)
        recorded = store.usage_bytes if store is not None else 0
        deltas, last = ledger.get(store_id, (0, 0))
        rows = files.get(store_id, [])
        for check, actual in (
            ("store usage_bytes vs ledger bytes_after", last),
            ("store usage_bytes vs sum of ledger deltas", deltas),
            ("store usage_bytes vs its files", sum(r.usage_bytes for r in rows)),
        ):
            if actual != recorded:
                diffs.append(Difference(store_id, None, check, recorded, actual))
        indexed, points = _index_bytes(core, store_id)
        report.points += points
        for row in rows:
            if row.status == "in_progress" or (store_id, row.file_id) in busy:
                report.pending += 1
                continue
            report.files += 1
            for check, actual in (
                ("file usage_bytes vs chunk rows", chunk_bytes.get((store_id, row.file_id), 0)),
                ("file usage_bytes vs index", indexed.get(row.file_id, 0)),
            ):
                if actual != row.usage_bytes:
                    diffs.append(Difference(store_id, row.file_id, check, row.usage_bytes, actual))
        known = {r.file_id for r in rows}
        for file_id, size in sorted(indexed.items()):
            if file_id not in known and (store_id, file_id) not in busy:
                diffs.append(Difference(store_id, file_id, "index points of no store file", 0, size))
    return report
