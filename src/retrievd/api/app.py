"""The FastAPI application: OpenAI's error envelope everywhere, routers per API family."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrievd import __version__
from retrievd.api import (
    assistants,
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
from retrievd.core import Core
from retrievd.errors import APIError, AssetMissingError


def _param(loc: tuple) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    # pydantic adds the union member's name to the location; drop those tags.
    parts = [p for p in parts if not (p[:1].isupper() or p.startswith(("str", "list[", "int", "float", "bool")))]
    return ".".join(parts) or None


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    param = _param(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "Invalid value")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        msg = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "missing":
        msg = f"Missing required parameter: '{param}'."
    elif param:
        msg = f"Invalid value for '{param}': {msg}"
    return msg, param


def create_app(core: Core, *, start_workers: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            core.start_workers()
        yield
        core.close()

    app = FastAPI(title="retrievd", version=__version__, lifespan=lifespan)
    app.state.core = core

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(AssetMissingError)
    async def _asset_missing(_: Request, exc: AssetMissingError) -> JSONResponse:
        err = APIError(503, str(exc), type="server_error", code="model_not_installed")
        return JSONResponse(err.body(), status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return JSONResponse(APIError(400, message, param=param).body(), status_code=400)

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
        conversations.router,
        eval_runs.router,
    ):
        app.include_router(router, prefix="/v1")
    mount_console(app)  # last: only `/` and `/console/`, after every API route
    return app
