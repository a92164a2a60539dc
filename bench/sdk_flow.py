"""The unchanged-SDK flow (tests/sdk_flow.py) N times in a row against PostgreSQL + `retrievd worker`s.

    .venv/bin/python bench/sdk_flow.py [--runs 20] [--workers 2] [--serve-threads]

Each run: a fresh PostgreSQL database (RETRIEVD_TEST_POSTGRES_URL, default the server on
127.0.0.1:5432), `retrievd serve --no-workers` (the index owner; `--serve-threads` gives it its own
ingestion and run threads too) and the workers, started from nothing; then every step of the flow,
with every field checked, and the database and index checked clean afterwards. Every run's answers
are compared with the first run's, field by field. Prints, per step, how many runs it passed and its
median seconds; exits 1 if any run failed anywhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import postgres_database
from tests.sdk_flow import FlowResult, StepFailed, check_left_clean, run_flow, scaled_out


def one_run(folder: Path, workers: int, serve_threads: bool) -> tuple[FlowResult | None, str | None]:
    with postgres_database() as url, scaled_out(url, folder, workers, serve_threads) as deployment:
        try:
            result = run_flow(deployment.client)
        except StepFailed as e:
            return None, str(e)
        try:
            check_left_clean(deployment, result)
        except AssertionError as e:
            return result, f"left_clean: {e}"
        return result, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--serve-threads", action="store_true", help="serve runs ingestion and run threads too"
    )
    args = parser.parse_args()
    console = Console(width=160)
    root = Path(tempfile.mkdtemp(prefix="retrievd-bench-sdk-flow-"))
    passed: dict[str, int] = {}
    seconds: dict[str, list[float]] = {}
    failures: list[str] = []
    first: dict | None = None
    started = time.perf_counter()
    for n in track(range(args.runs), description="flow runs", console=console):
        result, failure = one_run(root / f"run-{n}", args.workers, args.serve_threads)
        if result is not None:
            for step in result.steps:
                passed[step] = passed.get(step, 0) + 1
                seconds.setdefault(step, []).append(result.seconds[step])
            if first is None:
                first = result.seen
            elif diff := [step for step, seen in result.seen.items() if first.get(step) != seen]:
                failure = failure or f"answers differ from run 0 at {diff}"
        if failure:
            failures.append(f"run {n}: {failure}")
            console.print(f"[red]run {n}: {failure}[/red] (logs in {root / f'run-{n}'})")
    table = Table("step", "runs passed", "median s")
    for step, count in passed.items():
        table.add_row(step, f"{count}/{args.runs}", f"{statistics.median(seconds[step]):.2f}")
    console.print(table)
    console.print(
        f"{args.runs - len(failures)}/{args.runs} runs passed every step and left nothing behind "
        f"({args.workers} workers, serve {'with' if args.serve_threads else 'without'} threads); "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
