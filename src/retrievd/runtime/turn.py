"""One model call ("turn"): stream it, assemble text and tool calls, retry transient failures.

A failure is retried with exponential backoff only while nothing of the turn has been passed on,
so a client never sees a piece of text twice. A turn stops early when `should_stop` says so
(a cancelled run), checked between deltas.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from retrievd.runtime import tokens
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.providers.base import (
    ChatRequest,
    Finish,
    Provider,
    TextDelta,
    ToolCallDelta,
    UpstreamError,
    Usage,
)

log = logging.getLogger("retrievd.runtime")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class TurnResult:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=lambda: Usage(0, 0))


class TurnListener(Protocol):
    def on_text(self, delta: str) -> None: ...

    def on_tool_call(self, index: int, call: ToolCall, arguments_delta: str) -> None: ...


class Stopped(Exception):
    """The turn was stopped from outside (the run is being cancelled)."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep


def run_turn(
    provider: Provider,
    request: ChatRequest,
    listener: TurnListener,
    *,
    retry: RetryPolicy,
    should_stop: Callable[[], bool] = lambda: False,
) -> TurnResult:
    attempt = 0
    while True:
        emitted = False

        def mark() -> None:
            nonlocal emitted
            emitted = True

        try:
            return _one_attempt(provider, request, listener, should_stop, mark)
        except UpstreamError as e:
            if not e.transient or emitted or attempt >= retry.retries:
                raise
            delay = retry.backoff_s * 2**attempt
            log.warning("model call failed (%s); retry %d in %.1fs", e.message, attempt + 1, delay)
            retry.sleep(delay)
            attempt += 1


def _one_attempt(
    provider: Provider,
    request: ChatRequest,
    listener: TurnListener,
    should_stop: Callable[[], bool],
    mark_emitted: Callable[[], None],
) -> TurnResult:
    result = TurnResult()
    calls: dict[int, ToolCall] = {}
    usage: Usage | None = None
    last_check = time.monotonic()
    stream = provider.stream(request)
    try:
        for delta in stream:
            if time.monotonic() - last_check > 0.25:
                last_check = time.monotonic()
                if should_stop():
                    raise Stopped
            if isinstance(delta, TextDelta):
                if delta.text:
                    mark_emitted()
                    result.text += delta.text
                    listener.on_text(delta.text)
            elif isinstance(delta, ToolCallDelta):
                call = calls.get(delta.index)
                if call is None:
                    call = calls[delta.index] = ToolCall(
                        id=delta.id or sortable_id("call_"), name=delta.name or ""
                    )
                elif delta.name and not call.name:
                    call.name = delta.name
                call.arguments += delta.arguments
                mark_emitted()
                listener.on_tool_call(delta.index, call, delta.arguments)
            elif isinstance(delta, Finish):
                result.finish_reason = delta.reason
                usage = delta.usage
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    result.tool_calls = [calls[i] for i in sorted(calls)]
    result.usage = usage or _estimate_usage(request, result)
    return result


def _estimate_usage(request: ChatRequest, result: TurnResult) -> Usage:
    """For upstreams that do not report usage: count as OpenAI would."""
    prompt = tokens.count_messages(request.messages, request.model) + tokens.count_tools(
        request.tools, request.model
    )
    completion = tokens.count_text(result.text, request.model) + sum(
        tokens.count_text(c.name + c.arguments, request.model) for c in result.tool_calls
    )
    return Usage(prompt, completion)
