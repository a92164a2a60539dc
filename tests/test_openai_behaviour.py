"""What real clients expect, tried through the official SDK as a new user would (docs/openai-behaviour.md):
JSON output from the offline model, last_active_at and the expiry anchor, a store-level
chunking_strategy without file_ids, and one unknown file id among several."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from tests.conftest import DOCS, wait_for_store

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
