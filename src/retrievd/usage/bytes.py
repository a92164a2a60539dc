"""What one stored chunk costs, in bytes: the unit of `usage_bytes` and of storage billing."""

from __future__ import annotations

import json


def chunk_usage_bytes(text: str, page: int | None, section: str | None, dim: int, sparse_nnz: int) -> int:
    """UTF-8 text + float32 dense vector + sparse (u32 index, f32 value) pairs + positional payload."""
    payload = json.dumps({"page": page, "section": section}, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8")) + 4 * dim + 8 * sparse_nnz + len(payload.encode("utf-8"))
