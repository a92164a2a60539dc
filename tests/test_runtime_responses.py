"""The Responses and Conversations APIs through the official SDK, answered by the built-in
extractive model over real documents from /work/shared/docs."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import DOCS, wait_for_store

QUESTION = "Who was the maid of honor and favorite of the Empress Marya Fedorovna?"
# OpenAI's documented order for a file_search response (schemas.md §5), with text deltas and
# annotation events folded into one "text" entry.
SEARCH_THEN_ANSWER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.file_search_call.in_progress",
    "response.file_search_call.searching",
    "response.file_search_call.completed",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    "text",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture(scope="module")
def docs(client):  # type: ignore[no-untyped-def]
    """Three small real documents, each with a `kind` attribute, in one store."""
    names = {"book-war-and-peace-1p.txt": "book", "simple-table.md": "table", "fake-email.eml": "email"}
    files = {n: client.files.create(file=(n, (DOCS / n).read_bytes()), purpose="assistants") for n in names}
    store = client.vector_stores.create(name="responses docs")
    client.vector_stores.file_batches.create(
        store.id, files=[{"file_id": f.id, "attributes": {"kind": names[n]}} for n, f in files.items()]
    )
    wait_for_store(client, store.id)
    return store, files


def search_tool(store, **options) -> dict:  # type: ignore[no-untyped-def]
    return {"type": "file_search", "vector_store_ids": [store.id], **options}


def test_a_response_cites_the_document_that_answers(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, files = docs
    response = client.responses.create(
        model="gpt-4o", input=QUESTION, tools=[search_tool(store)], include=["file_search_call.results"]
    )
    assert response.status == "completed" and response.object == "response"
    search, message = response.output
    assert search.type == "file_search_call" and search.status == "completed"
    assert search.queries == [QUESTION]
    book = files["book-war-and-peace-1p.txt"]
    assert search.results[0].file_id == book.id and search.results[0].filename == "book-war-and-peace-1p.txt"
    assert "Anna Pavlovna" in search.results[0].text and search.results[0].attributes == {"kind": "book"}

    (text,) = message.content
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert "Anna Pavlovna" in response.output_text and "【" not in response.output_text
    assert text.annotations[0].type == "file_citation"
    assert (
        text.annotations[0].file_id == book.id and text.annotations[0].filename == "book-war-and-peace-1p.txt"
    )
    assert all(0 < a.index <= len(text.text) for a in text.annotations)
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_search_results_are_shown_only_when_included(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, _ = docs
    response = client.responses.create(
        model="gpt-4o", input="How much do Juicy Apples cost?", tools=[search_tool(store)]
    )
    assert response.output[0].results is None
    assert "1.99" in response.output_text
    again = client.responses.retrieve(response.id, include=["file_search_call.results"])
    assert again.output[0].results[0].filename == "simple-table.md"
    assert again.output_text == response.output_text


def test_filters_and_hybrid_weights_reach_the_retriever(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, _ = docs
    tool = search_tool(
        store,
        max_num_results=3,
        filters={"type": "eq", "key": "kind", "value": "email"},
        ranking_options={
            "ranker": "auto",
            "score_threshold": 0.0,
            "hybrid_search": {"embedding_weight": 1.0, "text_weight": 0.5},
        },
    )
    response = client.responses.create(
        model="gpt-4o", input=QUESTION, tools=[tool], include=["file_search_call.results"]
    )
    results = response.output[0].results
    assert results and {r.filename for r in results} == {"fake-email.eml"}
    assert response.tools[0].filters.value == "email"


def test_a_streamed_response_follows_the_documented_event_order(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, files = docs
    with client.responses.stream(model="gpt-4o", input=QUESTION, tools=[search_tool(store)]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    folded = [
        "text" if k in ("response.output_text.delta", "response.output_text.annotation.added") else k
        for k in kinds
    ]
    assert [k for i, k in enumerate(folded) if i == 0 or k != folded[i - 1]] == SEARCH_THEN_ANSWER
    assert [e.sequence_number for e in events] == list(range(len(events)))
    started = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(i.type, i.status) for i in started] == [
        ("file_search_call", "in_progress"),
        ("message", "in_progress"),
    ]
    assert started[1].content == []  # each event shows the item as it was then
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text
    added = [e.annotation for e in events if e.type == "response.output_text.annotation.added"]
    assert added and [a.file_id for a in added] == [a.file_id for a in final.output[1].content[0].annotations]
    assert added[0].file_id == files["book-war-and-peace-1p.txt"].id
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_previous_response_id_carries_the_conversation_on(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, _ = docs
    first = client.responses.create(
        model="gpt-4o", input=QUESTION, tools=[search_tool(store)], instructions="Be precise."
    )
    second = client.responses.create(
        model="gpt-4o",
        input="What are the important points of the test email?",
        previous_response_id=first.id,
        tools=[search_tool(store)],
    )
    assert second.previous_response_id == first.id and second.instructions is None
    assert "Roses are red" in second.output_text
    (item,) = client.responses.input_items.list(second.id).data
    assert (
        item.type == "message"
        and item.role == "user"
        and item.content[0].text == "What are the important points of the test email?"
    )

    assert client.responses.delete(second.id) is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-4o", input="?", previous_response_id=second.id)


def test_an_unstored_response_is_not_kept(client) -> None:  # type: ignore[no-untyped-def]
    response = client.responses.create(model="gpt-4o", input="Hello", store=False)
    assert response.status == "completed" and response.output_text
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_a_background_response_is_polled_to_completion(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, _ = docs
    response = client.responses.create(
        model="gpt-4o", input=QUESTION, tools=[search_tool(store)], background=True
    )
    assert response.status == "queued" and response.background
    deadline = time.time() + 60
    while response.status in ("queued", "in_progress") and time.time() < deadline:
        time.sleep(0.1)
        response = client.responses.retrieve(response.id)
    assert response.status == "completed" and "Anna Pavlovna" in response.output_text
    assert client.responses.cancel(response.id).status == "completed"  # too late to cancel: unchanged
    foreground = client.responses.create(model="gpt-4o", input="Hi")
    with pytest.raises(openai.BadRequestError, match="background"):
        client.responses.cancel(foreground.id)


def test_requests_the_server_cannot_serve_are_rejected_clearly(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4o", input="Hi", tools=[{"type": "web_search"}])
    assert e.value.code == "unsupported_tool"
    conversation = client.conversations.create()
    first = client.responses.create(model="gpt-4o", input="Hi")
    with pytest.raises(openai.BadRequestError, match="not both"):
        client.responses.create(
            model="gpt-4o", input="Hi", previous_response_id=first.id, conversation=conversation.id
        )


def test_a_conversation_collects_the_items_of_its_responses(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, files = docs
    conversation = client.conversations.create(
        metadata={"topic": "books"},
        items=[{"type": "message", "role": "user", "content": "I am reading War and Peace."}],
    )
    assert conversation.object == "conversation" and conversation.metadata == {"topic": "books"}
    response = client.responses.create(
        model="gpt-4o", input=QUESTION, conversation=conversation.id, tools=[search_tool(store)]
    )
    assert response.conversation.id == conversation.id

    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "user"),
        ("message", "user"),
        ("file_search_call", None),
        ("message", "assistant"),
    ]
    assert items[3].content[0].text == response.output_text
    assert items[3].content[0].annotations[0].file_id == files["book-war-and-peace-1p.txt"].id

    follow_up = client.responses.create(
        model="gpt-4o",
        input="What are the important points of the test email?",
        conversation=conversation.id,
        tools=[search_tool(store)],
    )
    assert "Roses are red" in follow_up.output_text
    newest = client.conversations.items.list(conversation.id, limit=1)
    assert newest.data[0].type == "message" and newest.data[0].role == "assistant" and newest.has_more

    added = client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "Thanks!"}]
    )
    (thanks,) = added.data
    assert (
        client.conversations.items.retrieve(thanks.id, conversation_id=conversation.id).content[0].text
        == "Thanks!"
    )
    assert client.conversations.items.delete(thanks.id, conversation_id=conversation.id).id == conversation.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(thanks.id, conversation_id=conversation.id)

    assert client.conversations.update(conversation.id, metadata={"topic": "done"}).metadata == {
        "topic": "done"
    }
    assert client.conversations.delete(conversation.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)


def test_file_search_calls_are_counted_for_usage(client, docs) -> None:  # type: ignore[no-untyped-def]
    store, _ = docs

    def calls() -> int:
        page = client.get(
            "/organization/usage/file_search_calls",
            options={"params": {"start_time": int(time.time()) - 3600, "group_by": "vector_store_id"}},
            cast_to=object,
        )
        return sum(r["num_requests"] for b in page["data"] for r in b["results"] if r.get("vector_store_id") == store.id)

    before = calls()
    client.responses.create(model="gpt-4o", input=QUESTION, tools=[search_tool(store)])
    assert calls() == before + 1
