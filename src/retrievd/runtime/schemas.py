"""The runtime's wire format: Assistants v2, Responses and Conversations requests and objects.

Assistants requests forbid unknown fields (the spec says additionalProperties: false); Responses
and Conversations requests do not (the spec leaves them open, and the SDK sends newer fields).
Unions that the API only echoes back (message content, output items) stay plain dicts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from retrievd.api.schemas import (
    ChunkingStrategyParam,
    ComparisonFilter,
    CompoundFilter,
    HybridSearch,
    Loose,
    Metadata,
    Ranker,
    Strict,
    _check_keys,
)

Json = dict[str, Any]
FUNCTION_NAME = r"^[a-zA-Z0-9_-]{1,64}$"


class _WithMetadata(Strict):
    @field_validator("metadata", check_fields=False)
    @classmethod
    def _metadata_limits(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return _check_keys(v, "metadata")


# --- tools ----------------------------------------------------------------------------------------


class FunctionDefinition(Strict):
    name: str = Field(pattern=FUNCTION_NAME)
    description: str | None = None
    parameters: Json | None = None
    strict: bool | None = None


class FunctionTool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


class FileSearchRankingOptions(Strict):
    ranker: Literal["auto", "default_2024_08_21"] = "auto"
    score_threshold: float = Field(ge=0.0, le=1.0)


class FileSearchSettings(Strict):
    max_num_results: int | None = Field(None, ge=1, le=50)
    ranking_options: FileSearchRankingOptions | None = None


class FileSearchTool(Strict):
    type: Literal["file_search"]
    file_search: FileSearchSettings | None = None


class CodeInterpreterTool(Strict):
    """Python in a sandbox of the thread's own (see retrievd.runtime.code_interpreter)."""

    type: Literal["code_interpreter"]


AssistantTool = Annotated[FunctionTool | FileSearchTool | CodeInterpreterTool, Field(discriminator="type")]


class VectorStoreHelper(_WithMetadata):
    """`tool_resources.file_search.vector_stores[]`: a store to create with these files."""

    file_ids: list[str] | None = Field(None, max_length=10000)
    chunking_strategy: ChunkingStrategyParam | None = None
    metadata: Metadata | None = None


class FileSearchResources(Strict):
    vector_store_ids: list[str] | None = Field(None, max_length=1)
    vector_stores: list[VectorStoreHelper] | None = Field(None, max_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> FileSearchResources:
        if self.vector_store_ids and self.vector_stores:
            raise ValueError("Provide either 'vector_store_ids' or 'vector_stores', not both.")
        return self


class CodeInterpreterResources(Strict):
    file_ids: list[str] | None = Field(None, max_length=20)


class ToolResources(Strict):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


ResponseFormat = Literal["auto"] | Json


class NamedFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function", "code_interpreter", "file_search"]
    function: NamedFunction | None = None

    @model_validator(mode="after")
    def _function_named(self) -> NamedToolChoice:
        if self.type == "function" and self.function is None:
            raise ValueError("tool_choice of type 'function' must name the function.")
        return self


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice
MODEL_MAX = 256  # the model columns' width
INT32_MAX = 2**31 - 1  # token and count limits: integer columns hold no more on PostgreSQL
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]  # OpenAI's enum


# --- assistants -----------------------------------------------------------------------------------


class _AssistantFields(_WithMetadata):
    name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=512)
    instructions: str | None = Field(None, max_length=256000)
    reasoning_effort: ReasoningEffort | None = None
    tools: list[AssistantTool] | None = Field(None, max_length=128)
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    response_format: ResponseFormat | None = None


class CreateAssistantRequest(_AssistantFields):
    model: str = Field(min_length=1, max_length=MODEL_MAX)


class ModifyAssistantRequest(_AssistantFields):
    model: str | None = Field(None, min_length=1, max_length=MODEL_MAX)


class AssistantObject(BaseModel):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[Json]
    tool_resources: Json | None
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    response_format: Any
    reasoning_effort: ReasoningEffort | None = None


# --- threads and messages -------------------------------------------------------------------------


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageFilePart(Strict):
    type: Literal["image_file"]
    image_file: Json


class ImageUrlPart(Strict):
    type: Literal["image_url"]
    image_url: Json


ContentPart = Annotated[TextPart | ImageFilePart | ImageUrlPart, Field(discriminator="type")]


class AttachmentTool(Strict):
    type: Literal["file_search", "code_interpreter"]


