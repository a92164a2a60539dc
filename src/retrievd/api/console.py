"""The web console: plain HTML, CSS and ES modules shipped in the package, served at `/`.

The page is `GET /`; its assets live under `/console/`, so nothing here can shadow `/v1` or
`/health`. The console talks only to the public API with the key the user signs in with.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
# Everything comes from this server: no inline script, no CDN, no third-party request.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount_console(app: FastAPI) -> None:
    """Add the console last, after every API router."""

    @app.get("/", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(
            CONSOLE_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS
        )

    app.mount("/console", StaticFiles(directory=CONSOLE_DIR), name="console")
