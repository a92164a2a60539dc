"""Fuzzing: schemathesis drives every operation of the service's own OpenAPI document.

Requests are generated from the document (valid ones and, negated, invalid ones); path parameters
are often the ids of real objects (a store with an indexed file, a batch, an assistant, a thread
with a completed run, a response, a conversation), so the generated bodies reach the services
instead of stopping at a 404. Every response must be free of server errors and match what the
document promises: its status code, content type and schema, 4xx bodies in OpenAI's envelope.

CI runs `FUZZ_EXAMPLES` cases per operation (a couple of minutes); `pytest -m slow tests/test_fuzz.py`
runs `SLOW_FUZZ_EXAMPLES`, and `RETRIEVD_FUZZ_EXAMPLES` overrides both.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis.strategies as st
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Server, start_server, wait_for_store
from tests.test_isolation import QUESTION, new_project_key

FUZZ_EXAMPLES = int(os.environ.get("RETRIEVD_FUZZ_EXAMPLES") or 20)
SLOW_FUZZ_EXAMPLES = int(os.environ.get("RETRIEVD_FUZZ_EXAMPLES") or 100)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CASES_RUN: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("fuzz"), rate_limit_per_minute=0)


@pytest.fixture(scope="module")
def real_ids(fuzz_server: Server) -> dict[str, str]:
    """Real objects, by the name of the path parameter that takes their id."""
    client = fuzz_server.client()
    upload = client.files.create(
        file=("club.txt", QUESTION.encode() + b" Delia Smith does."), purpose="assistants"
    )
    store = client.vector_stores.create(name="fuzz")
    batch = client.vector_stores.file_batches.create(store.id, file_ids=[upload.id])
    wait_for_store(client, store.id)
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    message = client.beta.threads.messages.list(thread.id).data[0]
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    response = client.responses.create(model="gpt-4o", input=QUESTION)
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": QUESTION}]
    )
    item = client.conversations.items.list(conversation.id).data[0]
    new_project_key(fuzz_server, "fuzz")
    project = client.get("/organization/projects", cast_to=dict)["data"][-1]["id"]  # type: ignore[call-overload]
    accounts = client.get(f"/organization/projects/{project}/service_accounts", cast_to=dict)  # type: ignore[call-overload]
    return {
        "file_id": upload.id,
        "store_id": store.id,
        "batch_id": batch.id,
        "assistant_id": assistant.id,
        "thread_id": thread.id,
        "message_id": message.id,
        "run_id": run.id,
        "step_id": step.id,
        "response_id": response.id,
        "conversation_id": conversation.id,
        "item_id": item.id,
        "project_id": project,
        "account_id": accounts["data"][0]["id"],
    }


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server) -> Iterator[Any]:
    yield schemathesis.openapi.from_url(fuzz_server.base_url.removesuffix("/v1") + "/openapi.json")
    print(f"\nfuzz cases run: {sum(CASES_RUN.values())} over {len(CASES_RUN)} operations")


def _strategy(operation: Any, mode: GenerationMode, real_ids: dict[str, str]) -> Any:
    """Valid requests half the time with the ids of real objects, so they go past the lookup. Deletes
    keep generated ids: the real objects must live until every operation had its turn."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if mode is GenerationMode.NEGATIVE or not names or operation.method.lower() == "delete":
        return generated
    if not all(name in real_ids for name in names):
        return generated
    real = operation.as_strategy(
        generation_mode=mode, path_parameters={name: real_ids[name] for name in names}
    )
    return st.one_of(generated, real)


def _fuzz_operation(
    operation: Any, mode: GenerationMode, real_ids: dict[str, str], headers: dict[str, str], examples: int
) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(case=_strategy(operation, mode, real_ids))
    def fuzz(case: Any) -> None:
        CASES_RUN[operation.label] += 1
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

    fuzz()


def _fuzz(schema: Any, server: Server, real_ids: dict[str, str], examples: int) -> None:
    """Every operation, valid requests then invalid ones; all failures are reported together."""
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, real_ids, headers, examples)
            except Unsatisfiable:  # no invalid value exists for an operation taking only a string id
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)


FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,  # nothing written to .hypothesis/
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
    "print_blob": False,
}


def test_no_server_errors_and_every_response_matches_the_document(
    api_schema: Any, fuzz_server: Server, real_ids: dict[str, str]
) -> None:
    _fuzz(api_schema, fuzz_server, real_ids, FUZZ_EXAMPLES)


@pytest.mark.slow
def test_a_longer_fuzz_finds_nothing_either(
    api_schema: Any, fuzz_server: Server, real_ids: dict[str, str]
) -> None:
    _fuzz(api_schema, fuzz_server, real_ids, SLOW_FUZZ_EXAMPLES)


# --- what a generator does not write -------------------------------------------------------------------


def _nested_filter(depth: int) -> bytes:
    leaf = '{"type": "eq", "key": "a", "value": 1}'
    return (
        '{"query": "owner", "filters": ' + '{"type": "and", "filters": [' * depth + leaf + "]}" * depth + "}"
    ).encode()