class Attachment(Strict):
    file_id: str
    tools: list[AttachmentTool] = Field(default_factory=list)


class CreateMessageRequest(_WithMetadata):
    role: Literal["user", "assistant"]
    content: str | Annotated[list[ContentPart], Field(min_length=1)]
    attachments: list[Attachment] | None = None
    metadata: Metadata | None = None


class ModifyMetadataRequest(_WithMetadata):
    metadata: Metadata | None = None


class CreateThreadRequest(_WithMetadata):
    messages: list[CreateMessageRequest] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None


class ModifyThreadRequest(_WithMetadata):
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None


class ThreadObject(BaseModel):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    tool_resources: Json | None
    metadata: dict[str, str]


class MessageObject(BaseModel):
    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: str
    incomplete_details: Json | None
    completed_at: int | None
    incomplete_at: int | None
    role: str
    content: list[Json]
    assistant_id: str | None
    run_id: str | None
    attachments: list[Json] | None
    metadata: dict[str, str]


# --- runs -----------------------------------------------------------------------------------------


class TruncationStrategy(Strict):
    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(None, ge=1, le=INT32_MAX)


class _RunFields(_WithMetadata):
    assistant_id: str
    model: str | None = Field(None, max_length=MODEL_MAX)
    reasoning_effort: ReasoningEffort | None = None
    instructions: str | None = None
    tools: list[AssistantTool] | None = Field(None, max_length=20)
    metadata: Metadata | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool | None = None
    max_prompt_tokens: int | None = Field(None, ge=256, le=INT32_MAX)
    max_completion_tokens: int | None = Field(None, ge=256, le=INT32_MAX)
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = None


class CreateRunRequest(_RunFields):
    additional_instructions: str | None = None
    additional_messages: list[CreateMessageRequest] | None = None


class CreateThreadAndRunRequest(_RunFields):
    thread: CreateThreadRequest | None = None
    tool_resources: ToolResources | None = None


class ToolOutput(Strict):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputsRequest(Strict):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class RunObject(BaseModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: str
    required_action: Json | None
    last_error: Json | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: Json | None
    model: str
    instructions: str
    tools: list[Json]
    metadata: dict[str, str]
    usage: Json | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: Json
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: Any
    reasoning_effort: ReasoningEffort | None = None


class RunStepObject(BaseModel):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: str
    status: str
    step_details: Json
    last_error: Json | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str]
    usage: Json | None


# --- responses ------------------------------------------------------------------------------------


class ResponsesRankingOptions(Strict):
    ranker: Ranker = "auto"
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)
    hybrid_search: HybridSearch | None = None


class ResponsesFileSearchTool(Strict):
    type: Literal["file_search"]
    vector_store_ids: list[str]
    max_num_results: int | None = Field(None, ge=1, le=50)
    ranking_options: ResponsesRankingOptions | None = None
    filters: ComparisonFilter | CompoundFilter | None = None


class ResponsesFunctionTool(Loose):
    type: Literal["function"]
    name: str = Field(pattern=FUNCTION_NAME)
    description: str | None = None
    parameters: Json | None = None
    strict: bool | None = None


class CreateResponseRequest(Loose):
    model: str | None = Field(None, max_length=MODEL_MAX)
    input: str | list[Json] | None = None
    instructions: str | None = None
    tools: list[Json] | None = None
    tool_choice: str | Json | None = None
    include: list[str] | None = None
    stream: bool | None = None
    store: bool | None = None
    background: bool | None = None
    previous_response_id: str | None = None
    conversation: str | Json | None = None
    max_output_tokens: int | None = Field(None, ge=16, le=INT32_MAX)
    max_tool_calls: int | None = Field(None, ge=1, le=INT32_MAX)
    parallel_tool_calls: bool | None = None
    metadata: Metadata | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    truncation: Literal["auto", "disabled"] | None = None
    text: Json | None = None
    reasoning: Json | None = None
    user: str | None = None
    service_tier: str | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return _check_keys(v, "metadata")


# --- conversations --------------------------------------------------------------------------------


class CreateConversationRequest(Loose):
    metadata: Metadata | None = None
    items: list[Json] | None = Field(None, max_length=20)


class UpdateConversationRequest(Loose):
    metadata: Metadata


class CreateItemsRequest(Loose):
    items: list[Json] = Field(max_length=20)


class ConversationObject(BaseModel):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]


class ItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Json]
    first_id: str | None
    last_id: str | None
    has_more: bool
