"""Sandboxes for code_interpreter: one isolated, persistent Python process per container.

A sandbox is a bubblewrap jail (see docs/code-interpreter.md for the threat model): new network,
PID, IPC and UTS namespaces (no network at all, only its own processes visible), a read-only view
of the Python installation and /usr, nothing else of the host's files but its working directory,
mounted at /mnt/data as OpenAI's was, and a small private /tmp. Its code runs as a user id of its
own, so RLIMIT_NPROC counts only its processes; rlimits cap memory, CPU time, file size and open
files; the server enforces wall time and the working directory's size, and kills the whole jail
when a limit is passed. Between calls it is stopped (SIGSTOP) with no process but its interpreter
left, so nothing in it changes its files while the server reads them.

The interpreter keeps its variables between calls, like a notebook; after a kill (timeout, a
limit, a crash) the next call starts a fresh one, with the working directory's files kept.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from retrievd.runtime.sandbox import seccomp
from retrievd.runtime.sandbox.cgroup import MemoryCgroup

MOUNT_DATA = "/mnt/data"
MOUNT_OUTPUTS = "/mnt/outputs"
_KERNEL = Path(__file__).with_name("kernel.py")
_KERNEL_PID_IN_JAIL = "2"  # bwrap is PID 1 of the jail's namespace; the command it starts is 2
_UIDS = range(2_000_000_000, 2_100_000_000)
_POLL_S = 0.1
_START_TIMEOUT_S = 30.0
_ANSWER_OVERHEAD = 64 * 1024
_uids_taken: set[int] = set()  # the uids of this process's open sandboxes
_uids_lock = threading.Lock()


class SandboxUnavailable(RuntimeError):
    """This machine cannot run sandboxes (no bubblewrap, or the server is not root)."""


class SandboxPathError(ValueError):
    """A path names nothing safe inside the working directory (absolute, `..`, or a symlink)."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one container may use. Memory and file size are per process and per file."""

    memory_bytes: int = 2 * 1024**3  # RLIMIT_AS of each process; all together too, with a cgroup
    processes: int = 64  # RLIMIT_NPROC of the sandbox's own uid (threads count)
    session_cpu_s: int = 1800  # hard RLIMIT_CPU of the interpreter over the container's life
    file_bytes: int = 256 * 1024**2  # RLIMIT_FSIZE: the largest file it may write
    disk_bytes: int = 1024**3  # the working directory and the images, watched by the server
    tmp_bytes: int = 512 * 1024**2  # its private /tmp (a tmpfs: host memory)
    output_bytes: int = 256 * 1024  # stdout, and stderr, returned per call; the rest is cut
    open_files: int = 256  # RLIMIT_NOFILE


@dataclass
class ExecResult:
    """One call's outcome. Paths are on the host: `new_files` in the working directory (regular
    files the call created or changed; read them with `Sandbox.read_file` or directly, they hold
    still until the next call), `images` the figures it left open, as PNGs, kept until the next
    call or close."""

    stdout: str
    stderr: str
    exit_code: int | None  # 0, 1 when the code raised; None when the sandbox was killed
    timed_out: bool
    images: list[Path] = field(default_factory=list)
    new_files: list[Path] = field(default_factory=list)
    truncated: bool = False  # stdout or stderr went past output_bytes and was cut


def check_available() -> None:
    """Raise SandboxUnavailable, saying why, unless sandboxes can run here."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap)")
    if shutil.which("setpriv") is None:
        raise SandboxUnavailable("setpriv (util-linux) is not installed")
    if not seccomp.supported():
        raise SandboxUnavailable("the sandbox's seccomp filter is written for x86-64 only")
    if os.geteuid() != 0:
        raise SandboxUnavailable("sandboxes give each container a user id of its own: run the server as root")


def _python_roots() -> list[Path]:
    """The directories the sandbox's Python needs: this venv, and the installation it was made from."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(roots)


