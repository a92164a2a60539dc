"""The code_interpreter tool: the model's Python runs in a container's sandbox, what it makes comes back as files.

A model sees code_interpreter as a function taking `code`. A container is one sandbox (see
`retrievd.runtime.sandbox`), kept per thread as OpenAI's sessions were, holding the files given to
the tool in /mnt/data. Each call returns its logs, the figures it left open (stored as image files)
and the files it wrote (stored as files of purpose `assistants_output`, named to the model as
`sandbox:/mnt/data/<name>`, which the answer's `file_path` annotations point at). A sandbox that
is killed or cannot start gives the model an error to read, never the run a failure.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from retrievd.runtime.sandbox import MOUNT_DATA, ExecResult, Sandbox, SandboxLimits, SandboxUnavailable
from retrievd.usage.sessions import open_session, touch_session

if TYPE_CHECKING:
    from retrievd.core import Core
    from retrievd.store.db import Database

log = logging.getLogger("retrievd.runtime")

CODE_INTERPRETER = "code_interpreter"
OUTPUT_PURPOSE = "assistants_output"
SANDBOX_PREFIX = f"sandbox:{MOUNT_DATA}/"
CODE_INTERPRETER_FUNCTION: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": CODE_INTERPRETER,
        "description": (
            "Run Python 3 (numpy, pandas, matplotlib) in a persistent sandbox without network. "
            f"The user's files are in {MOUNT_DATA}, the working directory. Returns stdout/stderr, "
            "the figures left open, and the files written."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    },
}
CODE_INTERPRETER_GUIDE = (
    f"Use code_interpreter to compute with the user's files in {MOUNT_DATA}. Save files you make "
    f"there and link each in your answer as {SANDBOX_PREFIX}<name>; plots left open are shown to the user."
)
# A link ends before spaces, brackets, quotes and sentence punctuation after it.
_SANDBOX_LINK = re.compile(re.escape(SANDBOX_PREFIX) + r"[^\s)\]\"'<>]*[^\s)\]\"'<>.,;:!?]")


@dataclass
class CodeResult:
    """One call as the step shows it (`outputs`), the files it wrote (link -> file id), and the model's view."""

    outputs: list[dict[str, Any]]
    files: dict[str, str]
    output_for_model: str


def parse_code(arguments: str) -> str:
    """The code of a call; a model that sends raw code rather than JSON is taken at its word."""
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    code = args.get("code") if isinstance(args, dict) else None
    return code if isinstance(code, str) else ""


@dataclass(frozen=True)
class InputFile:
    """A file to put in /mnt/data before the code runs (once per sandbox): its id, name and bytes' path."""

    id: str
    name: str
    path: Path


class OutputKeeper(Protocol):
    """Where a call's products go: Assistants keep them as files, containers as container files."""

    def file(self, name: str, data: bytes) -> str:
        """Keep a file the code wrote; its id."""
        ...

    def image(self, data: bytes) -> dict[str, Any]:
        """Keep a figure (PNG); the call's output entry for it."""
        ...


class FileKeeper:
    """Products as Files API files of purpose `assistants_output` (Assistants v2)."""

    def __init__(self, core: Core, project_id: str) -> None:
        from retrievd.services.files import FileService

        self.files = FileService(core)
        self.project_id = project_id

    def file(self, name: str, data: bytes) -> str:
        return self.files.create(self.project_id, io.BytesIO(data), name, OUTPUT_PURPOSE).id

    def image(self, data: bytes) -> dict[str, Any]:
        return {"type": "image", "image": {"file_id": self.file("image.png", data)}}


def file_inputs(core: Core, project_id: str, file_ids: list[str]) -> list[InputFile]:
    """Files API files as inputs (404 for one that is gone)."""
    from retrievd.services.files import FileService

    rows = [FileService(core).get(project_id, file_id) for file_id in file_ids]
    return [InputFile(row.id, row.filename, core.blobs.path(row.id)) for row in rows]


