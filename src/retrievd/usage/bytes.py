"""What one stored chunk costs, in bytes: the unit of `usage_bytes` and of storage billing."""

from __future__ import annotations

import json


def chunk_usage_bytes(
    text: str, page: int | None, page_end: int | None, section: str | None, dim: int, sparse_nnz: int
) -> int:
    """UTF-8 text + float32 dense vector + sparse (u32 index, f32 value) pairs + positional payload.

    `page_end` counts only where it differs from `page` (a chunk across a page break): a one-page
    chunk costs what it did before chunks knew their last page, so earlier usage stays exact."""
    position: dict[str, object] = {"page": page, "section": section}
    if page_end != page:
        position["page_end"] = page_end
    payload = json.dumps(position, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8")) + 4 * dim + 8 * sparse_nnz + len(payload.encode("utf-8"))
