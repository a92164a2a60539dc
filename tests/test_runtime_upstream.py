"""Runs served by an upstream LLM: a real Chat Completions server in the test (tests/fake_llm.py)
plays the model from a script, and the official SDK drives the server.

Covered: model-name mapping, function calls and tool outputs (one and parallel), file_search
called by the model (with a malformed argument first), retries of transient upstream errors,
a long stream relayed delta by delta, token limits, truncation, cancelling, expiry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import openai
import pytest
from openai import AssistantEventHandler

from tests.conftest import DOCS, Server, start_server, wait_for_store
from tests.fake_llm import FakeLLM, Reply, cite_first_source

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning"),
    pytest.mark.usefixtures("script"),
]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# OpenAI's documented order (schemas.md §4), with consecutive deltas counted once.
ANSWER_EVENTS = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
]


@pytest.fixture(scope="module")
def server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[Server]:
    yield from start_server(
        tmp_path_factory.mktemp("data"),
        upstream_base_url=llm.base_url,
        upstream_api_key="sk-upstream",
        upstream_backoff_s=0.01,
        model_map={"gpt-4o": "fake-model", "local": "extractive"},
    )


@pytest.fixture(scope="module")
def book(client):  # type: ignore[no-untyped-def]
    """A store holding one small real document."""
    f = client.files.create(
        file=("war-and-peace.txt", (DOCS / "book-war-and-peace-1p.txt").read_bytes()), purpose="assistants"
    )
    store = client.vector_stores.create(name="book", file_ids=[f.id])
    wait_for_store(client, store.id)
    return store, f


@pytest.fixture(scope="module")
def weather_assistant(client):  # type: ignore[no-untyped-def]
    return client.beta.assistants.create(
        model="gpt-4o", instructions="You report the weather.", tools=[WEATHER]
    )


def ask(client, assistant_id: str, question: str, **run):  # type: ignore[no-untyped-def]
    return client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": question}]},
        poll_interval_ms=50,
        **run,
    )


def text_of(client, run) -> str:  # type: ignore[no-untyped-def]
    messages = client.beta.threads.messages.list(run.thread_id, run_id=run.id)
    return messages.data[0].content[0].text.value


def collapse(events: list[str]) -> list[str]:
    return [e for i, e in enumerate(events) if i == 0 or e != events[i - 1]]


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text = ""

    def on_event(self, event) -> None:  # type: ignore[no-untyped-def]
        self.events.append(event.event)

    def on_text_delta(self, delta, snapshot) -> None:  # type: ignore[no-untyped-def]
        self.text += delta.value or ""


# --- routing --------------------------------------------------------------------------------------


def test_the_model_map_names_the_upstream_model(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(text="Hello from upstream."))
    run = ask(client, weather_assistant.id, "Hi")
    assert run.status == "completed" and run.model == "gpt-4o"
    assert text_of(client, run) == "Hello from upstream."
    request = script.requests[0]
    assert request["model"] == "fake-model" and request["stream"] is True
    assert request["messages"][0] == {"role": "system", "content": "You report the weather."}
    assert request["tools"] == [{"type": "function", "function": WEATHER["function"]}]


def test_a_model_mapped_to_extractive_never_calls_the_upstream(client, script) -> None:  # type: ignore[no-untyped-def]
    assistant = client.beta.assistants.create(model="local")
    run = ask(client, assistant.id, "Anything?")
    assert run.status == "completed"
    assert "file_search" in text_of(client, run)
    assert script.requests == []


# --- function calling -----------------------------------------------------------------------------


def test_a_function_call_waits_for_its_output_then_the_model_answers_with_it(
    client, weather_assistant, script
) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]), Reply(text="It is sunny in Paris."))
    run = ask(client, weather_assistant.id, "What is the weather in Paris?")
    assert run.status == "requires_action"
    assert run.usage is None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny, 24C"}],
        poll_interval_ms=50,
    )
    assert run.status == "completed"
    assert text_of(client, run) == "It is sunny in Paris."
    sent = script.requests[1]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.id
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == "sunny, 24C"
    assert run.usage.total_tokens == sum(s.usage.total_tokens for s in steps) > 0


def test_parallel_tool_calls_are_answered_together(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(
        Reply(tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Rome"}')]),
        Reply(text="Sunny in both."),
    )
    run = ask(client, weather_assistant.id, "Weather in Paris and Rome?")
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Rome"]

    with pytest.raises(openai.BadRequestError, match="missing"):
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=run.thread_id,
            tool_outputs=[{"tool_call_id": calls[0].id, "output": "sunny"}],
        )
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": c.id, "output": "sunny"} for c in calls],
        poll_interval_ms=50,
    )
    assert run.status == "completed"
    sent = script.requests[1]["messages"]
    assert [c["id"] for c in sent[-3]["tool_calls"]] == [c.id for c in calls]
    assert [m["tool_call_id"] for m in sent[-2:]] == [c.id for c in calls]


def test_a_forced_tool_choice_reaches_the_model(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
    run = ask(
        client,
        weather_assistant.id,
        "Oslo?",
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert run.status == "requires_action"
    assert script.requests[0]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    run = client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    assert run.status == "cancelled"


def test_a_run_waiting_for_tool_outputs_expires(client, server, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    from retrievd.store.db import set_clock

    script.push(Reply(tool_calls=[("get_weather", '{"city": "Lima"}')]))
    run = ask(client, weather_assistant.id, "Lima?")
    assert run.status == "requires_action" and run.expires_at is not None
    set_clock(lambda: time.time() + server.core.settings.run_expires_after_s + 1)
    try:
        run = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    finally:
        set_clock(None)
    assert run.status == "expired" and run.required_action is None
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=run.thread_id,
            tool_outputs=[{"tool_call_id": "call_x", "output": "late"}],
        )


# --- file_search through the model ---------------------------------------------------------------


def test_a_malformed_tool_argument_goes_back_to_the_model_which_recovers(client, book, script) -> None:  # type: ignore[no-untyped-def]
    store, f = book
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    script.push(
        Reply(tool_calls=[("file_search", '{"queries": "Anna')]),
        Reply(tool_calls=[("file_search", '{"queries": ["Anna Pavlovna reception"]}')]),
        Reply(text=cite_first_source("Anna Pavlovna Scherer held the reception")),
    )
    run = ask(client, assistant.id, "Who held the reception?")
    assert run.status == "completed", run.last_error

    error = json.loads(script.requests[1]["messages"][-1]["content"])
    assert "not valid JSON" in error["error"]
    assert "file_search" in script.requests[0]["messages"][0]["content"]  # the citation guide

    message = client.beta.threads.messages.list(run.thread_id).data[0]
    text = message.content[0].text
    (citation,) = text.annotations
    assert citation.file_citation.file_id == f.id
    assert text.value[citation.start_index : citation.end_index] == citation.text
    assert citation.text.startswith("【1:0†")

    steps = client.beta.threads.runs.steps.list(
        run.id,
        thread_id=run.thread_id,
        order="asc",
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    ).data
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].file_search.results == []
    results = steps[1].step_details.tool_calls[0].file_search.results
    assert results[0].file_id == f.id and results[0].file_name == "war-and-peace.txt"
    assert "Anna Pavlovna" in results[0].content[0].text


# --- upstream failures ----------------------------------------------------------------------------


def test_a_transient_upstream_error_is_retried(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(status=500), Reply(text="Recovered."))
    run = ask(client, weather_assistant.id, "Hello?")
    assert run.status == "completed"
    assert text_of(client, run) == "Recovered."
    assert len(script.requests) == 2


def test_an_upstream_that_keeps_refusing_fails_the_run_with_last_error(
    client, server, weather_assistant, script
) -> None:  # type: ignore[no-untyped-def]
    attempts = server.core.settings.upstream_retries + 1
    script.push(*[Reply(status=429)] * attempts)
    run = ask(client, weather_assistant.id, "Hello?")
    assert run.status == "failed"
    assert run.last_error.code == "rate_limit_exceeded"
    assert "429" in run.last_error.message
    assert len(script.requests) == attempts


# --- streaming ------------------------------------------------------------------------------------


def test_a_long_stream_is_relayed_delta_by_delta_in_openai_order(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    long_text = " ".join(f"word{i}" for i in range(400))
    script.push(Reply(text=long_text, chunk_chars=10))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Talk a lot."}])
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=weather_assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "completed"
    assert recorder.text == long_text
    assert recorder.events.count("thread.message.delta") >= len(long_text) // 10
    assert collapse(recorder.events) == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        *ANSWER_EVENTS,
    ]


def test_streamed_tool_outputs_continue_the_run_in_openai_order(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(tool_calls=[("get_weather", '{"city": "Bergen"}')]), Reply(text="Rainy."))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Bergen?"}])
    first = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=weather_assistant.id, event_handler=first
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert collapse(first.events) == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "rain"}],
        event_handler=second,
    ) as stream:
        stream.until_done()
    assert collapse(second.events) == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
        *ANSWER_EVENTS,
    ]
    assert second.text == "Rainy."


# --- limits, truncation, cancelling ---------------------------------------------------------------


def test_reaching_max_completion_tokens_ends_the_run_incomplete(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(text="A partial ans", finish_reason="length"))
    run = ask(client, weather_assistant.id, "Explain everything.", max_completion_tokens=256)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert script.requests[0]["max_tokens"] == 256
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value == "A partial ans"


def test_truncation_keeps_the_newest_messages(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    history = [{"role": "user", "content": f"message {i}: " + "padding " * 150} for i in range(6)]
    thread = client.beta.threads.create(messages=history)
    script.push(Reply(text="ok"), Reply(text="ok"))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=weather_assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
        poll_interval_ms=50,
    )
    assert run.status == "completed"
    seen = [m["content"][:10] for m in script.requests[0]["messages"] if m["role"] == "user"]
    assert seen == ["message 4:", "message 5:"]

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=weather_assistant.id, max_prompt_tokens=700, poll_interval_ms=50
    )
    assert run.status == "completed"
    kept = [m["content"] for m in script.requests[1]["messages"] if m["role"] != "system"]
    assert 1 <= len(kept) < 7 and kept[-1] == "ok"  # oldest dropped first; the newest kept


def test_cancelling_a_run_mid_stream_ends_it_and_its_message(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(text="slow " * 2000, chunk_chars=5, delay_s=0.005))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go slowly."}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=weather_assistant.id)
    deadline = time.time() + 30
    while not client.beta.threads.messages.list(thread.id, run_id=run.id).data and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(openai.BadRequestError, match="active"):
        client.beta.threads.messages.create(thread.id, role="user", content="Are you there?")
    assert client.beta.threads.runs.cancel(run.id, thread_id=thread.id).status == "cancelling"
    run = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=50)
    assert run.status == "cancelled" and run.cancelled_at is not None
    message = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.status for s in steps] == ["cancelled"]


# --- Responses with an upstream model -------------------------------------------------------------


def test_a_response_function_call_is_answered_in_the_next_response(client, script) -> None:  # type: ignore[no-untyped-def]
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    script.push(Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]), Reply(text="Sunny in Paris."))
    first = client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=[tool])
    assert first.status == "completed"
    (call,) = first.output
    assert (
        call.type == "function_call"
        and call.name == "get_weather"
        and json.loads(call.arguments) == {"city": "Paris"}
    )

    with pytest.raises(openai.BadRequestError, match="No tool output"):
        client.responses.create(model="gpt-4o", previous_response_id=first.id, input="Well?", tools=[tool])
    second = client.responses.create(
        model="gpt-4o",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[tool],
    )
    assert second.output_text == "Sunny in Paris."
    sent = script.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == call.call_id and sent[2]["content"] == "sunny"


def test_run_options_override_the_assistant(client, weather_assistant, script) -> None:  # type: ignore[no-untyped-def]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "First."}])
    script.push(Reply(text="Bonjour."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=weather_assistant.id,
        additional_instructions="Answer in French.",
        additional_messages=[{"role": "user", "content": "Second."}],
        tools=[],
        temperature=0.2,
        poll_interval_ms=50,
    )
    assert run.status == "completed" and run.tools == [] and run.temperature == 0.2
    sent = script.requests[0]
    assert sent["messages"][0] == {
        "role": "system",
        "content": "You report the weather.\n\nAnswer in French.",
    }
    assert [m["content"] for m in sent["messages"][1:]] == ["First.", "Second."]
    assert "tools" not in sent and sent["temperature"] == 0.2


def test_a_background_response_can_be_cancelled(client, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(text="slow " * 2000, chunk_chars=5, delay_s=0.005))
    response = client.responses.create(model="gpt-4o", input="Go slowly.", background=True)
    deadline = time.time() + 30
    while not script.requests and time.time() < deadline:
        time.sleep(0.05)
    assert client.responses.cancel(response.id).status == "cancelled"
    time.sleep(0.5)  # the loop notices between deltas and stops; the status stays cancelled
    assert client.responses.retrieve(response.id).status == "cancelled"


def test_max_output_tokens_ends_a_response_incomplete(client, script) -> None:  # type: ignore[no-untyped-def]
    script.push(Reply(text="A partial ans", finish_reason="length"))
    response = client.responses.create(model="gpt-4o", input="Explain everything.", max_output_tokens=64)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert script.requests[0]["max_tokens"] == 64
    assert response.output[0].status == "incomplete" and response.output_text == "A partial ans"
