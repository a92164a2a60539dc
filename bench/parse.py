"""Parse time per document, the cost of isolating each parse, and the gain over stock unstructured.

    .venv/bin/python bench/parse.py [--docs DIR] [--only NAME ...]   # every document: a table
    .venv/bin/python bench/parse.py --overhead                      # per-file cost of the process designs
    .venv/bin/python bench/parse.py --stock [--only NAME ...]       # ours vs partition_pdf/partition_docx

--stock needs unstructured's PDF stack, which retrievd does not install (it pulls in torch, ~2 GB):
`.venv/bin/pip install 'unstructured[pdf]==0.27.35'` first; without it the PDFs are skipped.

"wall" is `parse_file` end to end (a child forked from the warm forkserver); "cpu" is the same
parse run in this process (`time.process_time`), which other load on the machine disturbs less.
tokens are cl100k tokens of the elements' text: the embedder takes ~3.7k tokens/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from retrievd.assets import tiktoken_encoding
from retrievd.ingest import parse
from retrievd.ingest.types import FileRejected

DOCS = Path(__file__).resolve().parents[2] / "shared" / "docs"
SMALL = [
    "fake.docx",
    "fake-email.eml",
    "simple-table.md",
    "book-war-and-peace-1p.txt",
    "fake-power-point.pptx",
]


def in_process(path: Path, filename: str) -> list:
    from retrievd.ingest import _parse_worker

    return [e for batch in _parse_worker._parse(str(path), filename, 1 << 20) for e in batch]


def documents(args: argparse.Namespace, console: Console) -> None:
    encoding = tiktoken_encoding("cl100k_base")
    table = Table(
        "file", "outcome", "elements", "pages", "tokens", "wall s", "cpu s", "pages/s", "tokens/s (cpu)"
    )
    parse.parse_file(DOCS / "fake.docx", "fake.docx")  # start the forkserver outside the timings
    in_process(DOCS / "fake.docx", "fake.docx")  # and load unstructured here
    for path in sorted(args.docs.iterdir()):
        if args.only and path.name not in args.only:
            continue
        started = time.perf_counter()
        try:
            elements = parse.parse_file(path, path.name)
        except FileRejected as rejected:
            wall = time.perf_counter() - started
            table.add_row(
                path.name, f"{rejected.code}: {rejected.message[:40]}", "", "", "", f"{wall:.2f}", "", "", ""
            )
            continue
        wall = time.perf_counter() - started
        cpu_started = time.process_time()
        in_process(path, path.name)
        cpu = time.process_time() - cpu_started
        pages = max((e.page or 0 for e in elements), default=0)
        tokens = sum(len(encoding.encode_ordinary(e.text)) for e in elements)
        table.add_row(
            path.name, "ok", str(len(elements)), str(pages or ""), str(tokens), f"{wall:.2f}", f"{cpu:.2f}",
            f"{pages / wall:.1f}" if pages else "", f"{tokens / cpu:,.0f}",
        )  # fmt: skip
    console.print(table)


def _ms(run: Callable[[], object], times: int) -> str:
    """Median and minimum of `times` runs: on a busy machine the minimum is the cost itself."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return f"{statistics.median(samples) * 1000:.0f} / {min(samples) * 1000:.0f}"


def _new_child_each_time(path: Path, name: str) -> None:
    """parse_file as if no warm worker could be reused (the cost of one fork and exit per file)."""
    parse.parse_file(path, name)
    with parse._Worker._lock:
        for worker in parse._Worker._idle:
            worker.stop()
        parse._Worker._idle.clear()


def overhead(console: Console) -> None:
    """Per small file: in this process (the floor: no isolation), parse_file with its warm worker,
    parse_file forking a new child for every file, and a fresh interpreter per file (no preload)."""
    table = Table(
        "file (median / min ms)", "in-process", "warm worker", "new child per file", "fresh interpreter"
    )
    parse.parse_file(DOCS / "fake.docx", "fake.docx")
    in_process(DOCS / "fake.docx", "fake.docx")
    program = "import sys; from pathlib import Path; from retrievd.ingest.parse import parse_file; parse_file(Path(sys.argv[1]), sys.argv[2])"
    for name in SMALL:
        path = DOCS / name
        runs = {
            "in-process": lambda path=path, name=name: in_process(path, name),
            "warm": lambda path=path, name=name: parse.parse_file(path, name),
            "new child": lambda path=path, name=name: _new_child_each_time(path, name),
        }
        fresh = [sys.executable, "-c", program, str(path), name]
        table.add_row(
            name,
            *(_ms(run, 10) for run in runs.values()),
            _ms(lambda fresh=fresh: subprocess.run(fresh, check=True), 1),
        )
    console.print(table)
    console.print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _stock(path: str) -> None:
    """Run in a fresh interpreter: unstructured as shipped, for comparison (prints JSON)."""
    from unstructured.nlp.tokenize import _get_nlp
    from unstructured.partition.docx import partition_docx
    from unstructured.partition.pdf import partition_pdf

    _get_nlp()
    started, cpu = time.perf_counter(), time.process_time()
    if path.endswith(".pdf"):
        elements = partition_pdf(path, strategy="fast", languages=["eng"])
    else:
        elements = partition_docx(path, languages=["eng"])
    result = {
        "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "elements": len(elements),
    }
    print(json.dumps(result | {"chars": sum(len(e.text) for e in elements)}))


def _has_stock_pdf() -> bool:
    import importlib.util

    return all(
        importlib.util.find_spec(m) for m in ("pdfminer", "pi_heif", "pypdf", "unstructured_inference")
    )


def stock(args: argparse.Namespace, console: Console) -> None:
    names = args.only or ["DA-619p.pdf", "handbook-872p.docx", "failure-after-repair.pdf", "reliance.pdf"]
    if not _has_stock_pdf():
        console.print(
            "unstructured[pdf] is not installed (retrievd does not need it): skipping the PDFs; "
            "`.venv/bin/pip install 'unstructured[pdf]==0.27.35'` to compare them too."
        )
        names = [name for name in names if not name.endswith(".pdf")]
    table = Table("file", "stock cpu s", "stock elements", "ours cpu s", "ours elements", "speed-up")
    for name in names:
        done = subprocess.run(
            [sys.executable, __file__, "--_stock", str(args.docs / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        base = json.loads(done.stdout.strip().splitlines()[-1])
        cpu_started = time.process_time()
        ours = in_process(args.docs / name, name)
        cpu = time.process_time() - cpu_started
        table.add_row(
            name,
            f"{base['cpu']:.1f}",
            str(base["elements"]),
            f"{cpu:.1f}",
            str(len(ours)),
            f"{base['cpu'] / cpu:.1f}x",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--only", nargs="*", help="file names to run (default: all)")
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--stock", action="store_true")
    parser.add_argument("--_stock", dest="stock_path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    console = Console(width=200)
    if args.stock_path:
        _stock(args.stock_path)
    elif args.overhead:
        overhead(console)
    elif args.stock:
        stock(args, console)
    else:
        documents(args, console)


if __name__ == "__main__":
    main()
