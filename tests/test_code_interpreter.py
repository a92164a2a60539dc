"""code_interpreter through the official SDK: the scripted upstream (tests/fake_llm.py) writes real
Python, the server runs it in a real sandbox with the assistant's CSV, and what it makes comes
back as files: the chart as an image output and image_file content, the saved PNG as a file_path
annotation, both downloadable through files.content. A sandbox that is killed gives the model an
error output, and the server goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import openai
import pytest
from openai import AssistantEventHandler

from tests.conftest import Server, start_server
from tests.fake_llm import FakeLLM, Reply

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning"),
    pytest.mark.usefixtures("script"),
]

CSV = b"month,amount\njan,10\nfeb,20\nmar,60\n"
CHART_CODE = (
    "import pandas as pd, matplotlib.pyplot as plt\n"
    "df = pd.read_csv('/mnt/data/sales.csv')\n"
    "print(df['amount'].mean())\n"
    "df.plot(x='month', y='amount')\n"
    "plt.savefig('/mnt/data/chart.png')\n"
)
ANSWER = "The mean is 30.0; the chart is at sandbox:/mnt/data/chart.png."


@pytest.fixture(scope="module")
def server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[Server]:
    yield from start_server(
        tmp_path_factory.mktemp("data"),
        upstream_base_url=llm.base_url,
        upstream_api_key="sk-upstream",
        model_map={"gpt-4o": "fake-model"},
        code_interpreter_timeout_s=5.0,
    )


@pytest.fixture(scope="module")
def analyst(client):  # type: ignore[no-untyped-def]
    sales = client.files.create(file=("sales.csv", CSV), purpose="assistants")
    return client.beta.assistants.create(
        model="gpt-4o",
        instructions="You analyse spreadsheets.",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [sales.id]}},
    )


def code_call(code: str) -> Reply:
    return Reply(tool_calls=[("code_interpreter", json.dumps({"code": code}))])


def run_on_thread(client, assistant_id: str, question: str):  # type: ignore[no-untyped-def]
    return client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": question}]},
        poll_interval_ms=50,
    )


def test_an_assistant_computes_a_mean_and_draws_a_chart_from_its_csv(client, analyst, script) -> None:  # type: ignore[no-untyped-def]
    script.push(code_call(CHART_CODE), Reply(text=ANSWER))
    run = run_on_thread(client, analyst.id, "Mean amount, and a chart?")
    assert run.status == "completed", run.last_error

    offered = [t["function"]["name"] for t in script.requests[0]["tools"]]
    assert offered == ["code_interpreter"]
    told = json.loads(script.requests[1]["messages"][-1]["content"])
    assert told["logs"] == "30.0\n" and told["files"] == ["sandbox:/mnt/data/chart.png"]

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    (call,) = steps[0].step_details.tool_calls
    assert call.type == "code_interpreter" and call.code_interpreter.input == CHART_CODE
    logs, image = call.code_interpreter.outputs
    assert (logs.type, logs.logs) == ("logs", "30.0\n")
    assert image.type == "image"
    assert client.files.content(image.image.file_id).content.startswith(b"\x89PNG")

    (message,) = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data
    shown, text = message.content
    assert shown.type == "image_file" and shown.image_file.file_id == image.image.file_id
    assert text.text.value == ANSWER
    (annotation,) = text.text.annotations
    assert annotation.type == "file_path" and annotation.text == "sandbox:/mnt/data/chart.png"
    assert ANSWER[annotation.start_index : annotation.end_index] == annotation.text
    chart = client.files.retrieve(annotation.file_path.file_id)
    assert (chart.filename, chart.purpose) == ("chart.png", "assistants_output")
    assert client.files.content(chart.id).content.startswith(b"\x89PNG")


def test_a_message_attachment_reaches_the_sandbox_and_state_is_kept_in_the_thread(client, script) -> None:  # type: ignore[no-untyped-def]
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])
    notes = client.files.create(file=("notes.txt", b"three words here"), purpose="assistants")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Count the words.",
                "attachments": [{"file_id": notes.id, "tools": [{"type": "code_interpreter"}]}],
            }
        ]
    )
    script.push(code_call("n = len(open('notes.txt').read().split())\nn"), Reply(text="3 words."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed"
    client.beta.threads.messages.create(thread.id, role="user", content="Doubled?")
    script.push(code_call("n * 2"), Reply(text="6."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs == "6\n"


class StepRecorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list = []

    def on_tool_call_delta(self, delta, snapshot) -> None:  # type: ignore[no-untyped-def]
        self.deltas.append(delta)


def test_streaming_sends_the_code_and_its_outputs_as_step_deltas(client, analyst, script) -> None:  # type: ignore[no-untyped-def]
    script.push(code_call("print(2 + 2)"), Reply(text="4."))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "2 + 2?"}])
    recorder = StepRecorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=analyst.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        assert stream.get_final_run().status == "completed"
    assert all(d.type == "code_interpreter" for d in recorder.deltas)
    inputs = "".join(d.code_interpreter.input or "" for d in recorder.deltas)
    outputs = [o for d in recorder.deltas for o in d.code_interpreter.outputs or ()]
    assert inputs == "print(2 + 2)"
    assert [(o.type, o.logs) for o in outputs] == [("logs", "4\n")]


def test_an_infinite_loop_is_killed_and_the_model_reads_why(client, analyst, script) -> None:  # type: ignore[no-untyped-def]
    script.push(code_call("while True:\n    pass"), Reply(text="That took too long."))
    run = run_on_thread(client, analyst.id, "Loop forever.")
    assert run.status == "completed"
    told = json.loads(script.requests[1]["messages"][-1]["content"])
    assert "error" in told and "timed out" in told["logs"]
    script.push(code_call("print('alive')"), Reply(text="ok"))
    run = run_on_thread(client, analyst.id, "Still there?")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs == "alive\n"


def test_tool_resources_must_name_existing_files_and_the_function_name_is_reserved(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.create(
            model="gpt-4o",
            tools=[{"type": "code_interpreter"}],
            tool_resources={"code_interpreter": {"file_ids": ["file-nope"]}},
        )
    function = {
        "type": "function",
        "function": {"name": "code_interpreter", "parameters": {"type": "object"}},
    }
    with pytest.raises(openai.BadRequestError) as e:
        client.beta.assistants.create(model="gpt-4o", tools=[function])
    assert "reserved" in e.value.message


# --- Responses and the Containers API -------------------------------------------------------------


def test_a_response_computes_the_mean_and_draws_the_chart_in_an_auto_container(client, script) -> None:  # type: ignore[no-untyped-def]
    sales = client.files.create(file=("sales.csv", CSV), purpose="user_data")
    script.push(code_call(CHART_CODE), Reply(text=ANSWER))
    response = client.responses.create(
        model="gpt-4o",
        input="Mean amount, and a chart?",
        tools=[{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [sales.id]}}],
        include=["code_interpreter_call.outputs"],
    )
    assert response.status == "completed", response.error
    call, message = response.output
    assert call.type == "code_interpreter_call" and call.status == "completed"
    assert call.code == CHART_CODE
    logs, image = call.outputs
    assert (logs.type, logs.logs) == ("logs", "30.0\n")
    assert image.type == "image" and image.url.startswith("data:image/png;base64,")
    assert response.output_text == ANSWER
    (citation,) = message.content[0].annotations
    assert citation.type == "container_file_citation" and citation.container_id == call.container_id
    assert (citation.filename, ANSWER[citation.start_index : citation.end_index]) == (
        "chart.png",
        "sandbox:/mnt/data/chart.png",
    )
    chart = client.containers.files.content.retrieve(citation.file_id, container_id=call.container_id)
    assert chart.content.startswith(b"\x89PNG")

    paths = {f.path: f.source for f in client.containers.files.list(call.container_id)}
    assert paths == {"/mnt/data/sales.csv": "user", "/mnt/data/chart.png": "assistant"}


def test_a_streamed_response_sends_the_code_and_the_call_s_progress(client, script) -> None:  # type: ignore[no-untyped-def]
    script.push(code_call("print(6 * 7)"), Reply(text="42."))
    with client.responses.stream(
        model="gpt-4o", input="Six sevens?", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    calls = [e for e in events if "code_interpreter" in e.type]
    assert [e.type for e in calls] == [
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    assert calls[1].delta == calls[2].code == "print(6 * 7)"
    (done,) = [e for e in events if e.type == "response.output_item.done" and e.output_index == 0]
    assert done.item.type == "code_interpreter_call" and done.item.status == "completed"
    assert final.output_text == "42."


def test_the_containers_api_and_a_response_in_an_explicit_container(client, script) -> None:  # type: ignore[no-untyped-def]
    container = client.containers.create(
        name="analysis", expires_after={"anchor": "last_active_at", "minutes": 5}
    )
    assert (container.status, container.expires_after.minutes) == ("running", 5)
    uploaded = client.containers.files.create(container.id, file=("numbers.txt", b"1 2 3 4"))
    assert (uploaded.path, uploaded.bytes, uploaded.source) == ("/mnt/data/numbers.txt", 7, "user")
    assert client.containers.files.retrieve(uploaded.id, container_id=container.id).id == uploaded.id
    assert container.id in [c.id for c in client.containers.list(name="analysis")]

    script.push(code_call("sum(map(int, open('numbers.txt').read().split()))"), Reply(text="10."))
    response = client.responses.create(
        model="gpt-4o",
        input="Sum them.",
        tools=[{"type": "code_interpreter", "container": container.id}],
    )
    assert response.output[0].container_id == container.id
    assert response.output[0].outputs is None  # shown only when included
    included = client.responses.retrieve(response.id, include=["code_interpreter_call.outputs"])
    assert included.output[0].outputs[0].logs == "10\n"

    client.containers.files.delete(uploaded.id, container_id=container.id)
    assert client.containers.files.list(container.id).data == []
    client.containers.delete(container.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.retrieve(container.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(
            model="gpt-4o", input="Hi", tools=[{"type": "code_interpreter", "container": container.id}]
        )


def test_an_idle_container_expires_and_its_sandbox_and_files_are_cleaned(client, server) -> None:  # type: ignore[no-untyped-def]
    from retrievd.services.containers import ContainerService
    from retrievd.store.runtime_models import Container

    container = client.containers.create(name="idle")
    client.containers.files.create(container.id, file=("a.txt", b"a"))
    core = server.core
    with core.db.session() as s:
        project_id = s.get(Container, container.id).project_id
    assert ContainerService(core).run(project_id, container.id, "print(1)").outputs == [
        {"type": "logs", "logs": "1\n"}
    ]
    workdir = core.containers.root / container.id
    assert workdir.is_dir()
    with core.db.session() as s:
        s.get(Container, container.id).last_active_at -= 21 * 60
    assert ContainerService(core).expire_idle() == [container.id]
    assert client.containers.retrieve(container.id).status == "expired"
    assert client.containers.files.list(container.id).data == []
    assert not workdir.exists()


# --- accounting -----------------------------------------------------------------------------------


def test_sessions_are_counted_in_usage_and_billed_in_costs(server, client, script) -> None:  # type: ignore[no-untyped-def]
    import httpx

    container = client.containers.create(name="billed")
    with server.core.db.session() as s:
        from retrievd.store.runtime_models import Container

        project_id = s.get(Container, container.id).project_id
    from retrievd.services.containers import ContainerService

    ContainerService(server.core).run(project_id, container.id, "print(1)")
    ContainerService(server.core).run(project_id, container.id, "print(2)")  # the same session

    def get(path: str, **params: object) -> dict:
        response = httpx.get(
            f"{server.base_url}/organization/{path}",
            params={"start_time": 0, "bucket_width": "1d", "limit": 31, **params},
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    buckets = get(
        "usage/code_interpreter_sessions", start_time=int(time.time()) - 86400, group_by="project_id"
    )
    (mine,) = [r for b in buckets["data"] for r in b["results"] if r["project_id"] == project_id]
    assert mine["object"] == "organization.usage.code_interpreter_sessions.result"
    sessions = mine["num_sessions"]
    assert sessions >= 3  # this test's container, and the earlier tests' threads and containers
    costs = get("costs", start_time=int(time.time()) - 86400, group_by="line_item")
    items = {r["line_item"]: r for b in costs["data"] for r in b["results"]}
    line = items["code interpreter sessions"]
    assert (line["quantity"], line["quantity_unit"]) == (sessions, "sessions")
    assert line["amount"]["value"] == pytest.approx(0.03 * sessions)


def test_container_files_are_counted_as_stored_bytes_in_usage_and_costs(server, client) -> None:  # type: ignore[no-untyped-def]
    """A container's files enter a ledger as a store's do; here one held since yesterday's UTC midnight
    makes yesterday's bucket exactly its size. Their GB-days are a costs line, priced $0 by default."""
    import httpx
    from sqlalchemy import select

    from retrievd.store.runtime_models import Container
    from retrievd.store.usage_models import ContainerLedgerEntry

    container = client.containers.create(name="held")
    kept = client.containers.files.create(container.id, file=("kept.bin", b"k" * 1000))
    gone = client.containers.files.create(container.id, file=("gone.bin", b"g" * 500))
    client.containers.files.delete(gone.id, container_id=container.id)
    today = int(time.time()) // 86400 * 86400
    with server.core.db.session() as s:
        project_id = s.get(Container, container.id).project_id
        entries = s.execute(
            select(ContainerLedgerEntry)
            .where(ContainerLedgerEntry.container_id == container.id)
            .order_by(ContainerLedgerEntry.id)
        ).scalars()
        assert [(e.delta_bytes, e.bytes_after, e.reason) for e in entries] == [
            (1000, 1000, "file_added"),
            (500, 1500, "file_added"),
            (-500, 1000, "file_deleted"),
        ]
        for e in s.execute(
            select(ContainerLedgerEntry).where(ContainerLedgerEntry.container_id == container.id)
        ).scalars():
            e.at = today - 86400

    def get(path: str, **params: object) -> dict:
        response = httpx.get(
            f"{server.base_url}/organization/{path}",
            params={"start_time": today - 86400, "end_time": today, "bucket_width": "1d", **params},
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    (bucket,) = get("usage/code_interpreter_sessions", group_by="project_id")["data"]
    (mine,) = [r for r in bucket["results"] if r["project_id"] == project_id]
    assert mine["usage_bytes"] == 1000
    (costs,) = get("costs", group_by="line_item")["data"]
    line = {r["line_item"]: r for r in costs["results"]}["container file storage"]
    assert (line["quantity"], line["quantity_unit"], line["amount"]["value"]) == (1e-6, "gigabyte_days", 0.0)

    client.containers.delete(container.id)
    with server.core.db.session() as s:
        last = s.scalars(
            select(ContainerLedgerEntry)
            .where(ContainerLedgerEntry.container_id == container.id)
            .order_by(ContainerLedgerEntry.id.desc())
        ).first()
        assert (last.delta_bytes, last.bytes_after, last.reason) == (-1000, 0, "container_deleted")
    assert kept.bytes == 1000


def test_a_containers_memory_limit_is_its_sandboxs_memory(server, client) -> None:  # type: ignore[no-untyped-def]
    """1 GB cannot hold a 1.5 GB buffer, 4 GB can; a limit past the server's most (4g) gets that most."""
    from retrievd.services.containers import ContainerService
    from retrievd.store.runtime_models import Container

    allocate = "buffer = bytearray(1500 * 1024**2)\nprint(len(buffer))"
    small = client.containers.create(name="small")  # OpenAI's default, 1g
    large = client.containers.create(name="large", memory_limit="4g")
    huge = client.containers.create(name="huge", memory_limit="64g")
    assert (small.memory_limit, large.memory_limit, huge.memory_limit) == ("1g", "4g", "4g")
    with server.core.db.session() as s:
        project_id = s.get(Container, small.id).project_id
    service = ContainerService(server.core)
    assert "MemoryError" in service.run(project_id, small.id, allocate).outputs[0]["logs"]
    assert service.run(project_id, large.id, allocate).outputs == [{"type": "logs", "logs": "1572864000\n"}]
    for c in (small, large, huge):
        client.containers.delete(c.id)