def _walk_files(root: Path) -> dict[PurePosixPath, tuple[int, int]]:
    """Regular files under root, never following a symlink: relative path -> (mtime_ns, size)."""
    found: dict[PurePosixPath, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                found[PurePosixPath(path.relative_to(root))] = (info.st_mtime_ns, info.st_size)
        dirs[:] = [name for name in dirs if not Path(folder, name).is_symlink()]
    return found


def _tree_bytes(*roots: Path) -> int:
    total = 0
    for root in roots:
        for folder, _, files in os.walk(root, followlinks=False):
            for name in files:
                try:
                    total += Path(folder, name).lstat().st_blocks * 512
                except FileNotFoundError:
                    pass
    return total


def _identity(pid: int) -> tuple[int, str] | None:
    """(uid, PID inside its namespace) of a process, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["Uid"].split()[0]), fields.get("NSpid", "").split()[-1]


def _processes_of(uid: int) -> list[tuple[int, str]]:
    """(host pid, PID inside the jail) of every process on the machine running as uid."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (identity := _identity(int(entry.name))) and identity[0] == uid:
            found.append((int(entry.name), identity[1]))
    return found


def _descendants_of(pid: int, uid: int) -> list[tuple[int, str]]:
    """Like _processes_of, among pid's descendants only: what a jail holds (its orphans go to its
    PID 1), found without reading all of /proc."""
    found, parents = [], [pid]
    while parents:
        parent = parents.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(child) for child in task.read_text().split()]
            except OSError:
                continue
            parents += children
            for child in children:
                if (identity := _identity(child)) and identity[0] == uid:
                    found.append((child, identity[1]))
    return found


