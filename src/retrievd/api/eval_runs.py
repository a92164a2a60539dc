"""`/v1/retrievd/eval_runs`: past `retrievd eval run` results, read-only. A retrievd extension, not OpenAI's.

A run is any folder below the eval directory (`Settings.eval_dir`: RETRIEVD_EVAL_DIR, default `<data_dir>/eval`) that
holds a results.json or results.md (one collection) or a RESULTS.md (a suite, beside its
results/NAME/ folders, which are listed too). Its tables and plots can be read with any API key; nothing here
writes, and no path outside the eval directory can be named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from retrievd.api.deps import CoreDep, PrincipalDep
from retrievd.errors import not_found

router = APIRouter(prefix="/retrievd", tags=["retrievd"])

RESULT_FILES = ("results.json", "results.md", "RESULTS.md")
MEDIA_TYPES = {
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
}
MAX_DEPTH = 4  # e.g. <eval dir>/<run>/results/<dataset>/


class EvalRunObject(BaseModel):
    id: str  # the run's folder, relative to the eval directory ("/"-separated)
    object: Literal["retrievd.eval_run"] = "retrievd.eval_run"
    created_at: int  # when its results were written
    files: list[str]  # readable through /eval_runs/{id}/files/{name}


class EvalRunList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EvalRunObject]
    has_more: bool = False


def _runs(root: Path) -> list[EvalRunObject]:
    runs = []
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        if len(here.relative_to(root).parts) >= MAX_DEPTH:
            subfolders.clear()
        results = [here / n for n in RESULT_FILES if n in names]
        if results and here != root:
            runs.append(
                EvalRunObject(
                    id=here.relative_to(root).as_posix(),
                    created_at=int(max(p.stat().st_mtime for p in results)),
                    files=sorted(n for n in names if Path(n).suffix in MEDIA_TYPES),
                )
            )
    return sorted(runs, key=lambda r: (-r.created_at, r.id))


@router.get("/eval_runs", response_model=EvalRunList)
def list_eval_runs(core: CoreDep, _: PrincipalDep) -> EvalRunList:
    """Past eval runs, newest first (a retrievd extension)."""
    root = core.settings.eval_dir.resolve()
    return EvalRunList(data=_runs(root) if root.is_dir() else [])


@router.get("/eval_runs/{run_id:path}/files/{name}")
def eval_run_file(run_id: str, name: str, core: CoreDep, _: PrincipalDep) -> FileResponse:
    """One file of a run: a table (.md, .json, .csv, .txt) or a plot (.png) (a retrievd extension)."""
    root = core.settings.eval_dir.resolve()
    folder = (root / run_id).resolve()
    path = (folder / name).resolve()
    readable = (
        folder.is_relative_to(root)
        and folder != root
        and path.parent == folder
        and path.suffix in MEDIA_TYPES
        and path.is_file()
        and any((folder / n).is_file() for n in RESULT_FILES)
    )
    if not readable:
        raise not_found("eval run file", f"{run_id}/{name}", param="name")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix])
