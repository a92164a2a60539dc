"""A memory cgroup per sandbox, where the machine lets the server make one.

RLIMIT_AS caps each process, so a sandbox's processes together could still take processes x
memory_bytes; a cgroup caps their sum (its private /tmp included: tmpfs pages are charged to
it), and the kernel's OOM killer then picks a victim inside the sandbox, not on the host. The
cgroup is made under the server's own memory cgroup (v1 or v2, read from /proc/self/cgroup);
where that is not writable (no root, a read-only cgroupfs) sandboxes run with the rlimits only.
"""

from __future__ import annotations

import contextlib
import time
from functools import cache
from pathlib import Path

_V1_MOUNT = Path("/sys/fs/cgroup/memory")
_V2_MOUNTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


@cache
def _parent() -> tuple[Path, str, str] | None:
    """The server's memory cgroup: (directory, the limit's file, the swap limit's file)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return _V1_MOUNT / path.lstrip("/"), "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if number == "0" and not controllers:
            for mount in _V2_MOUNTS:
                folder = mount / path.lstrip("/")
                if "memory" in _read(folder / "cgroup.subtree_control").split():
                    return folder, "memory.max", "memory.swap.max"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class MemoryCgroup:
    """One sandbox's cgroup; `procs` is the file a process writes its pid to, to join it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs = folder / "cgroup.procs"

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup | None:
        """A new cgroup capped at limit_bytes (swap included), or None where none can be made."""
        parent = _parent()
        if parent is None:
            return None
        folder, limit_file, swap_file = parent
        try:
            (folder / name).mkdir()
        except OSError:
            return None
        cgroup = cls(folder / name)
        try:
            (cgroup.folder / limit_file).write_text(str(limit_bytes))
        except OSError:
            cgroup.remove()
            return None
        swap = cgroup.folder / swap_file
        if swap.exists():  # v1 counts memory + swap (>= the limit); v2 counts swap alone
            swap.write_text(str(limit_bytes if swap_file.startswith("memory.memsw") else 0))
        return cgroup

    def remove(self) -> None:
        """Remove it once its processes are gone (they may take a moment to leave it)."""
        for _ in range(100):
            with contextlib.suppress(FileNotFoundError):
                try:
                    self.folder.rmdir()
                except OSError:
                    time.sleep(0.01)
                    continue
            return