class Sandbox:
    """One container's jail. Not thread-safe: one call at a time (a container runs one cell)."""

    def __init__(self, workdir: Path, limits: SandboxLimits | None = None) -> None:
        check_available()
        self.workdir = Path(workdir).resolve()
        self.limits = limits or SandboxLimits()
        self.uid = self._take_uid()
        self.memory_cgroup = MemoryCgroup.create(f"retrievd-sandbox-{self.uid}", self.limits.memory_bytes)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="retrievd-sandbox-"))
        self.outputs = self._scratch / "outputs"
        self.outputs.mkdir()
        os.chown(self.outputs, self.uid, self.uid)
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: int | None = None
        self._answers: int | None = None
        self._calls = 0
        self._pending = b""
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------

    @staticmethod
    def _take_uid() -> int:
        with _uids_lock:
            while True:
                uid = _UIDS[secrets.randbelow(len(_UIDS))]
                if uid not in _uids_taken and not _processes_of(uid):
                    _uids_taken.add(uid)
                    return uid

    @property
    def running(self) -> bool:
        """Whether its interpreter is alive (its variables kept)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the interpreter now rather than at the first call."""
        if self._closed:
            raise RuntimeError("the sandbox is closed")
        if self.running:
            return
        self._kill()
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        filter_read, filter_write = os.pipe()
        os.write(filter_write, seccomp.program())  # under 1 KiB: the pipe holds it whole
        os.close(filter_write)
        config = {"limits": self._rlimits(), "requests_fd": requests_read, "answers_fd": answers_write}
        # Into the cgroup before bwrap starts, so that every process of the jail is in it.
        join = (
            ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.memory_cgroup.procs)]
            if self.memory_cgroup
            else []
        )
        self._process = subprocess.Popen(
            [
                *join,
                *self._bwrap_args(seccomp_fd=filter_read),
                sys.executable,
                "-I",
                "-c",
                _KERNEL.read_text(),
                json.dumps(config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(requests_read, answers_write, filter_read),
            start_new_session=True,
        )
        for fd in (requests_read, answers_write, filter_read):
            os.close(fd)
        self._requests, self._answers = requests_write, answers_read
        self._pending = b""
        ready = self._read_answer(0, time.monotonic() + _START_TIMEOUT_S, watch_disk=False)
        if ready is None:
            self._kill()
            raise RuntimeError("the sandbox's interpreter did not start")
        self._freeze()

    def close(self) -> None:
        """Kill every process of the sandbox and remove its working directory."""
        if self._closed:
            return
        self._closed = True
        self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self.memory_cgroup is not None:
            self.memory_cgroup.remove()
        with _uids_lock:
            _uids_taken.discard(self.uid)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------

    def run(self, code: str, timeout_s: float = 60.0) -> ExecResult:
        """Run code in the interpreter; kill the sandbox if it takes longer than timeout_s."""
        self.start()
        assert self._requests is not None and self._process is not None
        self._own_workdir()
        before = _walk_files(self.workdir)
        for image in self.outputs.iterdir():
            image.unlink()
        self._calls += 1
        request = {
            "call": self._calls,
            "code": code,
            "cpu_s": timeout_s,
            "output_cap": self.limits.output_bytes,
        }
        self._thaw()
        os.write(self._requests, (json.dumps(request) + "\n").encode())
        deadline = time.monotonic() + timeout_s
        answer = self._read_answer(self._calls, deadline, watch_disk=True)
        if answer is None:
            reason = self._kill_reason
            self._kill()
            result = ExecResult(
                stdout="",
                stderr=f"[sandbox] {reason}; the interpreter was restarted, its variables lost\n",
                exit_code=None,
                timed_out=reason.startswith("timed out"),
            )
        else:
            self._end_strays()
            self._freeze()
            result = ExecResult(
                stdout=str(answer.get("stdout", ""))[: self.limits.output_bytes],
                stderr=str(answer.get("stderr", ""))[: self.limits.output_bytes],
                exit_code=1 if answer.get("failed") else 0,
                timed_out=bool(answer.get("cpu_exceeded")),
                truncated=bool(answer.get("truncated")),
            )
        after = _walk_files(self.workdir)
        result.new_files = [
            self.workdir / path for path, seen in sorted(after.items()) if before.get(path) != seen
        ]
        result.images = sorted(
            path for path in self.outputs.iterdir() if path.suffix == ".png" and not path.is_symlink()
        )
        return result

    # -- files, safely: the sandbox may have planted symlinks anywhere in its directory ----------

    def write_file(self, name: str, data: bytes) -> Path:
        """Put a file in the working directory (replacing whatever is at that name, symlink or not)."""
        parts = self._parts(name)
        folder = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                try:
                    os.mkdir(part, dir_fd=folder)
                except FileExistsError:
                    pass
                inner = self._open_inside(part, os.O_RDONLY | os.O_DIRECTORY, folder)
                os.close(folder)
                folder = inner
            try:
                os.unlink(parts[-1], dir_fd=folder)
            except FileNotFoundError:
                pass
            handle = os.open(
                parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder
            )
            with os.fdopen(handle, "wb") as target:
                target.write(data)
        finally:
            os.close(folder)
        return self.workdir.joinpath(*parts)

    def read_file(self, name: str) -> bytes:
        """A regular file of the working directory; SandboxPathError if any part is a symlink."""
        parts = self._parts(name)
        folder = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                inner = self._open_inside(part, os.O_RDONLY | os.O_DIRECTORY, folder)
                os.close(folder)
                folder = inner
            handle = self._open_inside(parts[-1], os.O_RDONLY, folder)
        finally:
            os.close(folder)
        with os.fdopen(handle, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise SandboxPathError(f"{name} is not a regular file")
            return source.read()

    def _parts(self, name: str | os.PathLike[str]) -> list[str]:
        path = PurePosixPath(os.fspath(name))
        if path.is_absolute():
            try:
                path = path.relative_to(self.workdir.as_posix())
            except ValueError:
                path = path.relative_to(MOUNT_DATA) if path.is_relative_to(MOUNT_DATA) else path
        if path.is_absolute() or not path.parts or ".." in path.parts:
            raise SandboxPathError(f"{name} is not a path inside the working directory")
        return list(path.parts)

    @staticmethod
    def _open_inside(part: str, flags: int, folder: int) -> int:
        try:
            return os.open(part, flags | os.O_NOFOLLOW, dir_fd=folder)
        except OSError as error:
            if os.path.islink(f"/proc/self/fd/{folder}/{part}"):
                raise SandboxPathError(f"{part} is a symlink") from error
            raise

    # -- the jail ---------------------------------------------------------------------------

    def _bwrap_args(self, seccomp_fd: int) -> list[str]:
        args = [
            "bwrap",
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "TMPDIR",
            "/tmp",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "MPLBACKEND",
            "Agg",
            "--setenv",
            "MPLCONFIGDIR",
            "/tmp/matplotlib",
            "--setenv",
            "OPENBLAS_NUM_THREADS",
            "1",
            "--setenv",
            "OMP_NUM_THREADS",
            "1",
            "--setenv",
            "MKL_NUM_THREADS",
            "1",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        args += ["--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/mnt"]
        for name in ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts"):
            if os.path.exists(name):
                args += ["--ro-bind", name, name]
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--size",
            str(self.limits.tmp_bytes),
            "--tmpfs",
            "/tmp",
        ]
        # After the private /tmp, so that a Python installed under /tmp (a venv made there) shows through.
        for root in _python_roots():
            # bwrap copies the modes of a bind's parents (e.g. /root's 0700): make them traversable.
            for parent in reversed(root.parents[:-1]):
                args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", str(root), str(root)]
        args += [
            "--bind",
            str(self.workdir),
            MOUNT_DATA,
            "--bind",
            str(self.outputs),
            MOUNT_OUTPUTS,
            "--chdir",
            MOUNT_DATA,
            "--seccomp",
            str(seccomp_fd),
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
            "--cap-add",
            "CAP_SETPCAP",
            "setpriv",
            "--reuid",
            str(self.uid),
            "--regid",
            str(self.uid),
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
        return args

    def _rlimits(self) -> dict[str, int]:
        limits = self.limits
        return {
            "RLIMIT_AS": limits.memory_bytes,
            "RLIMIT_NPROC": limits.processes,
            "RLIMIT_CPU": limits.session_cpu_s,
            "RLIMIT_FSIZE": limits.file_bytes,
            "RLIMIT_NOFILE": limits.open_files,
            "RLIMIT_CORE": 0,
        }

    def _own_workdir(self) -> None:
        """Files the server put in the working directory become the sandbox's, to read and change."""
        for folder, dirs, files in os.walk(self.workdir, followlinks=False):
            for name in [*dirs, *files]:
                path = os.path.join(folder, name)
                if os.lstat(path).st_uid != self.uid:
                    os.chown(path, self.uid, self.uid, follow_symlinks=False)
        os.chown(self.workdir, self.uid, self.uid)

    def _read_answer(self, call: int, deadline: float, watch_disk: bool) -> dict | None:
        """The kernel's answer to `call`, or None (and _kill_reason set) if a limit came first.
        Other lines (a forked copy of the kernel answering too, say) are skipped."""
        assert self._answers is not None
        limit = 2 * 6 * self.limits.output_bytes + _ANSWER_OVERHEAD  # JSON escapes at most 6x
        while True:
            line, newline, rest = self._pending.partition(b"\n")
            if newline:
                self._pending = rest
                answer = _parse(line)
                if answer is not None and answer.get("call") == call:
                    return answer
                continue
            if len(self._pending) > limit:
                self._kill_reason = "its answer was larger than the output limit"
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill_reason = "timed out"
                return None
            readable, _, _ = select.select([self._answers], [], [], min(left, _POLL_S))
            if readable:
                chunk = os.read(self._answers, 65536)
                if not chunk:
                    self._kill_reason = "the interpreter exited (a crash, or a limit such as memory)"
                    return None
                self._pending += chunk
            elif watch_disk and _tree_bytes(self.workdir, self.outputs) > self.limits.disk_bytes:
                self._kill_reason = f"its files went past the disk limit of {self.limits.disk_bytes} bytes"
                return None

    _kill_reason = ""

    def _signal_all(self, signum: int, spare_kernel: bool) -> int:
        if self._process is None:
            processes = _processes_of(self.uid)
        else:
            processes = _descendants_of(self._process.pid, self.uid)
        hit = 0
        for pid, jail_pid in processes:
            if spare_kernel and jail_pid == _KERNEL_PID_IN_JAIL:
                continue
            try:
                os.kill(pid, signum)
                hit += 1
            except ProcessLookupError:
                pass
        return hit

    def _end_strays(self) -> None:
        """Kill what the call left running (background processes, a fork bomb's remains)."""
        for _ in range(100):
            if not self._signal_all(signal.SIGKILL, spare_kernel=True):
                return

    def _freeze(self) -> None:
        self._signal_all(signal.SIGSTOP, spare_kernel=False)

    def _thaw(self) -> None:
        self._signal_all(signal.SIGCONT, spare_kernel=False)

    def _kill(self) -> None:
        """Kill the jail (the namespace dies with bwrap) and anything left running as its uid."""
        if self._process is not None:
            if self._process.poll() is None:
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            self._process = None
        for _ in range(100):
            if not self._signal_all(signal.SIGKILL, spare_kernel=False):
                break
            time.sleep(0.01)
        for fd in (self._requests, self._answers):
            if fd is not None:
                os.close(fd)
        self._requests = self._answers = None


def _parse(line: bytes) -> dict | None:
    try:
        answer = json.loads(line)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
