"""Latency of streamed runs answered by the built-in extractive model, over HTTP.

    .venv/bin/python bench/runtime.py [--runs 40] [--docs norwich-city.txt,...]

A real server (in this process, on loopback) indexes a few real documents, then answers questions
about them: each run is a streamed create thread-and-run (`POST /v1/threads/runs`, stream: true)
and each response a streamed `POST /v1/responses` with file_search. Reported, p50 and p95:
time to the first event (the run or response is created), to the first text delta (the first
words of the answer, after the search), and to the end of the stream.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from retrievd.api.app import create_app
from retrievd.config import Settings
from retrievd.core import Core
from retrievd.services.projects import ProjectService

DOCS = Path(__file__).resolve().parents[2] / "shared" / "docs"
KEY = "sk-bench-admin"
QUESTIONS = [
    "When was Iwan Roberts born?",
    "Which clubs did Iwan Roberts play for?",
    "How many caps did Roberts win for Wales?",
    "Who was the maid of honor and favorite of the Empress Marya Fedorovna?",
    "Who was the first to arrive at Anna Pavlovna's reception?",
    "How much do Juicy Apples cost?",
    "How many bananas are in stock?",
    "What are the important points of the test email?",
]


def serve(data_dir: Path) -> tuple[str, uvicorn.Server, threading.Thread]:
    core = Core(Settings(data_dir=data_dir, api_key=KEY))
    ProjectService(core.db).bootstrap(KEY)
    server = uvicorn.Server(uvicorn.Config(create_app(core), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}/v1", server, thread


def index_docs(http: httpx.Client, names: list[str]) -> str:
    ids = [
        http.post(
            "/files", files={"file": (n, (DOCS / n).read_bytes())}, data={"purpose": "assistants"}
        ).json()["id"]
        for n in names
    ]
    store = http.post("/vector_stores", json={"name": "bench", "file_ids": ids}).json()
    while http.get(f"/vector_stores/{store['id']}").json()["file_counts"]["in_progress"]:
        time.sleep(0.2)
    return store["id"]


def timed_stream(http: httpx.Client, path: str, body: dict, text_event: str) -> tuple[float, float, float]:
    """Seconds to the first event, to the first text delta, and to the end of the stream."""
    start = time.perf_counter()
    first = first_text = 0.0
    with http.stream("POST", path, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("event: "):
                continue
            now = time.perf_counter() - start
            first = first or now
            if line == f"event: {text_event}":
                first_text = first_text or now
    return first, first_text, time.perf_counter() - start


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--docs", default="norwich-city.txt,book-war-and-peace-1p.txt,simple-table.md,fake-email.eml"
    )
    args = parser.parse_args()
    console = Console(width=110)
    with tempfile.TemporaryDirectory() as tmp:
        base_url, server, thread = serve(Path(tmp))
        headers = {"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "assistants=v2"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as http:
            t = time.perf_counter()
            store_id = index_docs(http, args.docs.split(","))
            console.print(f"indexed {args.docs} in {time.perf_counter() - t:.1f}s")
            assistant = http.post(
                "/assistants",
                json={
                    "model": "gpt-4o",
                    "tools": [{"type": "file_search"}],
                    "tool_resources": {"file_search": {"vector_store_ids": [store_id]}},
                },
            ).json()
            kinds = {
                "assistants run (stream)": lambda q: timed_stream(
                    http,
                    "/threads/runs",
                    {
                        "assistant_id": assistant["id"],
                        "stream": True,
                        "thread": {"messages": [{"role": "user", "content": q}]},
                    },
                    "thread.message.delta",
                ),
                "response (stream)": lambda q: timed_stream(
                    http,
                    "/responses",
                    {
                        "model": "gpt-4o",
                        "input": q,
                        "stream": True,
                        "tools": [{"type": "file_search", "vector_store_ids": [store_id]}],
                    },
                    "response.output_text.delta",
                ),
            }
            table = Table(title=f"Streamed extractive answers, {args.runs} per kind (seconds)")
            for column in ("kind", "first event p50", "p95", "first text p50", "p95", "complete p50", "p95"):
                table.add_column(column, justify="right" if column != "kind" else "left")
            for name, run in kinds.items():
                run(QUESTIONS[0])  # warm-up: loads the embedding model and tiktoken
                samples = [run(QUESTIONS[i % len(QUESTIONS)]) for i in range(args.runs)]
                cells = [f"{v:.3f}" for column in zip(*samples) for v in percentiles(list(column))]
                table.add_row(name, *cells)
            console.print(table)
        server.should_exit = True
        thread.join(60)  # the core closes before its data dir goes


if __name__ == "__main__":
    main()
