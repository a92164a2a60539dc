"""Runs execute in `retrievd worker` processes: an API started with `--no-workers` leaves them queued,
streams the runs it is asked to stream itself, and a worker (which reads the embedded index through
its owner, the API) takes the others, file_search included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import openai
import pytest
from sqlalchemy import create_engine, select

from retrievd.config import Settings
from retrievd.core import Core
from retrievd.runtime.executor import RESPONSE_JOB, RUN_JOB
from retrievd.store.models import Job
from retrievd.store.runtime_models import Run
from tests.conftest import ADMIN_KEY, DOCS, free_port
from tests.fake_llm import FakeLLM, Reply, cite_first_source
from tests.test_scale_out import _start

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")


def _claimed_by(database_url: str, run_id: str) -> str | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                select(Job.claimed_by).join(Run, Run.job_id == Job.id).where(Run.id == run_id)
            ).scalar_one()
    finally:
        engine.dispose()


def test_a_worker_process_executes_the_runs_of_an_api_without_workers(
    assets_ready: None, tmp_path: Path
) -> None:
    database_url = os.environ.get("RETRIEVD_DATABASE_URL") or f"sqlite:///{tmp_path / 'retrievd.db'}"
    llm = FakeLLM()
    common = {
        "RETRIEVD_DATABASE_URL": database_url,
        "RETRIEVD_API_KEY": ADMIN_KEY,
        "RETRIEVD_BLOBS_DIR": str(tmp_path / "blobs"),
        "RETRIEVD_UPSTREAM_BASE_URL": llm.base_url,
    }
    port = free_port()
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["api"] = _start(
            ["serve", "--no-workers", "--port", str(port)],
            {**common, "RETRIEVD_DATA_DIR": str(tmp_path / "api")},
            tmp_path / "api.log",
            port,
        )
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=ADMIN_KEY, max_retries=0, timeout=120
        )
        book = client.files.create(
            file=("war-and-peace.txt", (DOCS / "book-war-and-peace-1p.txt").read_bytes()),
            purpose="assistants",
        )
        store = client.vector_stores.create(name="book", file_ids=[book.id])
        searcher = client.beta.assistants.create(
            model="gpt-4o",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        llm.push(
            Reply(text="Streamed by the API."),
            Reply(tool_calls=[("file_search", '{"queries": ["Anna Pavlovna reception"]}')]),
            Reply(text=cite_first_source("Anna Pavlovna Scherer held the reception")),
        )
        polled = client.beta.threads.create_and_run(
            assistant_id=searcher.id,
            thread={"messages": [{"role": "user", "content": "Who held the reception?"}]},
        )

        plain = client.beta.assistants.create(model="gpt-4o")
        with client.beta.threads.create_and_run_stream(
            assistant_id=plain.id, thread={"messages": [{"role": "user", "content": "Hello?"}]}
        ) as stream:
            stream.until_done()
            streamed = stream.current_run
        assert streamed is not None and streamed.status == "completed", streamed
        assert f":{procs['api'].pid}:stream" in (_claimed_by(database_url, streamed.id) or "")
        time.sleep(1.5)  # longer than a runtime pool's poll
        assert client.beta.threads.runs.retrieve(polled.id, thread_id=polled.thread_id).status == "queued"

        procs["worker"] = _start(
            ["worker"],
            {
                **common,
                "RETRIEVD_DATA_DIR": str(tmp_path / "worker"),
                "RETRIEVD_INDEX_OWNER_URL": f"http://127.0.0.1:{port}",
            },
            tmp_path / "worker.log",
        )
        final = client.beta.threads.runs.poll(polled.id, thread_id=polled.thread_id, poll_interval_ms=100)
        assert final.status == "completed", final.last_error
        assert f":{procs['worker'].pid}:" in (_claimed_by(database_url, polled.id) or "")
        text = client.beta.threads.messages.list(polled.thread_id).data[0].content[0].text
        assert text.value.startswith("Anna Pavlovna Scherer held the reception 【")
        assert text.annotations[0].file_citation.file_id == book.id  # the worker searched through the owner
        assert not llm.replies
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        llm.close()


def test_a_worker_takes_runs_only_where_it_can_search(tmp_path: Path) -> None:
    """With the embedded index, a worker searches through the owner: without its URL, file_search
    would fail every run, so the worker leaves runs to the processes that can search."""

    def kinds(**settings: str) -> set[str]:
        core = Core(Settings(data_dir=tmp_path, **settings), worker=True)  # type: ignore[arg-type]
        core.start_workers()
        try:
            return {kind for pool in core.workers for kind in pool.handlers}
        finally:
            core.close()

    alone = kinds()
    assert "ingest_file" in alone and RUN_JOB not in alone
    assert {RUN_JOB, RESPONSE_JOB} <= kinds(index_owner_url="http://127.0.0.1:1")
