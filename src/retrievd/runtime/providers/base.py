"""What the run loop asks of a model: one Chat Completions call, streamed as deltas.

The runtime speaks Chat Completions internally (messages with roles, tool calls, tool results),
so an upstream LLM gets exactly what it was trained on and the built-in extractive model gets
the same view of the conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

Json = dict[str, Any]


@dataclass
class ChatRequest:
    model: str
    messages: list[Json]
    tools: list[Json] = field(default_factory=list)
    tool_choice: str | Json | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: Json | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of the tool call at `index`: the first piece carries its id and name."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Finish:
    reason: str  # stop | tool_calls | length | content_filter
    usage: Usage | None = None


ChatDelta = TextDelta | ToolCallDelta | Finish


class UpstreamError(Exception):
    """The model could not answer. `transient` ones (timeouts, 429, 5xx) are worth a retry."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.transient = transient

    @property
    def code(self) -> str:
        return "rate_limit_exceeded" if self.status == 429 else "server_error"


class Provider(Protocol):
    name: str
    context_tokens: int

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        """Deltas in the order the model produced them, ending with exactly one Finish."""
        ...
