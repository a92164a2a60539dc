"""`retrievd usage report | verify | quota` on a data directory built with an injected clock."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retrievd.api import schemas
from retrievd.cli import app
from retrievd.config import Settings, get_settings
from retrievd.core import Core
from retrievd.ingest.pipeline import job_handlers
from retrievd.jobs.worker import WorkerPool
from retrievd.services.files import FileService
from retrievd.services.projects import ProjectService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store import db
from retrievd.usage import record_file_search

MARCH_1 = 1740787200  # 2025-03-01T00:00:00Z
DAY = 86400


class Clock:
    t = MARCH_1


@pytest.fixture()
def data_dir(assets_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """One file stored from March 1, 12:00 UTC, searched once; the clock then stands at March 3, 00:00."""
    Clock.t = MARCH_1 + DAY // 2
    db.set_clock(lambda: Clock.t)
    core = Core(Settings(data_dir=tmp_path))
    try:
        ProjectService(core.db).bootstrap("sk-admin-cli-test")
        project_id = next(p.id for p in ProjectService(core.db).list_projects() if p.is_admin)
        stores = VectorStoreService(core)
        store = stores.create(project_id, schemas.CreateVectorStoreRequest(name="cli"))
        f = FileService(core).create(
            project_id, io.BytesIO(b"Quarterly storage figures.\n" * 50), "figures.txt", "assistants"
        )
        stores.add_file(project_id, store.id, schemas.CreateVectorStoreFileRequest(file_id=f.id))
        WorkerPool(core.queue, job_handlers(core)).drain()
        size = stores.get(project_id, store.id).usage_bytes
        record_file_search(core.db, project_id, [store.id])
    finally:
        core.close()
    Clock.t = MARCH_1 + 2 * DAY
    monkeypatch.setenv("RETRIEVD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        yield {"project_id": project_id, "size": size, "dir": tmp_path}
    finally:
        get_settings.cache_clear()
        db.set_clock(None)


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["usage", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_report_gives_gb_days_per_project_and_day(data_dir: dict) -> None:
    rows = json.loads(run("report", "--since", "2025-03-01", "--format", "json"))
    size, project_id = data_dir["size"], data_dir["project_id"]
    assert [(r["date"], r["project_id"], r["byte_seconds"], r["file_search_calls"]) for r in rows] == [
        ("2025-03-01", project_id, size * DAY // 2, 1),
        ("2025-03-02", project_id, size * DAY, 0),
    ]
    assert rows[1]["gb_days"] == pytest.approx(size / 1e9)
    assert rows[1]["cost_usd"] == 0  # within the free GB

    table = list(csv.DictReader(io.StringIO(run("report", "--since", "2025-03-02", "--format", "csv"))))
    assert [(r["date"], int(r["bytes_at_end"])) for r in table] == [("2025-03-02", size)]


def test_report_draws_a_chart(data_dir: dict) -> None:
    chart = data_dir["dir"] / "usage.png"
    assert "GB-days" in run("report", "--since", "2025-03-01", "--chart", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verify_and_quota(data_dir: dict) -> None:
    assert "0 differences" in run("verify")
    assert "quota 5,000,000 bytes" in run("quota", data_dir["project_id"], "5000000")
    assert "quota none" in run("quota", data_dir["project_id"], "none")
