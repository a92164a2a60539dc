"""A scripted Chat Completions server on loopback, standing in for an upstream LLM.

Tests queue replies (`llm.push(...)`); each POST /v1/chat/completions takes the next one and
streams it as OpenAI does (role chunk, content or tool-call chunks, finish chunk, usage chunk,
`[DONE]`). Every request body is kept in `llm.requests`, so tests can check what the model saw.
A reply can be an HTTP error (a 500 to retry), and its text can depend on the request (to cite
a marker the runtime put in a tool result).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]
MARKER = re.compile(r"【\d+:\d+†[^】]*】")


@dataclass
class Reply:
    text: str | Callable[[Json], str] | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    status: int = 200  # anything else: an error response, no stream
    chunk_chars: int = 8  # characters per streamed text delta
    delay_s: float = 0.0  # pause between deltas
    finish_reason: str | None = None


def cite_first_source(prefix: str = "The files say so") -> Callable[[Json], str]:
    """A reply that cites the first source marker of the last tool result the model was given."""

    def text(request: Json) -> str:
        tool_outputs = [m["content"] for m in request["messages"] if m["role"] == "tool"]
        marker = MARKER.search(tool_outputs[-1]) if tool_outputs else None
        return f"{prefix} {marker.group(0)}." if marker else f"{prefix}."

    return text


class FakeLLM:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Json] = []
        self._lock = threading.Lock()
        llm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with llm._lock:
                    llm.requests.append(body)
                    reply = llm.replies.popleft() if llm.replies else Reply(text="(no scripted reply)")
                if reply.status != 200:
                    payload = json.dumps(
                        {"error": {"message": "scripted failure", "type": "server_error"}}
                    ).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in llm._chunks(body, reply):
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if reply.delay_s:
                            time.sleep(reply.delay_s)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away mid-stream (a cancelled or killed run)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def push(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def _chunks(request: Json, reply: Reply) -> list[Json]:
        def chunk(delta: Json, finish: str | None = None) -> Json:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": request["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        text = reply.text(request) if callable(reply.text) else reply.text
        for i in range(0, len(text or ""), reply.chunk_chars):
            chunks.append(chunk({"content": text[i : i + reply.chunk_chars]}))  # type: ignore[index]
        for index, (name, arguments) in enumerate(reply.tool_calls):
            first = {
                "index": index,
                "id": f"call_fake{len(chunks)}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            chunks.append(chunk({"tool_calls": [first]}))
            for i in range(0, len(arguments), 5):
                chunks.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[i : i + 5]}}]})
                )
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        chunks.append(chunk({}, finish))
        completion = len(text or "") // 4 + sum(len(a) for _, a in reply.tool_calls) // 4
        chunks.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": request["model"],
                "choices": [],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": completion,
                    "total_tokens": 100 + completion,
                },
            }
        )
        return chunks
