"""Assistants v2 through the official SDK, answered by the built-in extractive model (no upstream
is configured) over real documents from /work/shared/docs."""

from __future__ import annotations

import openai
import pytest
from openai import AssistantEventHandler

from tests.conftest import DOCS, wait_for_store

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
QUESTION = "Who was the maid of honor and favorite of the Empress Marya Fedorovna?"


@pytest.fixture(scope="module")
def docs(client):  # type: ignore[no-untyped-def]
    """Three small real documents in one store; returns (store, {name: file})."""
    names = ["book-war-and-peace-1p.txt", "simple-table.md", "fake-email.eml"]
    files = {n: client.files.create(file=(n, (DOCS / n).read_bytes()), purpose="assistants") for n in names}
    store = client.vector_stores.create(name="runtime docs", file_ids=[f.id for f in files.values()])
    wait_for_store(client, store.id)
    return store, files


@pytest.fixture(scope="module")
def librarian(client, docs):  # type: ignore[no-untyped-def]
    store, _ = docs
    return client.beta.assistants.create(
        model="gpt-4o",
        name="Librarian",
        instructions="Answer from the files.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text = ""
        self.done_steps: list = []

    def on_run_step_done(self, run_step) -> None:  # type: ignore[no-untyped-def]
        self.done_steps.append(run_step)

    def on_event(self, event) -> None:  # type: ignore[no-untyped-def]
        self.events.append(event.event)

    def on_text_delta(self, delta, snapshot) -> None:  # type: ignore[no-untyped-def]
        self.text += delta.value or ""


def collapse(events: list[str]) -> list[str]:
    return [e for i, e in enumerate(events) if i == 0 or e != events[i - 1]]


# OpenAI's documented order (schemas.md §4) for a run that searches, then answers.
SEARCH_THEN_ANSWER = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.step.completed",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
]


# --- assistants -----------------------------------------------------------------------------------


def test_assistants_crud_and_pagination(client) -> None:  # type: ignore[no-untyped-def]
    tools = [
        {
            "type": "file_search",
            "file_search": {
                "max_num_results": 5,
                "ranking_options": {"ranker": "auto", "score_threshold": 0.2},
            },
        },
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    a = client.beta.assistants.create(
        model="gpt-4o", name="A", tools=tools, metadata={"team": "x"}, temperature=0.3
    )
    b = client.beta.assistants.create(model="gpt-4o-mini", name="B")
    assert a.object == "assistant" and a.tools[0].file_search.max_num_results == 5
    assert a.tools[1].function.name == "lookup" and a.temperature == 0.3 and a.metadata == {"team": "x"}

    modified = client.beta.assistants.update(
        a.id, name="A2", instructions="Be brief.", tools=[{"type": "file_search"}]
    )
    assert (modified.name, modified.instructions, [t.type for t in modified.tools]) == (
        "A2",
        "Be brief.",
        ["file_search"],
    )
    assert client.beta.assistants.retrieve(a.id).name == "A2"

    first = client.beta.assistants.list(limit=1)
    assert first.data[0].id == b.id and first.has_more
    assert client.beta.assistants.list(limit=1, after=b.id).data[0].id == a.id

    assert client.beta.assistants.delete(b.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(b.id)


def test_the_vector_stores_helper_creates_a_store_with_the_files(client, docs) -> None:  # type: ignore[no-untyped-def]
    _, files = docs
    file = files["simple-table.md"]
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [file.id]}]}},
    )
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    assert [f.id for f in client.vector_stores.files.list(store_id).data] == [file.id]


# --- threads and messages -------------------------------------------------------------------------


def test_threads_and_messages_keep_their_order_and_metadata(client) -> None:  # type: ignore[no-untyped-def]
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"message {i}"} for i in range(5)], metadata={"topic": "order"}
    )
    assert thread.metadata == {"topic": "order"}
    listed = client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.content[0].text.value for m in listed.data] == [f"message {i}" for i in range(5)]
    page = client.beta.threads.messages.list(thread.id, order="asc", limit=2, after=listed.data[1].id)
    assert [m.content[0].text.value for m in page.data] == ["message 2", "message 3"] and page.has_more

    message = client.beta.threads.messages.create(
        thread.id, role="user", content=[{"type": "text", "text": "parts"}]
    )
    assert (
        message.status == "completed" and message.run_id is None and message.content[0].text.annotations == []
    )
    assert client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"k": "v"}
    ).metadata == {"k": "v"}
    assert client.beta.threads.messages.delete(message.id, thread_id=thread.id).deleted

    assert client.beta.threads.update(thread.id, metadata={"topic": "done"}).metadata == {"topic": "done"}
    assert client.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


