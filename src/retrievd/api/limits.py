"""Request limits in front of the API: per-key rate limits, query-string and body sizes, valid text.

A pure ASGI middleware, so a limit answers before any route reads the body, parses JSON or opens
the database, and the caller gets OpenAI's error envelope whatever the route would have done with
the request (a multipart parser that swallows exceptions, for one). A body found too large while it
streams in (no or a lying Content-Length) is answered at once; the route then sees a disconnect and
anything it tries to send is dropped.

A JSON body is read in full here (the route would read it all anyway), and one that decodes to
text no database or tokenizer accepts (an unpaired UTF-16 surrogate, as an escape or as bytes; a NUL
character, which PostgreSQL's text refuses) is a 400 before it reaches any of them, as is a URL whose
path or query string holds a NUL.

Rate limits are token buckets per API key (requests without one: per client address), kept in this
process: each replica enforces its own, as each of OpenAI's limits applies per organization.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrievd.config import Settings
from retrievd.errors import APIError

MULTIPART_OVERHEAD_BYTES = 1024 * 1024  # the form fields and boundaries around an upload's bytes
LIMITED_PREFIX = "/v1/"
# `\uD800`-`\uDFFF` escapes (a high one with its low one is a pair, one match), after an even number
# of backslashes; and the same code points as raw bytes, which Python's JSON decoder lets through.
_SURROGATE_ESCAPE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u([dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[dD][c-fC-F][0-9a-fA-F]{2})"
)
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL_IN_QUERY = re.compile(rb"%00|\x00")


def invalid_text(body: bytes) -> str | None:
    """Why a JSON body holds text no database or tokenizer accepts; None if it holds none."""
    if (surrogate := lone_surrogate(body)) is not None:
        return f"'{surrogate}' is an unpaired surrogate, not text."
    if _NUL_ESCAPE.search(body):
        return "'\\u0000' (NUL) is not allowed in text."
    return None


def lone_surrogate(body: bytes) -> str | None:
    """The first unpaired surrogate in a JSON body, as written there; None if there is none."""
    for match in _SURROGATE_ESCAPE.finditer(body):
        if len(match.group(1)) == 4:
            return "\\u" + match.group(1).decode()
    raw = _SURROGATE_BYTES.search(body)
    return None if raw is None else raw.group().hex(" ")


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests per caller, refilled continuously; a caller may burst a minute's worth."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_callers: int = 100_000
    ) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_callers = max_callers
        self._buckets: dict[str, _Bucket] = {}

    def take(self, caller: str) -> tuple[float, int]:
        """Spend one request: (0, remaining) when allowed, else (seconds until one is allowed, 0)."""
        t = self.clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self.max_callers:
                self._forget_idle(t)
            bucket = self._buckets[caller] = _Bucket(float(self.per_minute), t)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (t - bucket.updated) * self.rate)
        bucket.updated = t
        if bucket.tokens < 1.0:
            return (1.0 - bucket.tokens) / self.rate, 0
        bucket.tokens -= 1.0
        return 0.0, int(bucket.tokens)

    def _forget_idle(self, t: float) -> None:
        """Callers whose bucket has refilled are indistinguishable from new ones: drop them."""
        full = [
            k for k, b in self._buckets.items() if b.tokens + (t - b.updated) * self.rate >= self.per_minute
        ]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def caller_of(scope: Scope) -> str:
    """The rate-limit identity: a digest of the Authorization header, else the client address."""
    auth = Headers(scope=scope).get("authorization")
    if auth:
        return "key:" + hashlib.sha256(auth.encode("latin-1")).hexdigest()[:32]
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


def _is_json(scope: Scope) -> bool:
    """Bodies FastAPI parses as JSON: declared so, or not declared at all."""
    kind = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
    return scope["method"] in ("POST", "PUT", "PATCH") and (
        not kind or kind == "application/json" or kind.endswith("+json")
    )


async def _send_error(send: Send, error: APIError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """The middleware: `app.add_middleware(RequestLimits, settings=settings)`. Only `/v1/` is limited."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = (
            RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.limiter is not None:
            wait, remaining = self.limiter.take(caller_of(scope))
            if wait:
                await _send_error(send, self._too_many(wait))
                return
            send = self._with_rate_headers(send, remaining)
        query_limit = self.settings.max_query_bytes
        if query_limit and len(scope.get("query_string", b"")) > query_limit:
            await _send_error(
                send,
                APIError(
                    414,
                    f"The query string is too long: the limit is {query_limit} bytes.",
                    code="query_too_long",
                ),
            )
            return
        if "\x00" in scope["path"] or _NUL_IN_QUERY.search(scope.get("query_string", b"")):
            await _send_error(send, APIError(400, "The URL holds a NUL character ('%00'), which is not allowed."))
            return
        body_limit = self._body_limit(scope)
        if _is_json(scope):
            await self._checked_json(scope, receive, send, *(body_limit or (0, None)))
        elif body_limit is None:
            await self.app(scope, receive, send)
        else:
            await self._limit_body(scope, receive, send, *body_limit)

    def _too_many(self, wait: float) -> APIError:
        seconds = max(1, math.ceil(wait))
        limit = self.settings.rate_limit_per_minute
        return APIError(
            429,
            f"Rate limit reached for requests per min (RPM) on this API key: limit {limit}. "
            f"Please try again in {seconds}s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={
                "retry-after": str(seconds),
                "x-ratelimit-limit-requests": str(limit),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{wait:.3f}s",
            },
        )

    def _with_rate_headers(self, send: Send, remaining: int) -> Send:
        extra = [
            (b"x-ratelimit-limit-requests", str(self.settings.rate_limit_per_minute).encode()),
            (b"x-ratelimit-remaining-requests", str(remaining).encode()),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_headers

    def _body_limit(self, scope: Scope) -> tuple[int, APIError] | None:
        """This request's body limit and the error past it (uploads have their own); None: no limit."""
        if Headers(scope=scope).get("content-type", "").lower().startswith("multipart/form-data"):
            limit = self.settings.max_upload_bytes
            error = APIError(
                413, f"File is too large: the limit is {limit} bytes.", param="file", code="file_too_large"
            )
            return limit + MULTIPART_OVERHEAD_BYTES, error
        limit = self.settings.max_request_body_bytes
        if not limit:
            return None
        return limit, APIError(
            413, f"The request body is too large: the limit is {limit} bytes.", code="request_too_large"
        )

    async def _checked_json(
        self, scope: Scope, receive: Receive, send: Send, limit: int, too_large: APIError | None
    ) -> None:
        """Read the whole body (within `limit`), refuse invalid text, then hand the body to the app."""
        length = Headers(scope=scope).get("content-length", "")
        if too_large is not None and length.isdecimal() and int(length) > limit:
            await _send_error(send, too_large)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if too_large is not None and size > limit:
                await _send_error(send, too_large)
                return
        body = b"".join(chunks)
        if (reason := invalid_text(body)) is not None:
            message = f"We could not parse the JSON body of your request: {reason}"
            await _send_error(send, APIError(400, message, code="invalid_json"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: a disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _limit_body(
        self, scope: Scope, receive: Receive, send: Send, limit: int, error: APIError
    ) -> None:
        length = Headers(scope=scope).get("content-length", "")
        if length.isdecimal() and int(length) > limit:
            await _send_error(send, error)
            return
        answered = started = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal answered, received
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    answered = True
                    if not started:
                        await _send_error(send, error)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered and not started:
                return  # the 413 went out instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
