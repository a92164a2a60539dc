"""Latency of code_interpreter's sandboxes: a container's cold start, then calls to a warm one.

    .venv/bin/python bench/sandbox.py [--runs 30]

Each cold run creates a Sandbox (a new bubblewrap jail and interpreter) and runs a trivial call
(`1 + 1`) in it, timed from the constructor to the result; then the sandbox is closed (not
timed). Warm runs are trivial calls to one sandbox already started. Also reported: the first
`import pandas, matplotlib.pyplot` in a fresh container, what a chart's first call costs on top.
Goal (issue 13): the cold start under 300 ms on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from retrievd.runtime.sandbox import Sandbox


def _quantiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _call(sandbox: Sandbox, code: str) -> float:
    started = time.perf_counter()
    result = sandbox.run(code, timeout_s=60)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"the call failed: {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="retrievd-bench-sandbox-"))
    cold, warm, imports = [], [], []
    for run in range(args.runs):
        started = time.perf_counter()
        sandbox = Sandbox(root / f"cold{run}")
        _call(sandbox, "1 + 1")
        cold.append(time.perf_counter() - started)
        sandbox.close()
    with Sandbox(root / "warm") as sandbox:
        sandbox.start()
        warm = [_call(sandbox, "1 + 1") for _ in range(args.runs)]
    for run in range(min(args.runs, 5)):
        with Sandbox(root / f"import{run}") as sandbox:
            sandbox.start()
            imports.append(_call(sandbox, "import pandas, matplotlib.pyplot"))
    table = Table(title=f"sandbox latency, {args.runs} runs")
    table.add_column("what")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for name, seconds in [
        ("cold start + trivial call", cold),
        ("warm trivial call", warm),
        ("first import pandas+pyplot", imports),
    ]:
        p50, p95 = _quantiles(seconds)
        table.add_row(name, f"{p50:.1f}", f"{p95:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
