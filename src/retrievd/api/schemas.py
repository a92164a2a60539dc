"""The wire format: OpenAI's request and response shapes as pydantic models.

Requests forbid unknown fields where OpenAI's schema does (additionalProperties: false), so a typo
is a 400 naming the field instead of a silently ignored option.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

T = TypeVar("T")

MetadataValue = Annotated[str, StringConstraints(max_length=512)]
AttributeValue = Annotated[str, StringConstraints(max_length=512)] | bool | int | float


def _check_keys(value: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > 16:
        raise ValueError(f"{what} can have at most 16 pairs; got {len(value)}")
    for key in value:
        if len(key) > 64:
            raise ValueError(f"{what} keys can be at most 64 characters; '{key[:70]}' is longer")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- shared ---------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope, the body of every 4xx and 5xx answer."""

    error: ErrorBody


class ListPage(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def of(cls, items: list[T], has_more: bool) -> ListPage[T]:
        """A page of objects with an `id`, the cursors taken from its ends."""
        return cls(
            data=items,
            first_id=items[0].id if items else None,
            last_id=items[-1].id if items else None,
            has_more=has_more,
        )


class DeletedObject(BaseModel):
    id: str
    object: str
    deleted: bool = True


class StaticChunking(Strict):
    max_chunk_size_tokens: int = Field(800, ge=100, le=4096)
    chunk_overlap_tokens: int = Field(400, ge=0)

    @model_validator(mode="after")
    def _overlap_at_most_half(self) -> StaticChunking:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise ValueError(
                "chunk_overlap_tokens must be at most half of max_chunk_size_tokens "
                f"({self.max_chunk_size_tokens // 2}); got {self.chunk_overlap_tokens}"
            )
        return self


class AutoChunkingParam(Strict):
    type: Literal["auto"]


class StaticChunkingParam(Strict):
    type: Literal["static"]
    static: StaticChunking


ChunkingStrategyParam = Annotated[AutoChunkingParam | StaticChunkingParam, Field(discriminator="type")]


class StaticChunkingStrategy(BaseModel):
    type: Literal["static"] = "static"
    static: StaticChunking


# --- files ----------------------------------------------------------------------------------------

FilePurpose = Literal["assistants", "user_data", "batch", "fine-tune", "vision", "evals"]


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None


class FileExpiresAfter(Strict):
    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2592000)


# --- vector stores --------------------------------------------------------------------------------


class FileCounts(BaseModel):
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class StoreExpiresAfter(Strict):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


Metadata = Annotated[dict[str, MetadataValue], Field()]
Attributes = Annotated[dict[str, AttributeValue], Field()]


class _WithMetadata(Strict):
    @field_validator("metadata", check_fields=False)
    @classmethod
    def _metadata_limits(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return _check_keys(v, "metadata")


class _WithAttributes(Strict):
    @field_validator("attributes", check_fields=False)
    @classmethod
    def _attribute_limits(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_keys(v, "attributes")


class CreateVectorStoreRequest(_WithMetadata):
    file_ids: list[str] | None = Field(None, max_length=500)
    name: str | None = None
    description: str | None = None
    expires_after: StoreExpiresAfter | None = None
    chunking_strategy: ChunkingStrategyParam | None = None
    metadata: Metadata | None = None


class UpdateVectorStoreRequest(_WithMetadata):
    name: str | None = None
    expires_after: StoreExpiresAfter | None = None
    metadata: Metadata | None = None


class VectorStoreObject(BaseModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"]
    expires_after: StoreExpiresAfter | None = None
    expires_at: int | None = None
    last_active_at: int | None
    metadata: dict[str, str] | None


class LastError(BaseModel):
    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class CreateVectorStoreFileRequest(_WithAttributes):
    file_id: str
    chunking_strategy: ChunkingStrategyParam | None = None
    attributes: Attributes | None = None


class UpdateVectorStoreFileRequest(_WithAttributes):
    attributes: Attributes | None


class VectorStoreFileObject(BaseModel):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    last_error: LastError | None
    chunking_strategy: StaticChunkingStrategy
    attributes: dict[str, Any] | None = None


class CreateFileBatchRequest(_WithAttributes):
    file_ids: list[str] | None = Field(None, min_length=1, max_length=2000)
    files: list[CreateVectorStoreFileRequest] | None = Field(None, min_length=1, max_length=2000)
    chunking_strategy: ChunkingStrategyParam | None = None
    attributes: Attributes | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CreateFileBatchRequest:
        if (self.file_ids is None) == (self.files is None):
            raise ValueError("Provide exactly one of 'file_ids' or 'files'.")
        return self


class FileBatchObject(BaseModel):
    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    file_counts: FileCounts


class ContentText(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ChunkText(ContentText):
    """A chunk's text, with the pages it came from: a retrievd extension (docs/pages.md) that the SDK
    keeps as extra fields. `page` is the page of its first token, `page_end` that of its last (equal
    unless the chunk spans a page break); 1-based, null where the format has no pages."""

    page: int | None = None
    page_end: int | None = None


class FileContentPage(BaseModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[ChunkText]
    has_more: bool = False
    next_page: str | None = None


# --- search ---------------------------------------------------------------------------------------

ComparisonType = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]


class ComparisonFilter(Strict):
    type: ComparisonType = "eq"
    key: str
    value: str | bool | int | float | list[str | int | float]


class CompoundFilter(Strict):
    type: Literal["and", "or"]
    filters: list[ComparisonFilter | CompoundFilter] = Field(min_length=1)


class HybridSearch(Strict):
    embedding_weight: float = Field(ge=0)
    text_weight: float = Field(ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> HybridSearch:
        if self.embedding_weight == 0 and self.text_weight == 0:
            raise ValueError("embedding_weight and text_weight cannot both be 0")
        return self


# OpenAI's three values all mean the best measured pipeline (retrieval/fusion.py says why, there being no
# reranking stage); retrievd adds its named configurations, to pick one (eval/README.md measures each).
Ranker = Literal["none", "auto", "default-2024-11-15", "bm25", "dense", "hybrid-rrf", "hybrid-weighted"]


class RankingOptions(Strict):
    ranker: Ranker = "auto"
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)
    hybrid_search: HybridSearch | None = None


# Each query is embedded and BM25-encoded within the request: past these sizes one request holds the
# server for seconds to minutes (measured on 2 cores: a 1.2 MB query 3 min, 2,000 queries 46 s).
MAX_QUERY_CHARS = 4096
MAX_QUERIES = 20


class SearchRequest(Strict):
    query: str | list[str]
    rewrite_query: bool = False
    max_num_results: int = Field(10, ge=1, le=50)
    filters: ComparisonFilter | CompoundFilter | None = None
    ranking_options: RankingOptions | None = None

    @field_validator("query")
    @classmethod
    def _non_empty(cls, v: str | list[str]) -> str | list[str]:
        queries = [v] if isinstance(v, str) else v
        if not queries or not any(q.strip() for q in queries):
            raise ValueError("query must be a non-empty string or list of strings")
        if len(queries) > MAX_QUERIES:
            raise PydanticCustomError("too_long", "at most {max_length} queries", {"max_length": MAX_QUERIES})
        if any(len(q) > MAX_QUERY_CHARS for q in queries):
            raise PydanticCustomError(
                "string_too_long", "each query can be at most {max_length} characters", {"max_length": MAX_QUERY_CHARS}
            )
        return v


class SearchResultItem(BaseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any] | None  # the store file's, as OpenAI's; the chunk's pages are on `content`
    content: list[ChunkText]


class SearchResultsPage(BaseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResultItem]
    has_more: bool = False
    next_page: str | None = None
