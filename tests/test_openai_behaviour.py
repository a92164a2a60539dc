"""What real clients expect, tried through the official SDK as a new user would (docs/openai-behaviour.md):
JSON output from the offline model, last_active_at and the expiry anchor, a store-level
chunking_strategy without file_ids, and one unknown file id among several."""

from __future__ import annotations

import json

import openai
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from tests.conftest import DOCS, Server, wait_for_store

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

QUESTION = "Who was the maid of honor and favorite of the Empress Marya Fedorovna?"
BOOK = "book-war-and-peace-1p.txt"
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "answer": {"type": "string"},
        "quotes": {"type": "array", "items": {"type": "string"}},
        "language": {"type": "string", "enum": ["en", "fr"]},
        "found": {"type": "boolean"},
        "source": {"anyOf": [{"$ref": "#/$defs/source"}, {"type": "null"}]},
    },
    "required": ["confidence", "answer", "quotes", "language", "found", "source"],
    "additionalProperties": False,
    "$defs": {
        "source": {
            "type": "object",
            "properties": {"page": {"type": "integer", "exclusiveMinimum": 0}, "title": {"type": "string"}},
            "required": ["page", "title"],
            "additionalProperties": False,
        }
    },
}


class Answer(BaseModel):
    answer: str
    sources: list[str]


@pytest.fixture(scope="module")
def book_store(client):  # type: ignore[no-untyped-def]
    book = client.files.create(file=(BOOK, (DOCS / BOOK).read_bytes()), purpose="assistants")
    store = client.vector_stores.create(name="behaviour", file_ids=[book.id])
    wait_for_store(client, store.id)
    return store, book


def _valid(text: str, schema: dict) -> dict:
    value = json.loads(text)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(value)]
    assert not errors, (errors, value)
    return value


# --- JSON output from the offline model --------------------------------------------------------


def test_a_response_with_a_json_schema_format_is_json_matching_the_schema(client, book_store) -> None:  # type: ignore[no-untyped-def]
    store, book = book_store
    response = client.responses.create(
        model="gpt-4o",
        input=QUESTION,
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
    )
    assert response.status == "completed"
    value = _valid(response.output_text, ANSWER_SCHEMA)
    assert "Anna Pavlovna" in value["answer"] and value["quotes"] and value["source"] is None
    assert value["language"] == "en" and value["found"] is False and value["confidence"] == 0
    annotations = response.output[-1].content[0].annotations
    assert {a.file_id for a in annotations} == {book.id}  # the citations survive in the JSON


def test_the_sdk_parse_helper_reads_the_offline_models_json(client, book_store) -> None:  # type: ignore[no-untyped-def]
    store, _ = book_store
    parsed = client.responses.parse(
        model="gpt-4o",
        input=QUESTION,
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        text_format=Answer,
    )
    assert isinstance(parsed.output_parsed, Answer)
    assert "Anna Pavlovna" in parsed.output_parsed.answer and parsed.output_parsed.sources


def test_a_response_with_json_object_is_a_json_object(client, book_store) -> None:  # type: ignore[no-untyped-def]
    store, _ = book_store
    response = client.responses.create(
        model="gpt-4o",
        input=QUESTION + " Answer in JSON.",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        text={"format": {"type": "json_object"}},
    )
    assert "Anna Pavlovna" in json.loads(response.output_text)["answer"]


def test_without_files_the_json_still_parses(client) -> None:  # type: ignore[no-untyped-def]
    response = client.responses.create(
        model="gpt-4o",
        input=QUESTION,
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
    )
    assert _valid(response.output_text, ANSWER_SCHEMA)["answer"]


@pytest.mark.parametrize("on", ["assistant", "run"])
def test_an_assistants_run_with_a_json_schema_response_format_writes_json(client, book_store, on) -> None:  # type: ignore[no-untyped-def]
    store, book = book_store
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True},
    }
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        **({"response_format": response_format} if on == "assistant" else {}),
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": QUESTION}]},
        poll_interval_ms=100,
        **({"response_format": response_format} if on == "run" else {}),
    )
    assert run.status == "completed", run.last_error
    text = client.beta.threads.messages.list(run.thread_id).data[0].content[0].text
    assert "Anna Pavlovna" in _valid(text.value, ANSWER_SCHEMA)["answer"]
    assert {a.file_citation.file_id for a in text.annotations} == {book.id}


def test_an_assistants_run_with_json_object_writes_a_json_object(client, book_store) -> None:  # type: ignore[no-untyped-def]
    store, _ = book_store
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        response_format={"type": "json_object"},
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": QUESTION}]},
        poll_interval_ms=100,
    )
    text = client.beta.threads.messages.list(run.thread_id).data[0].content[0].text.value
    assert "Anna Pavlovna" in json.loads(text)["answer"]


