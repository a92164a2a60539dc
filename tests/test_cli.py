"""The command line reads like the API: ingest a folder, then search it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retrievd import cli
from retrievd.cli import app
from tests.conftest import DOCS


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from retrievd.config import get_settings

    monkeypatch.setenv("RETRIEVD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RETRIEVD_API_KEY", "sk-admin-cli")
    monkeypatch.setattr(cli.console, "width", 240)  # wide enough that tables print whole ids
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_ingest_a_folder_then_search_it(assets_ready: None, env: Path) -> None:
    folder = env / "docs"
    folder.mkdir()
    for name in ("norwich-city.txt", "fake.docx", "empty.txt"):
        shutil.copy(DOCS / name, folder / name)
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(folder), "--vector-store", "notes"])
    assert result.exit_code == 0, result.output
    assert "norwich-city.txt" in result.output and "completed" in result.output
    assert "failed" in result.output and "empty" in result.output.lower()

    result = runner.invoke(app, ["search", "notes", "Carrow Road football", "-n", "3"])
    assert result.exit_code == 0, result.output
    assert "norwich-city.txt" in result.output.splitlines()[3]


def test_projects_and_keys(env: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["projects", "create", "research"])
    assert created.exit_code == 0
    project_id = created.output.strip()
    key = runner.invoke(app, ["keys", "create", project_id, "--name", "ci"])
    assert key.exit_code == 0 and key.output.strip().startswith("sk-proj-")
    listed = runner.invoke(app, ["keys", "list"])
    assert project_id in listed.output and key.output.strip() not in listed.output  # only the redacted form
    assert runner.invoke(app, ["projects", "archive", project_id]).exit_code == 0
    assert project_id not in runner.invoke(app, ["projects", "list"]).output
