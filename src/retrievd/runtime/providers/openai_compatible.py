"""`openai-compatible`: any server that speaks Chat Completions (OpenAI, vLLM, llama.cpp, Ollama...)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from retrievd.runtime.providers.base import (
    ChatDelta,
    ChatRequest,
    Finish,
    TextDelta,
    ToolCallDelta,
    UpstreamError,
    Usage,
)

TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAICompatibleProvider:
    name = "openai-compatible"

    def __init__(self, base_url: str, api_key: str | None, *, context_tokens: int, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.context_tokens = context_tokens
        self.timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
            "response_format": request.response_format,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            with (
                httpx.Client(timeout=self.timeout) as client,
                client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=self._body(request), headers=headers
                ) as response,
            ):
                if response.status_code >= 400:
                    response.read()
                    raise UpstreamError(
                        f"The model server answered {response.status_code}: {_error_message(response)}",
                        status=response.status_code,
                        transient=response.status_code in TRANSIENT_STATUS,
                    )
                yield from _parse_stream(response.iter_lines())
        except httpx.TimeoutException as e:
            raise UpstreamError(f"The model server timed out ({type(e).__name__}).", transient=True) from e
        except httpx.TransportError as e:
            raise UpstreamError(f"The model server could not be reached ({e}).", transient=True) from e


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return response.text[:500] or response.reason_phrase


def _parse_stream(lines: Iterator[str]) -> Iterator[ChatDelta]:
    finish: str | None = None
    usage: Usage | None = None
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as e:
            raise UpstreamError(f"The model server sent a malformed stream chunk: {data[:200]}") from e
        if chunk.get("error"):
            raise UpstreamError(f"The model server failed mid-stream: {chunk['error']}", transient=False)
        if chunk.get("usage"):
            u = chunk["usage"]
            usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield TextDelta(delta["content"])
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                yield ToolCallDelta(
                    index=int(call.get("index", 0)),
                    id=call.get("id"),
                    name=fn.get("name"),
                    arguments=fn.get("arguments") or "",
                )
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    yield Finish(finish or "stop", usage)
