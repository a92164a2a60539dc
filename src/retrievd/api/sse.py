"""Server-sent events in OpenAI's framing: `event: <name>` and a JSON `data:` line per event."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# For the routes that answer `stream: true` with events: their 200 documents both content types.
# Before OpenAPI 3.2 (FastAPI writes 3.1) an event stream's `schema` describes each event.
EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "description": "The event's object as JSON, or [DONE]"},
    },
}
STREAMABLE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}}}}


def _frame(name: str, data: Any) -> bytes:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return f"event: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def assistant_stream(events: Iterable[tuple[str, Any]]) -> StreamingResponse:
    """Assistants streams end with `event: done` / `data: [DONE]`."""

    def body() -> Iterator[bytes]:
        for name, data in events:
            yield _frame(name, data)
        yield b"event: done\ndata: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=HEADERS)


def response_stream(events: Iterable[tuple[str, Any]]) -> StreamingResponse:
    """Responses streams end with their terminal event (response.completed, .failed or .incomplete)."""
    return StreamingResponse(
        (_frame(n, d) for n, d in events), media_type="text/event-stream", headers=HEADERS
    )