MALFORMED: list[tuple[str, str, dict[str, str], bytes]] = [
    ("deep filter", "POST", {}, _nested_filter(300)),
    ("deeper filter", "POST", {}, _nested_filter(20_000)),
    ("deep JSON", "POST", {}, b"[" * 100_000),
    ("invalid UTF-8", "POST", {}, b'{"query": "\xff\xfe"}'),
    ("NUL in a string", "POST", {}, b'{"query": "a\\u0000b"}'),
    ("a lone surrogate", "POST", {}, b'{"query": "\\ud800"}'),
    ("a huge number", "POST", {}, b'{"query": "a", "max_num_results": ' + b"9" * 5000 + b"}"),
    ("not JSON", "POST", {}, b"query=owner"),
    ("a JSON list", "POST", {}, b'["owner"]'),
    ("form content type", "POST", {"content-type": "application/x-www-form-urlencoded"}, b"query=owner"),
    ("wrong method", "PUT", {}, b"{}"),
]


@pytest.mark.parametrize(("what", "method", "headers", "body"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_a_4xx_in_the_envelope(
    fuzz_server: Server,
    real_ids: dict[str, str],
    what: str,
    method: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    response = httpx.request(
        method,
        f"{fuzz_server.base_url}/vector_stores/{real_ids['store_id']}/search",
        content=body,
        headers={
            "Authorization": f"Bearer {fuzz_server.admin_key}",
            "content-type": "application/json",
            **headers,
        },
        timeout=60,
    )
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "url",
    ["/files?after=file-%00", "/files/file-%00", "/vector_stores/vs%00/search"],
)
def test_a_nul_character_in_the_url_is_a_400(fuzz_server: Server, url: str) -> None:
    response = httpx.post(
        fuzz_server.base_url + url,
        json={"query": "owner"},
        headers={"Authorization": f"Bearer {fuzz_server.admin_key}"},
    )
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["error"]["message"]


def _raw_status(server: Server, request: bytes) -> int | None:
    """Send bytes no HTTP client library would; the status the server answers, or None if it hangs up."""
    host, port = server.base_url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        reply = connection.recv(4096)
    return int(reply.split(b" ")[1]) if reply.startswith(b"HTTP/1.1 ") else None


@pytest.mark.parametrize(
    ("what", "head"),
    [
        ("a 100 kB path", b"GET /v1/files/file-" + b"a" * 100_000 + b" HTTP/1.1\r\n"),
        ("a 200 kB header", b"GET /v1/files HTTP/1.1\r\nX-Pad: " + b"b" * 200_000 + b"\r\n"),
        (
            "10,000 headers",
            b"GET /v1/files HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(10_000)),
        ),
        ("a NUL in the path", b"GET /v1/files/\x00 HTTP/1.1\r\n"),
    ],
)
def test_oversized_or_broken_http_is_refused_not_crashed(fuzz_server: Server, what: str, head: bytes) -> None:
    auth = f"Authorization: Bearer {fuzz_server.admin_key}\r\n".encode()
    status = _raw_status(fuzz_server, head + b"Host: localhost\r\n" + auth + b"Connection: close\r\n\r\n")
    # Refused, served, or hung up on; never a 5xx. (uvicorn with httptools accepts headers of any size:
    # bound them in front of the server, as a reverse proxy does.)
    assert status is None or status < 500, status
    assert (
        httpx.get(
            f"{fuzz_server.base_url}/files", headers={"Authorization": f"Bearer {fuzz_server.admin_key}"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/assistants", {"model": "gpt-4o", "reasoning_effort": "e\u0018z\u0093\u001e@+\u0098"}, "reasoning_effort"),
        ("/assistants", {"model": "m" * 300}, "model"),
        ("/threads/runs", {"assistant_id": "asst_x", "max_prompt_tokens": 2**40}, "max_prompt_tokens"),
        ("/responses", {"model": "gpt-4o", "input": "hi", "max_output_tokens": 2**64}, "max_output_tokens"),
    ],
    ids=["reasoning_effort off OpenAI's enum", "a 300-character model", "2**40 prompt tokens", "2**64 output tokens"],
)
def test_values_that_no_column_holds_are_a_400(fuzz_server: Server, path: str, body: dict[str, object], param: str) -> None:
    """Found by the fuzzer on PostgreSQL, whose varchar and integer columns refuse what SQLite would store."""
    response = httpx.post(
        f"{fuzz_server.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {fuzz_server.admin_key}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    "path",
    ["/v1/responses", "/v1/threads/runs", "/v1/threads/{thread_id}/runs", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"],
)
def test_routes_that_stream_document_server_sent_events(fuzz_server: Server, path: str) -> None:
    """Found by the fuzzer: `stream: true` answered text/event-stream, which the document did not list."""
    document = httpx.get(fuzz_server.base_url.removesuffix("/v1") + "/openapi.json").json()
    content = document["paths"][path]["post"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/event-stream"}


def test_each_streamed_event_matches_the_document(fuzz_server: Server) -> None:
    """Found by the fuzzer: the document described a stream as a string; schemathesis (as OpenAPI
    before 3.2 says) reads an event stream's schema as that of each event."""
    document = httpx.get(fuzz_server.base_url.removesuffix("/v1") + "/openapi.json").json()
    schema = document["paths"]["/v1/responses"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    response = httpx.post(
        f"{fuzz_server.base_url}/responses",
        json={"model": "gpt-4o", "input": "Who owns Norwich City?", "stream": True},
        headers={"Authorization": f"Bearer {fuzz_server.admin_key}"},
        timeout=60,
    )
    events = [
        {field: value for field, _, value in (line.partition(": ") for line in frame.splitlines())}
        for frame in response.text.split("\n\n")
        if frame.strip()
    ]

    assert [e["event"] for e in events][-1] == "response.completed"
    for event in events:
        jsonschema.validate(event, schema)
