"""The one interface every vector backend implements.

A point is one chunk of one file in one vector store. Its id is derived from
(vector_store_id, file_id, chunk_index), never from its text, so a retried ingestion
overwrites instead of duplicating and two files with equal text stay two files.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# Payload keys every point carries (filters on user attributes use the "attributes." prefix).
STORE_KEY = "vector_store_id"
FILE_KEY = "file_id"
CHUNK_KEY = "chunk_index"
TEXT_KEY = "text"
ATTRIBUTES_KEY = "attributes"

_NAMESPACE = uuid.UUID("6f1c1b0e-5d7a-4c55-9a0b-6a4f0f6f2a11")


def page_end(payload: dict[str, Any]) -> int | None:
    """The page of a point's last token; points indexed before chunks knew it carry only `page`."""
    return payload["page_end"] if "page_end" in payload else payload.get("page")


def point_id(vector_store_id: str, file_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{vector_store_id}/{file_id}/{chunk_index}"))


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class IndexPoint:
    vector_store_id: str
    file_id: str
    chunk_index: int
    dense: Sequence[float]
    sparse: Sparse
    payload: dict[str, Any]  # text, page, page_end, section, filename, attributes, ... (store/file/chunk keys are added)

    @property
    def id(self) -> str:
        return point_id(self.vector_store_id, self.file_id, self.chunk_index)


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]
    dense: list[float] | None = None  # the stored (unit-length) dense vector, with IndexQuery.with_vectors


Mode = Literal["dense", "sparse", "hybrid"]


@dataclass(frozen=True)
class IndexQuery:
    vector_store_ids: list[str]
    dense: Sequence[float] | None = None
    sparse: Sparse | None = None
    # An OpenAI filter (ComparisonFilter | CompoundFilter) over file attributes, already validated.
    filters: dict[str, Any] | None = None
    limit: int = 10
    mode: Mode = "hybrid"
    # Hybrid only: candidates each side contributes before fusion.
    prefetch_limit: int = 50
    fusion: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    with_vectors: bool = False
    # False: hits carry an empty payload, and `VectorIndex.payloads` fetches those of the winners.
    # Reading a payload is a random read of the on-disk payload storage: at 1M chunks, those of a
    # hybrid query's 200 candidates cost 12-17 ms, the rest of the engine's work 3-4 ms.
    with_payload: bool = True


class VectorIndex(Protocol):
    """Backend-neutral operations; adapters translate to Qdrant Edge or qdrant-client."""

    dim: int

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...
    def delete_file(self, vector_store_id: str, file_id: str) -> None: ...
    def delete_store(self, vector_store_id: str) -> None: ...
    def count(self, vector_store_id: str, file_id: str | None = None) -> int: ...
    def query(self, q: IndexQuery) -> list[Hit]: ...
    def query_branches(self, q: IndexQuery, complete: bool = False) -> tuple[list[Hit], list[Hit]]: ...
    def best_term_scores(self, vector_store_ids: Sequence[str], sparse: Sparse) -> list[float]: ...
    def scroll(self, vector_store_id: str, file_id: str | None = None) -> list[Hit]: ...
    def payloads(self, vector_store_ids: Sequence[str], ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def flush(self) -> None: ...
    def optimize(self) -> bool: ...
    def close(self) -> None: ...


@dataclass
class IndexStats:
    points: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
