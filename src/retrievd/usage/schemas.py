"""Wire shapes of OpenAI's organization Usage and Costs APIs (UsageResponse and its results)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class UsageVectorStoresResult(BaseModel):
    object: Literal["organization.usage.vector_stores.result"] = "organization.usage.vector_stores.result"
    usage_bytes: int
    project_id: str | None = None
    # A retrievd extension, present only with group_by=vector_store_id.
    vector_store_id: str | None = Field(None, exclude_if=lambda v: v is None)


class UsageFileSearchCallsResult(BaseModel):
    object: Literal["organization.usage.file_searches.result"] = "organization.usage.file_searches.result"
    num_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    vector_store_id: str | None = None


class UsageCodeInterpreterSessionsResult(BaseModel):
    object: Literal["organization.usage.code_interpreter_sessions.result"] = (
        "organization.usage.code_interpreter_sessions.result"
    )
    num_sessions: int
    project_id: str | None = None
    # A retrievd extension: the mean bytes its containers' files held over the bucket.
    usage_bytes: int = 0


class CostAmount(BaseModel):
    value: float
    currency: str


class CostsResult(BaseModel):
    object: Literal["organization.costs.result"] = "organization.costs.result"
    amount: CostAmount
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: float | None = None
    quantity_unit: str | None = None


Result = (
    UsageVectorStoresResult | UsageFileSearchCallsResult | UsageCodeInterpreterSessionsResult | CostsResult
)


class UsageTimeBucket(BaseModel):
    object: Literal["bucket"] = "bucket"
    start_time: int
    end_time: int
    results: list[Result]


class UsageResponse(BaseModel):
    object: Literal["page"] = "page"
    data: list[UsageTimeBucket]
    has_more: bool
    next_page: str | None