TREE = {
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "minItems": 1},
    },
    "required": ["label", "children"],
    "$defs": {"node": {"type": "object", "properties": {"up": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}}},
}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object"},
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "exclusiveMinimum": 3}},
            "required": ["n"],
        },
        {"type": "object", "properties": {"k": {"const": "x"}, "v": {"type": ["string", "null"]}}},
        {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 5},
        {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2}},
        },
        {
            "anyOf": [
                {"type": "null"},
                {"type": "object", "properties": {"s": {"type": "string", "minLength": 1}}},
            ]
        },
        {
            "type": "object",
            "properties": {"x": {"type": "number", "maximum": -2}},
            "additionalProperties": False,
        },
        TREE,
    ],
)
def test_every_schema_gets_a_value_it_accepts(schema: dict) -> None:
    from retrievd.runtime.providers.structured import structured_answer

    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    _valid(structured_answer(fmt, "The answer 【0:0†a.txt】", ["one", "two"]) or "", schema)


# --- chunking_strategy on a store without file_ids -------------------------------------------------


def _strategy(vsf) -> tuple[str, int | None, int | None]:  # type: ignore[no-untyped-def]
    st = vsf.chunking_strategy
    return (st.type, st.static.max_chunk_size_tokens, st.static.chunk_overlap_tokens)


def test_a_store_level_strategy_without_file_ids_is_ignored_and_each_attach_call_brings_its_own(
    server: Server,
    client,  # type: ignore[no-untyped-def]
) -> None:
    from retrievd.ingest.chunk import auto_chunking

    auto = ("static", *auto_chunking(server.core.embedder))  # type: ignore[attr-defined]
    small = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}}
    store = client.vector_stores.create(name="strategies", chunking_strategy=small)  # ignored: no file_ids
    data = (DOCS / BOOK).read_bytes()
    plain, own, batched = (
        client.files.create(file=(f"{n}-{BOOK}", data), purpose="assistants")
        for n in ("plain", "own", "batch")
    )
    attached = client.vector_stores.files.create_and_poll(file_id=plain.id, vector_store_id=store.id)
    assert _strategy(attached) == auto  # not the store's
    mine = client.vector_stores.files.create_and_poll(
        file_id=own.id,
        vector_store_id=store.id,
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100},
        },
    )
    assert _strategy(mine) == ("static", 400, 100)
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[batched.id], chunking_strategy=small
    )
    (in_batch,) = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert _strategy(in_batch) == ("static", 100, 20)
    chunks = {
        f.id: len(list(client.vector_stores.files.content(file_id=f.id, vector_store_id=store.id)))
        for f in (plain, own, batched)
    }
    assert chunks[own.id] < chunks[plain.id] < chunks[batched.id], chunks


def test_a_store_level_strategy_with_file_ids_applies_to_those_files(client) -> None:  # type: ignore[no-untyped-def]
    book = client.files.create(file=(BOOK, (DOCS / BOOK).read_bytes()), purpose="assistants")
    store = client.vector_stores.create(
        file_ids=[book.id],
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 150, "chunk_overlap_tokens": 0},
        },
    )
    assert _strategy(client.vector_stores.files.retrieve(book.id, vector_store_id=store.id)) == (
        "static",
        150,
        0,
    )


# --- one unknown file id among several ------------------------------------------------------------


def test_a_store_with_one_unknown_file_id_among_several_is_not_created(client) -> None:  # type: ignore[no-untyped-def]
    good = [client.files.create(file=(f"{n}.txt", b"harbour tides"), purpose="assistants") for n in "ab"]
    before = {s.id for s in client.vector_stores.list(limit=100)}
    with pytest.raises(openai.NotFoundError) as refused:
        client.vector_stores.create(
            name="half", file_ids=[good[0].id, "file-doesnotexist0000000000", good[1].id]
        )
    assert refused.value.code == "not_found" and refused.value.param == "file_ids"
    assert "file-doesnotexist0000000000" in refused.value.message
    assert {s.id for s in client.vector_stores.list(limit=100)} == before


@pytest.mark.parametrize("shape", ["file_ids", "files"])
def test_a_batch_with_one_unknown_file_id_among_several_attaches_nothing(client, shape) -> None:  # type: ignore[no-untyped-def]
    store = client.vector_stores.create(name=f"batch {shape}")
    good = [client.files.create(file=(f"{n}.txt", b"harbour tides"), purpose="assistants") for n in "ab"]
    ids = [good[0].id, "file-doesnotexist0000000000", good[1].id]
    kwargs = {"file_ids": ids} if shape == "file_ids" else {"files": [{"file_id": i} for i in ids]}
    with pytest.raises(openai.NotFoundError) as refused:
        client.vector_stores.file_batches.create(vector_store_id=store.id, **kwargs)
    assert refused.value.param == shape and "file-doesnotexist0000000000" in refused.value.message
    after = client.vector_stores.retrieve(store.id)
    assert after.file_counts.total == 0 and list(client.vector_stores.files.list(store.id)) == []
