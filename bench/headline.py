"""The Files + Vector Stores figures, in one run: ingestion of ../shared/docs beside the raw
throughput of the same embedding model (bench/ingest.py), then HTTP search latency over a store
of 100,000 chunks (bench/search_e2e.py).

    .venv/bin/python bench/headline.py [--data-dir D]

Run it on an otherwise idle machine: both halves use every core. --data-dir keeps the search
store (and its embeddings) for the next run.
"""

from __future__ import annotations

import argparse

import ingest
import search_e2e
from rich.console import Console


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", help="where the 100k-chunk search store is built, or found again")
    args = parser.parse_args()
    console = Console()
    console.rule("ingestion: the pipeline beside the raw model")
    ingest.main([])
    console.rule("search: HTTP end to end, 100,000 chunks")
    search_e2e.main(["--data-dir", args.data_dir] if args.data_dir else [])


if __name__ == "__main__":
    main()
