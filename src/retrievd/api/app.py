"""The FastAPI application: OpenAI's error envelope everywhere, routers per API family."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrievd import __version__
from retrievd.api import (
    assistants,
    containers,
    conversations,
    eval_runs,
    files,
    organization,
    responses,
    threads,
    usage,
    vector_stores,
)
from retrievd.api.console import mount_console
from retrievd.api.limits import RequestLimits
from retrievd.api.schemas import ErrorResponse
from retrievd.core import Core
from retrievd.errors import APIError, AssetMissingError

# What the OpenAPI document promises for errors: the envelope, for any 4xx or 5xx (never FastAPI's 422).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "The request was refused; the body says why."},
    "5XX": {"model": ErrorResponse, "description": "The server failed."},
}


def _param(loc: tuple) -> str | None:
    # The first element is where the value was (body, query, path...): a field may be named `query`.
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in ("body", "query", "path", "form", "header") else loc)]
    # pydantic adds the union member's name to the location; drop those tags.
    parts = [p for p in parts if not (p[:1].isupper() or p.startswith(("str", "list[", "int", "float", "bool")))]
    return ".".join(parts) or None


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None, None
    first = errors[0]
    param = _param(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "Invalid value")).removeprefix("Value error, ")
    kind, ctx, value = first.get("type"), first.get("ctx") or {}, first.get("input")
    if kind == "extra_forbidden":
        msg = f"Unrecognized request argument supplied: {param}"
    elif kind == "missing":
        msg = f"Missing required parameter: '{param}'."
    elif kind == "too_long" and isinstance(value, list):  # OpenAI's wording and code for size limits
        return (
            f"Invalid '{param}': array too long. Expected an array with maximum length {ctx.get('max_length')}, "
            f"but got an array with length {len(value)} instead.",
            param,
            "array_above_max_length",
        )
    elif kind == "string_too_long" and isinstance(value, str):
        return (
            f"Invalid '{param}': string too long. Expected a string with maximum length {ctx.get('max_length')}, "
            f"but got a string with length {len(value)} instead.",
            param,
            "string_above_max_length",
        )
    elif param:
        msg = f"Invalid value for '{param}': {msg}"
    return msg, param, None


def create_app(core: Core, *, start_workers: bool = True) -> FastAPI:
    """The API over `core`, which it closes at shutdown; with `start_workers`, the core's worker
    pools (ingestion, index, runs: `Core.start_workers`) run while it serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            core.start_workers()
        yield
        core.close()

    app = FastAPI(title="retrievd", version=__version__, lifespan=lifespan)
    app.state.core = core
    app.add_middleware(RequestLimits, settings=core.settings)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(AssetMissingError)
    async def _asset_missing(_: Request, exc: AssetMissingError) -> JSONResponse:
        err = APIError(503, str(exc), type="server_error", code="model_not_installed")
        return JSONResponse(err.body(), status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param, code = _validation_message(exc)
        return JSONResponse(APIError(400, message, param=param, code=code).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = "Unknown request URL." if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(APIError(exc.status_code, message, type=kind, code=code).body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        err = APIError(500, "The server had an error while processing your request.", type="server_error", code="server_error")
        return JSONResponse(err.body(), status_code=500)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for router in (
        files.router,
        vector_stores.router,
        organization.router,
        usage.router,
        assistants.router,
        threads.router,
        responses.router,
        containers.router,
        conversations.router,
        eval_runs.router,
    ):
        app.include_router(router, prefix="/v1", responses=ERROR_RESPONSES)
    mount_console(app)  # last: only `/` and `/console/`, after every API route
    return app