# --- runs -----------------------------------------------------------------------------------------


def test_a_question_answered_in_one_document_cites_that_document(client, docs, librarian) -> None:  # type: ignore[no-untyped-def]
    _, files = docs
    run = client.beta.threads.create_and_run_poll(
        assistant_id=librarian.id,
        thread={"messages": [{"role": "user", "content": QUESTION}]},
        poll_interval_ms=100,
    )
    assert run.status == "completed", run.last_error
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0

    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.role == "assistant" and message.assistant_id == librarian.id and message.run_id == run.id
    text = message.content[0].text
    assert "Anna Pavlovna" in text.value
    assert text.annotations, text.value
    book = files["book-war-and-peace-1p.txt"].id
    assert text.annotations[0].file_citation.file_id == book
    for citation in text.annotations:
        assert citation.type == "file_citation"
        assert text.value[citation.start_index : citation.end_index] == citation.text
        assert citation.text.startswith("【0:") and citation.text.endswith("】")


def test_run_steps_show_file_search_results_and_usage(client, docs, librarian) -> None:  # type: ignore[no-untyped-def]
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What does the test email say about roses?"}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=librarian.id, poll_interval_ms=100
    )
    assert run.status == "completed"

    steps = client.beta.threads.runs.steps.list(
        run.id, thread_id=thread.id, order="asc", include=[CONTENT]
    ).data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    (call,) = steps[0].step_details.tool_calls
    assert call.type == "file_search"
    assert call.file_search.ranking_options.ranker == "auto"
    results = call.file_search.results
    assert results[0].file_name == "fake-email.eml" and 0 <= results[0].score <= 1
    assert "Roses are red" in results[0].content[0].text
    assert (
        steps[1].step_details.message_creation.message_id
        == client.beta.threads.messages.list(thread.id).data[0].id
    )
    assert run.usage.total_tokens == sum(s.usage.total_tokens for s in steps)

    plain = client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=thread.id, run_id=run.id)
    assert plain.step_details.tool_calls[0].file_search.results[0].content is None
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=["nonsense"])  # type: ignore[list-item]

    assert [r.id for r in client.beta.threads.runs.list(thread.id).data] == [run.id]
    assert client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"k": "v"}).metadata == {
        "k": "v"
    }


def test_a_streamed_run_follows_openai_event_order(client, librarian) -> None:  # type: ignore[no-untyped-def]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=librarian.id, include=[CONTENT], event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
        (message,) = stream.get_final_messages()
    assert run.status == "completed"
    assert collapse(recorder.events) == SEARCH_THEN_ANSWER
    assert recorder.text == message.content[0].text.value
    assert message.content[0].text.annotations
    search = next(s for s in recorder.done_steps if s.type == "tool_calls")
    assert search.step_details.tool_calls[0].file_search.results[0].content  # include[] applies to the stream
    assert client.beta.threads.messages.list(thread.id).data[0].content[0].text.value == recorder.text


def test_create_thread_and_run_streams_the_new_thread_first(client, librarian) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=librarian.id,
        thread={"messages": [{"role": "user", "content": "How much do Juicy Apples cost?"}]},
        event_handler=recorder,
    ) as stream:
        stream.until_done()
    assert collapse(recorder.events) == ["thread.created", *SEARCH_THEN_ANSWER]
    assert "1.99" in recorder.text


def test_a_file_attached_to_a_message_is_searched_in_the_threads_own_store(client, docs) -> None:  # type: ignore[no-untyped-def]
    note = client.files.create(
        file=(
            "note.txt",
            b"The lighthouse keeper of Skerryvore is called Agnes Murdoch. She paints the lamp room blue.",
        ),
        purpose="assistants",
    )
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Who is the lighthouse keeper of Skerryvore?",
                "attachments": [{"file_id": note.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    (store_id,) = thread.tool_resources.file_search.vector_store_ids
    store = client.vector_stores.retrieve(store_id)
    assert store.expires_after is not None and store.expires_after.days == 7
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=100
    )
    assert run.status == "completed"
    text = client.beta.threads.messages.list(thread.id).data[0].content[0].text
    assert "Agnes Murdoch" in text.value
    assert {a.file_citation.file_id for a in text.annotations} == {note.id}