@dataclass
class _Container:
    sandbox: Sandbox
    session_id: int  # its row in code_interpreter_sessions (usage)
    loaded: set[str] = field(default_factory=set)  # the file ids already in /mnt/data
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Containers:
    """This process's open containers, by key; one idle past `idle_s` is closed (its files removed).
    Each sandbox started is a session for usage reports."""

    def __init__(self, db: Database, root: Path, idle_s: float, limits: SandboxLimits | None = None) -> None:
        self.db = db
        self.root = root
        self.idle_s = idle_s
        self.limits = limits
        self._open: dict[str, _Container] = {}
        self._lock = threading.Lock()

    def _get(self, project_id: str, key: str, memory_bytes: int | None) -> _Container:
        self.close_idle()
        with self._lock:
            container = self._open.get(key)
            if container is None:
                limits = self.limits
                if memory_bytes is not None:
                    limits = replace(limits or SandboxLimits(), memory_bytes=memory_bytes)
                sandbox = Sandbox(self.root / key, limits)
                session_id = open_session(self.db, project_id, key)
                container = self._open[key] = _Container(sandbox, session_id)
            container.last_used = time.monotonic()
            return container

    def run(
        self,
        project_id: str,
        key: str,
        inputs: list[InputFile],
        code: str,
        timeout_s: float,
        keep: OutputKeeper,
        memory_bytes: int | None = None,
    ) -> CodeResult:
        """Run code in the container `key` (its sandbox made on first use, with `memory_bytes` if given
        rather than the default limit) with `inputs` in /mnt/data."""
        try:
            container = self._get(project_id, key, memory_bytes)
        except SandboxUnavailable as e:
            return failed(f"code_interpreter is not available on this server: {e}")
        with container.lock:
            try:
                for item in inputs:
                    if item.id not in container.loaded:
                        container.sandbox.write_file(item.name, item.path.read_bytes())
                        container.loaded.add(item.id)
                result = container.sandbox.run(code, timeout_s=timeout_s)
            except Exception as e:  # the sandbox could not start: the model is told, the server goes on
                log.warning("code_interpreter failed in container %s: %s", key, e)
                self.close(key)
                return failed(f"The sandbox failed: {e}")
            container.last_used = time.monotonic()
            touch_session(self.db, container.session_id)
            kept = _keep_outputs(container, result, keep)
            container.loaded.update(kept.files.values())  # in /mnt/data already
            return kept

    def close(self, key: str) -> None:
        with self._lock:
            container = self._open.pop(key, None)
        if container is not None:
            container.sandbox.close()
            touch_session(self.db, container.session_id, end=True)

    def close_idle(self) -> None:
        cutoff = time.monotonic() - self.idle_s
        with self._lock:
            idle = [k for k, c in self._open.items() if c.last_used < cutoff and not c.lock.locked()]
        for key in idle:
            self.close(key)

    def close_all(self) -> None:
        for key in list(self._open):
            self.close(key)


def _keep_outputs(container: _Container, result: ExecResult, keep: OutputKeeper) -> CodeResult:
    sandbox = container.sandbox
    logs = result.stdout + result.stderr
    outputs: list[dict[str, Any]] = [{"type": "logs", "logs": logs}] if logs else []
    outputs += [keep.image(image.read_bytes()) for image in result.images]
    written: dict[str, str] = {}
    for path in result.new_files:
        name = path.relative_to(sandbox.workdir).as_posix()
        try:
            data = sandbox.read_file(name)
        except (OSError, ValueError):
            continue  # replaced by a symlink or removed: not a file to hand back
        written[SANDBOX_PREFIX + name] = keep.file(name, data)
    told: dict[str, Any] = {"logs": logs, "files": sorted(written), "images_shown": len(result.images)}
    if result.exit_code is None:
        told["error"] = "The sandbox was killed (see logs); its variables are lost, its files kept."
    return CodeResult(outputs, written, json.dumps(told, ensure_ascii=False))


def failed(message: str) -> CodeResult:
    return CodeResult([{"type": "logs", "logs": message}], {}, json.dumps({"error": message}))


def file_path_annotations(text: str, files: dict[str, str]) -> list[dict[str, Any]]:
    """`file_path` annotations for the sandbox links in an answer that name files the run wrote."""
    return [
        {
            "type": "file_path",
            "text": m.group(0),
            "start_index": m.start(),
            "end_index": m.end(),
            "file_path": {"file_id": files[m.group(0)]},
        }
        for m in _SANDBOX_LINK.finditer(text)
        if m.group(0) in files
    ]
