"""The code_interpreter sandbox: real code in a real bubblewrap jail, and every escape attempt failing.

After each attack the test checks the host is unharmed and the sandbox still answers (a fresh
interpreter where the attack got it killed).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrievd.runtime.sandbox import MOUNT_DATA, Sandbox, SandboxLimits, SandboxPathError

# Tight enough that the attacks end in a second or two, loose enough for pandas and matplotlib.
LIMITS = SandboxLimits(
    memory_bytes=1024**3,
    file_bytes=16 * 1024**2,
    disk_bytes=64 * 1024**2,
    tmp_bytes=64 * 1024**2,
    output_bytes=4096,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A stand-in for the server's data dir: a secret beside the containers' directories."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "retrievd.db").write_text("SECRET-DATABASE")
    return data


@pytest.fixture
def sandbox(data_dir: Path) -> Iterator[Sandbox]:
    with Sandbox(data_dir / "containers" / "cntr_1", LIMITS) as box:
        yield box


def assert_healthy(sandbox: Sandbox) -> None:
    """The host can still start processes, and the sandbox runs code again."""
    assert subprocess.run(["true"], timeout=10).returncode == 0
    result = sandbox.run("print(6 * 7)", timeout_s=20)
    assert (result.stdout, result.exit_code) == ("42\n", 0), result


def test_state_is_kept_between_calls_and_the_last_expression_is_shown(sandbox: Sandbox) -> None:
    assert sandbox.run("x = 41").stdout == ""
    result = sandbox.run("x + 1")
    assert (result.stdout, result.stderr, result.exit_code, result.timed_out) == ("42\n", "", 0, False)


def test_an_error_is_the_calls_output(sandbox: Sandbox) -> None:
    result = sandbox.run("def f():\n    raise ValueError('boom')\nf()")
    assert result.exit_code == 1
    assert "ValueError: boom" in result.stderr
    assert 'File "<cell>", line 3' in result.stderr
    assert "kernel" not in result.stderr  # the interpreter's own frames are not shown


def test_numpy_pandas_and_matplotlib_work_on_the_files(sandbox: Sandbox) -> None:
    sandbox.write_file("sales.csv", b"month,amount\njan,10\nfeb,20\nmar,60\n")
    code = (
        "import pandas as pd, numpy as np, matplotlib.pyplot as plt\n"
        f"df = pd.read_csv('{MOUNT_DATA}/sales.csv')\n"
        "df.plot(x='month', y='amount')\n"
        "plt.savefig('chart.png')\n"
        "print(np.mean(df['amount']))\n"
    )
    result = sandbox.run(code, timeout_s=60)
    assert (result.stdout, result.exit_code) == ("30.0\n", 0), result
    assert result.new_files == [sandbox.workdir / "chart.png"]
    assert sandbox.read_file("chart.png").startswith(b"\x89PNG")
    assert len(result.images) == 1  # the figure left open
    assert result.images[0].read_bytes().startswith(b"\x89PNG")
    assert sandbox.run("print(1)").images == []  # shown once, then closed


def test_it_runs_as_its_own_user_in_its_own_directory(sandbox: Sandbox) -> None:
    result = sandbox.run("import os\nprint(os.getuid(), os.getcwd(), sorted(os.listdir('/proc'))[:0])")
    assert result.stdout == f"{sandbox.uid} {MOUNT_DATA} []\n"
    assert sandbox.uid != 0


def test_reading_the_servers_data_dir_fails(sandbox: Sandbox, data_dir: Path) -> None:
    for path in (data_dir / "retrievd.db", f"{MOUNT_DATA}/../../retrievd.db", "/proc/1/root/etc/hostname"):
        result = sandbox.run(f"print(open({str(path)!r}).read())")
        assert result.exit_code == 1, result
        assert "SECRET" not in result.stdout
    result = sandbox.run("import os\nprint(os.listdir('/'))")
    assert "data" not in result.stdout and "home" not in result.stdout
    assert_healthy(sandbox)


def test_reading_etc_shadow_fails(sandbox: Sandbox) -> None:
    result = sandbox.run("print(open('/etc/shadow').read())")
    assert result.exit_code == 1
    assert "FileNotFoundError" in result.stderr
    assert_healthy(sandbox)


def test_a_socket_to_the_hosts_loopback_reaches_nothing(sandbox: Sandbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            f"for host in [('127.0.0.1', {port}), ('10.0.0.1', 80), ('8.8.8.8', 53)]:\n"
            "    try:\n"
            "        socket.create_connection(host, timeout=2)\n"
            "        print('connected', host)\n"
            "    except OSError as error:\n"
            "        print(type(error).__name__)\n"
        )
        result = sandbox.run(code, timeout_s=20)
        assert "connected" not in result.stdout, result
        assert result.stdout.split() == ["ConnectionRefusedError", "OSError", "OSError"]
        with pytest.raises(TimeoutError):
            server.accept()
    assert_healthy(sandbox)


def test_a_fork_bomb_is_stopped_by_the_process_limit(sandbox: Sandbox) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = sandbox.run(code, timeout_s=3)
    assert result.timed_out
    assert_healthy(sandbox)


def test_a_10_gb_allocation_fails(sandbox: Sandbox) -> None:
    result = sandbox.run("data = bytearray(10 * 1024**3)")
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr
    result = sandbox.run("import numpy\nnumpy.ones(10 * 1024**3, dtype=numpy.uint8).sum()")
    assert "MemoryError" in result.stderr or "Unable to allocate" in result.stderr
    assert_healthy(sandbox)


def test_many_processes_together_stay_under_the_memory_limit(sandbox: Sandbox) -> None:
    if sandbox.memory_cgroup is None:
        pytest.skip("this machine gives the server no memory cgroup to make (rlimits only)")
    code = (
        "import subprocess, sys\n"
        "hog = 'data = b\"x\" * (200 * 2**20)\\nimport time\\ntime.sleep(2)'\n"
        "children = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(10)]\n"
        "print(sorted({child.wait() for child in children}))\n"
    )
    result = sandbox.run(code, timeout_s=60)  # 10 x 200 MiB, under RLIMIT_AS each, 2 GiB together
    assert result.exit_code is None or "-9" in result.stdout, result  # the OOM killer, inside the jail
    assert_healthy(sandbox)


def test_an_infinite_loop_is_stopped(sandbox: Sandbox) -> None:
    result = sandbox.run("x = 1\nwhile True:\n    pass", timeout_s=2)
    assert result.timed_out
    result = sandbox.run("import time\ntime.sleep(1000)", timeout_s=1)  # no CPU used: the wall clock ends it
    assert result.timed_out and result.exit_code is None
    assert_healthy(sandbox)


def test_writing_10_gb_of_output_is_cut(sandbox: Sandbox) -> None:
    result = sandbox.run("chunk = 'x' * 2**20\nfor _ in range(10 * 1024):\n    print(chunk)", timeout_s=20)
    assert result.truncated and len(result.stdout) == LIMITS.output_bytes
    assert "File too large" in result.stderr
    result = sandbox.run(
        "with open('big', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(b'x' * 2**20)"
    )
    assert "File too large" in result.stderr
    assert (sandbox.workdir / "big").stat().st_size <= LIMITS.file_bytes
    code = "for n in range(1024):\n    with open(f'part{n}', 'wb') as f:\n        f.write(b'x' * 10 * 2**20)"
    result = sandbox.run(code, timeout_s=30)
    assert result.exit_code is None and "disk limit" in result.stderr
    assert_healthy(sandbox)


def test_a_symlink_out_of_the_working_dir_leads_nowhere(sandbox: Sandbox, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("host file")
    code = (
        "import os\n"
        f"os.symlink({str(victim)!r}, 'to_host')\n"
        f"os.symlink({str(tmp_path)!r}, 'host_dir')\n"
        "os.symlink('/etc/hostname', 'etc')\n"
        "print(os.path.exists('to_host'))\n"
    )
    result = sandbox.run(code)
    assert result.stdout == "False\n"  # inside the jail the host's paths do not exist
    assert result.new_files == []  # symlinks are not files the code wrote
    for name in ("to_host", "host_dir/victim.txt", "etc"):
        with pytest.raises(SandboxPathError):
            sandbox.read_file(name)
    with pytest.raises(SandboxPathError):
        sandbox.write_file("host_dir/victim.txt", b"overwritten")
    sandbox.write_file("to_host", b"replaced")  # replaces the link, not what it points at
    assert victim.read_text() == "host file"
    assert sandbox.read_file("to_host") == b"replaced"
    with pytest.raises(SandboxPathError):
        sandbox.read_file("../victim.txt")
    assert_healthy(sandbox)
    sandbox.close()
    assert victim.read_text() == "host file"  # removing the working dir followed no link
    assert not sandbox.workdir.exists()


def test_the_seccomp_filter_refuses_namespaces_tracing_and_odd_sockets(sandbox: Sandbox) -> None:
    code = (
        "import ctypes, os, socket, subprocess, threading\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def errno_of(result):\n"
        "    return os.strerror(ctypes.get_errno()) if result == -1 else 'allowed'\n"
        "print(errno_of(libc.unshare(0x10000000)))\n"  # CLONE_NEWUSER
        "print(errno_of(libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)))\n"  # clone(CLONE_NEWUSER | SIGCHLD)
        "print(errno_of(libc.ptrace(16, 1, 0, 0)))\n"  # PTRACE_ATTACH to the jail's PID 1
        "print(errno_of(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)))\n"
        "try:\n"
        "    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
        "thread = threading.Thread(target=print, args=('threads work',))\n"
        "thread.start(); thread.join()\n"
        "print(subprocess.run(['echo', 'processes work'], capture_output=True, text=True).stdout.strip())\n"
        "print(subprocess.run(['unshare', '-U', 'true']).returncode != 0)\n"
        "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n"
    )
    result = sandbox.run(code)
    assert result.stdout.splitlines() == [
        "Operation not permitted",
        "Operation not permitted",
        "Operation not permitted",
        "Operation not permitted",
        "Address family not supported by protocol",
        "threads work",
        "processes work",
        "True",
        "2",  # SECCOMP_MODE_FILTER
    ], result
    assert_healthy(sandbox)


def test_close_kills_everything_and_a_closed_sandbox_refuses_calls(data_dir: Path) -> None:
    box = Sandbox(data_dir / "containers" / "cntr_2", LIMITS)
    box.run("import subprocess\nsubprocess.Popen(['sleep', '1000'])")
    box.close()
    assert not box.running
    with pytest.raises(RuntimeError):
        box.run("print(1)")
