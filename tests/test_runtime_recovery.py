"""Runs are durable: SIGKILL the server while runs stream from the model; after a restart each
run is taken up again and completes, with one answer and no half-written message left over."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import openai
import pytest

from tests.conftest import ADMIN_KEY, free_port, serve_process
from tests.fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")


def _stream_quietly(client: openai.OpenAI, thread_id: str, assistant_id: str) -> None:
    # The server is killed under it: how the client notices is its own business.
    with (
        contextlib.suppress(Exception),
        client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream,
    ):
        stream.until_done()


def test_runs_interrupted_by_a_kill_complete_after_restart(assets_ready: None, tmp_path: Path) -> None:
    llm = FakeLLM()
    slow = Reply(text="never finished " * 400, chunk_chars=5, delay_s=0.01)
    llm.push(slow, slow, Reply(text="Answer after restart."), Reply(text="Answer after restart."))
    port = free_port()
    proc = serve_process(tmp_path, port, RETRIEVD_UPSTREAM_BASE_URL=llm.base_url)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ADMIN_KEY, max_retries=0)
        assistant = client.beta.assistants.create(model="gpt-4o")
        polled = client.beta.threads.create(messages=[{"role": "user", "content": "Polled question"}])
        streamed = client.beta.threads.create(messages=[{"role": "user", "content": "Streamed question"}])
        run = client.beta.threads.runs.create(thread_id=polled.id, assistant_id=assistant.id)
        threading.Thread(
            target=_stream_quietly, args=(client, streamed.id, assistant.id), daemon=True
        ).start()

        deadline = time.time() + 60
        while time.time() < deadline and not all(
            client.beta.threads.messages.list(t.id).data[0].role == "assistant" for t in (polled, streamed)
        ):
            time.sleep(0.05)
        assert len(llm.requests) == 2, "both runs should be streaming from the model at the kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        proc = serve_process(tmp_path, port, RETRIEVD_UPSTREAM_BASE_URL=llm.base_url)
        (streamed_run,) = client.beta.threads.runs.list(streamed.id).data
        for thread, run_id in ((polled, run.id), (streamed, streamed_run.id)):
            final = client.beta.threads.runs.poll(run_id, thread_id=thread.id, poll_interval_ms=100)
            assert final.status == "completed", final.last_error
            messages = client.beta.threads.messages.list(thread.id, order="asc").data
            assert [m.role for m in messages] == ["user", "assistant"]
            assert messages[1].content[0].text.value == "Answer after restart."
            steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread.id).data
            assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
        assert len(llm.requests) == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        llm.close()
