"""Conformance: every operation of OpenAI's spec that retrievd implements answers as the spec says.

A scenario per operation makes a real request (real objects, real ingestion, the built-in extractive
model) and the body is validated against the operation's 200 response schema in
/work/shared/openai/openapi.yaml; every error body against the spec's ErrorResponse. The list of
implemented operations comes from the service's own OpenAPI document, so a new endpoint without a
scenario here fails `test_every_implemented_operation_has_a_scenario`.

Quirks of the spec (see its digest, schemas.md §8) and how they are handled here:
- `nullable: true` (OpenAPI 3.0 syntax, on RunObject fields among others) is read as "or null".
- CompoundFilter refers to itself with `$recursiveRef` (2019-09 syntax): read as a `$ref` to itself.
- An optional property that is unset comes back as null (OpenAIFile's `expires_at`, a store's
  `expires_after`), as OpenAI's own responses do and the SDK types them (`Optional[...] = None`);
  the spec types most such properties without null, so optional properties are read as nullable.
- `GET /files/{file_id}/content` is declared as a JSON string; it returns the file's bytes (as
  OpenAI does), so those are compared with the upload instead.
- The file-batch `object` (`vector_store.files_batch`), the search page's `search_query` (an array)
  and the store-file content page follow the schema, which is what is validated.
- A search result's content items carry retrievd's `page` and `page_end` (docs/pages.md), which the
  SDK keeps as extra fields and the spec's closed schema does not list: they are checked to be
  integers or null and removed, and the rest is validated.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.conftest import DOCS, SHARED, Server, wait_for_store

SPEC_FILE = SHARED / "openai" / "openapi.yaml"
SPEC_URI = "urn:openai-openapi"
RUN_DONE = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}


# --- the spec -------------------------------------------------------------------------------------


def _read_quirks(node: Any) -> Any:
    """The spec with its schema quirks read as meant (see the module docstring)."""
    if isinstance(node, list):
        return [_read_quirks(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("$recursiveRef") == "#":
        return {"$ref": "#/components/schemas/CompoundFilter"}
    out = {k: _read_quirks(v) for k, v in node.items() if k not in ("nullable", "$recursiveAnchor")}
    if isinstance(out.get("properties"), dict):
        required = set(out.get("required", ()))
        out["properties"] = {
            name: prop if name in required else {"anyOf": [prop, {"type": "null"}]}
            for name, prop in out["properties"].items()
        }
    if node.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def spec() -> dict[str, Any]:
    with open(SPEC_FILE, "rb") as f:
        return _read_quirks(yaml.load(f, Loader=yaml.CSafeLoader))


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec()))


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=_registry())


def assert_conforms(body: Any, pointer: str) -> None:
    error = best_match(validator(pointer).iter_errors(body))
    assert error is None, f"{list(error.absolute_path)}: {error.message[:500]}"


def assert_error_conforms(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    assert_conforms(response.json(), _pointer("components", "schemas", "ErrorResponse"))


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def spec_operation(method: str, service_path: str) -> str | None:
    """The spec's path for one of the service's operations (path parameters may be named differently)."""
    for path, item in spec()["paths"].items():
        if _shape("/v1" + path) == _shape(service_path) and method in item:
            return path
    return None


def implemented_operations(server: Server) -> set[tuple[str, str]]:
    document = httpx.get(server.base_url.removesuffix("/v1") + "/openapi.json").json()
    ops = set()
    for service_path, item in document["paths"].items():
        for method in item:
            if (path := spec_operation(method, service_path)) is not None:
                ops.add((method, path))
    return ops


# --- scenarios ------------------------------------------------------------------------------------


@dataclass
class World:
    """Objects every scenario can use, made once through the API."""

    http: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        try:
            return self.ids[name]
        except KeyError:
            raise AttributeError(name) from None

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.http.request(method, path, json=body, params=params or None)

    def upload(
        self, name: str = "note.txt", content: bytes = b"A short note about nothing in particular."
    ) -> str:
        response = self.http.post("/files", files={"file": (name, content)}, data={"purpose": "assistants"})
        response.raise_for_status()
        return response.json()["id"]

    def created(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.call(method, path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def finished_run(self, thread_id: str, run: dict[str, Any]) -> dict[str, Any]:
        deadline = time.time() + 120
        while run["status"] not in RUN_DONE and time.time() < deadline:
            time.sleep(0.2)
            run = self.created("GET", f"/threads/{thread_id}/runs/{run['id']}")
        return run


Scenario = Callable[[World], httpx.Response]
SCENARIOS: dict[tuple[str, str], Scenario] = {}
ERROR_ONLY: dict[tuple[str, str], str] = {}  # operations only reachable as an error here, and why


def scenario(method: str, path: str, *, error_only: str | None = None) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[(method, path)] = fn
        if error_only:
            ERROR_ONLY[(method, path)] = error_only
        return fn

    return register


DOCUMENT = "norwich-city.txt"
QUESTION = "Who owns Norwich City football club?"

# Files
scenario("post", "/files")(
    lambda w: w.http.post("/files", files={"file": ("a.txt", b"hello")}, data={"purpose": "assistants"})
)
scenario("get", "/files")(lambda w: w.call("GET", "/files", limit=5))
scenario("get", "/files/{file_id}")(lambda w: w.call("GET", f"/files/{w.file}"))
scenario("delete", "/files/{file_id}")(lambda w: w.call("DELETE", f"/files/{w.upload()}"))
scenario("get", "/files/{file_id}/content")(lambda w: w.call("GET", f"/files/{w.file}/content"))

# Vector stores
scenario("post", "/vector_stores")(
    lambda w: w.call("POST", "/vector_stores", {"name": "c", "metadata": {"k": "v"}})
)
scenario("get", "/vector_stores")(lambda w: w.call("GET", "/vector_stores", limit=2))
scenario("get", "/vector_stores/{vector_store_id}")(lambda w: w.call("GET", f"/vector_stores/{w.store}"))
scenario("post", "/vector_stores/{vector_store_id}")(
    lambda w: w.call("POST", f"/vector_stores/{w.store}", {"name": "renamed", "metadata": {"a": "b"}})
)
scenario("delete", "/vector_stores/{vector_store_id}")(
    lambda w: w.call("DELETE", f"/vector_stores/{w.created('POST', '/vector_stores', {})['id']}")
)
scenario("post", "/vector_stores/{vector_store_id}/search")(
    lambda w: w.call(
        "POST",
        f"/vector_stores/{w.store}/search",
        {"query": QUESTION, "max_num_results": 3, "filters": {"type": "eq", "key": "kind", "value": "txt"}},
    )
)
scenario("post", "/vector_stores/{vector_store_id}/files")(
    lambda w: w.call(
        "POST", f"/vector_stores/{w.scratch}/files", {"file_id": w.upload(), "attributes": {"n": 1}}
    )
)
scenario("get", "/vector_stores/{vector_store_id}/files")(
    lambda w: w.call("GET", f"/vector_stores/{w.store}/files")
)
scenario("get", "/vector_stores/{vector_store_id}/files/{file_id}")(
    lambda w: w.call("GET", f"/vector_stores/{w.store}/files/{w.file}")
)
scenario("post", "/vector_stores/{vector_store_id}/files/{file_id}")(
    lambda w: w.call(
        "POST", f"/vector_stores/{w.store}/files/{w.file}", {"attributes": {"kind": "txt", "year": 2024}}
    )
)
scenario("delete", "/vector_stores/{vector_store_id}/files/{file_id}")(
    lambda w: w.call(
        "DELETE",
        f"/vector_stores/{w.scratch}/files/{w.created('POST', f'/vector_stores/{w.scratch}/files', {'file_id': w.upload()})['id']}",
    )
)
scenario("get", "/vector_stores/{vector_store_id}/files/{file_id}/content")(
    lambda w: w.call("GET", f"/vector_stores/{w.store}/files/{w.file}/content")
)
scenario("post", "/vector_stores/{vector_store_id}/file_batches")(
    lambda w: w.call(
        "POST",
        f"/vector_stores/{w.scratch}/file_batches",
        {"files": [{"file_id": w.upload(), "attributes": {"x": True}}]},
    )
)
scenario("get", "/vector_stores/{vector_store_id}/file_batches/{batch_id}")(
    lambda w: w.call("GET", f"/vector_stores/{w.store}/file_batches/{w.batch}")
)
scenario("post", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")(
    lambda w: w.call(
        "POST",
        f"/vector_stores/{w.scratch}/file_batches/"
        f"{w.created('POST', f'/vector_stores/{w.scratch}/file_batches', {'file_ids': [w.upload()]})['id']}/cancel",
    )
)
scenario("get", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")(
    lambda w: w.call("GET", f"/vector_stores/{w.store}/file_batches/{w.batch}/files")
)

# Administration
scenario("get", "/organization/projects")(lambda w: w.call("GET", "/organization/projects"))
scenario("post", "/organization/projects")(
    lambda w: w.call("POST", "/organization/projects", {"name": "another"})
)
scenario("get", "/organization/projects/{project_id}")(
    lambda w: w.call("GET", f"/organization/projects/{w.project}")
)
scenario("post", "/organization/projects/{project_id}")(
    lambda w: w.call("POST", f"/organization/projects/{w.project}", {"name": "renamed"})
)
scenario("post", "/organization/projects/{project_id}/archive")(
    lambda w: w.call(
        "POST",
        f"/organization/projects/{w.created('POST', '/organization/projects', {'name': 'old'})['id']}/archive",
    )
)
scenario("get", "/organization/projects/{project_id}/service_accounts")(
    lambda w: w.call("GET", f"/organization/projects/{w.project}/service_accounts")
)
scenario("post", "/organization/projects/{project_id}/service_accounts")(
    lambda w: w.call("POST", f"/organization/projects/{w.project}/service_accounts", {"name": "bot"})
)
scenario("get", "/organization/projects/{project_id}/service_accounts/{service_account_id}")(
    lambda w: w.call("GET", f"/organization/projects/{w.project}/service_accounts/{w.service_account}")
)
scenario("delete", "/organization/projects/{project_id}/service_accounts/{service_account_id}")(
    lambda w: w.call(
        "DELETE",
        f"/organization/projects/{w.project}/service_accounts/"
        f"{w.created('POST', f'/organization/projects/{w.project}/service_accounts', {'name': 'tmp'})['id']}",
    )
)
scenario("get", "/organization/usage/vector_stores")(
    lambda w: w.call("GET", "/organization/usage/vector_stores", start_time=0)
)
scenario("get", "/organization/usage/file_search_calls")(
    lambda w: w.call("GET", "/organization/usage/file_search_calls", start_time=0)
)
scenario("get", "/organization/usage/code_interpreter_sessions")(
    lambda w: w.call("GET", "/organization/usage/code_interpreter_sessions", start_time=0)
)
scenario("get", "/organization/costs")(lambda w: w.call("GET", "/organization/costs", start_time=0))

# Assistants, threads, messages, runs, run steps
ASSISTANT = {
    "model": "gpt-4o",
    "name": "librarian",
    "instructions": "Answer from the files.",
    "tools": [{"type": "file_search"}],
}
scenario("post", "/assistants")(
    lambda w: w.call(
        "POST",
        "/assistants",
        {**ASSISTANT, "tool_resources": {"file_search": {"vector_store_ids": [w.store]}}},
    )
)
scenario("get", "/assistants")(lambda w: w.call("GET", "/assistants"))
scenario("get", "/assistants/{assistant_id}")(lambda w: w.call("GET", f"/assistants/{w.assistant}"))
scenario("post", "/assistants/{assistant_id}")(
    lambda w: w.call(
        "POST", f"/assistants/{w.assistant}", {"description": "Finds things.", "metadata": {"v": "2"}}
    )
)
scenario("delete", "/assistants/{assistant_id}")(
    lambda w: w.call("DELETE", f"/assistants/{w.created('POST', '/assistants', ASSISTANT)['id']}")
)
scenario("post", "/threads")(
    lambda w: w.call("POST", "/threads", {"messages": [{"role": "user", "content": QUESTION}]})
)
scenario("post", "/threads/runs")(
    lambda w: w.call(
        "POST",
        "/threads/runs",
        {"assistant_id": w.assistant, "thread": {"messages": [{"role": "user", "content": QUESTION}]}},
    )
)
scenario("get", "/threads/{thread_id}")(lambda w: w.call("GET", f"/threads/{w.thread}"))
scenario("post", "/threads/{thread_id}")(
    lambda w: w.call("POST", f"/threads/{w.thread}", {"metadata": {"topic": "football"}})
)
scenario("delete", "/threads/{thread_id}")(
    lambda w: w.call("DELETE", f"/threads/{w.created('POST', '/threads', {})['id']}")
)
scenario("post", "/threads/{thread_id}/messages")(
    lambda w: w.call(
        "POST",
        f"/threads/{w.created('POST', '/threads', {})['id']}/messages",
        {"role": "user", "content": "Hi"},
    )
)
scenario("get", "/threads/{thread_id}/messages")(lambda w: w.call("GET", f"/threads/{w.thread}/messages"))
scenario("get", "/threads/{thread_id}/messages/{message_id}")(
    lambda w: w.call("GET", f"/threads/{w.thread}/messages/{w.answer}")
)
scenario("post", "/threads/{thread_id}/messages/{message_id}")(
    lambda w: w.call("POST", f"/threads/{w.thread}/messages/{w.message}", {"metadata": {"seen": "yes"}})
)


def _delete_message(w: World) -> httpx.Response:
    thread = w.created("POST", "/threads", {})["id"]
    message = w.created("POST", f"/threads/{thread}/messages", {"role": "user", "content": "Bye"})["id"]
    return w.call("DELETE", f"/threads/{thread}/messages/{message}")


scenario("delete", "/threads/{thread_id}/messages/{message_id}")(_delete_message)


def _fresh_thread(w: World) -> str:
    return w.created("POST", "/threads", {"messages": [{"role": "user", "content": QUESTION}]})["id"]


scenario("post", "/threads/{thread_id}/runs")(
    lambda w: w.call(
        "POST", f"/threads/{_fresh_thread(w)}/runs", {"assistant_id": w.assistant, "metadata": {"n": "1"}}
    )
)
scenario("get", "/threads/{thread_id}/runs")(lambda w: w.call("GET", f"/threads/{w.thread}/runs"))
scenario("get", "/threads/{thread_id}/runs/{run_id}")(
    lambda w: w.call("GET", f"/threads/{w.thread}/runs/{w.run}")
)
scenario("post", "/threads/{thread_id}/runs/{run_id}")(
    lambda w: w.call("POST", f"/threads/{w.thread}/runs/{w.run}", {"metadata": {"checked": "yes"}})
)


def _cancel_run(w: World) -> httpx.Response:
    """Cancelling right after creating: a 200 if the run was still going, a 400 if it had finished."""
    thread = _fresh_thread(w)
    run = w.created("POST", f"/threads/{thread}/runs", {"assistant_id": w.assistant})
    return w.call("POST", f"/threads/{thread}/runs/{run['id']}/cancel")


scenario("post", "/threads/{thread_id}/runs/{run_id}/cancel")(_cancel_run)
scenario(
    "post",
    "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
    error_only="the built-in model never calls functions, so no run waits for tool outputs",
)(
    lambda w: w.call(
        "POST",
        f"/threads/{w.thread}/runs/{w.run}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]},
    )
)
scenario("get", "/threads/{thread_id}/runs/{run_id}/steps")(
    lambda w: w.http.get(
        f"/threads/{w.thread}/runs/{w.run}/steps",
        params={"include[]": "step_details.tool_calls[*].file_search.results[*].content"},
    )
)
scenario("get", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}")(
    lambda w: w.call("GET", f"/threads/{w.thread}/runs/{w.run}/steps/{w.step}")
)

# Responses and conversations


def RESPONSE_TOOLS(w: World) -> list[dict[str, Any]]:
    return [{"type": "file_search", "vector_store_ids": [w.store]}]


scenario("post", "/responses")(
    lambda w: w.call(
        "POST",
        "/responses",
        {
            "model": "gpt-4o",
            "input": QUESTION,
            "tools": RESPONSE_TOOLS(w),
            "include": ["file_search_call.results"],
        },
    )
)
scenario("get", "/responses/{response_id}")(lambda w: w.call("GET", f"/responses/{w.response}"))
scenario("delete", "/responses/{response_id}")(
    lambda w: w.call(
        "DELETE", f"/responses/{w.created('POST', '/responses', {'model': 'gpt-4o', 'input': 'Hello'})['id']}"
    )
)
scenario("get", "/responses/{response_id}/input_items")(
    lambda w: w.call("GET", f"/responses/{w.response}/input_items")
)
scenario("post", "/responses/{response_id}/cancel", error_only="only background responses can be cancelled")(
    lambda w: w.call("POST", f"/responses/{w.response}/cancel")
)
CONVERSATION_ITEM = {"type": "message", "role": "user", "content": QUESTION}
scenario("post", "/conversations")(
    lambda w: w.call("POST", "/conversations", {"items": [CONVERSATION_ITEM], "metadata": {"a": "b"}})
)
scenario("get", "/conversations/{conversation_id}")(
    lambda w: w.call("GET", f"/conversations/{w.conversation}")
)
scenario("post", "/conversations/{conversation_id}")(
    lambda w: w.call("POST", f"/conversations/{w.conversation}", {"metadata": {"topic": "football"}})
)
scenario("delete", "/conversations/{conversation_id}")(
    lambda w: w.call("DELETE", f"/conversations/{w.created('POST', '/conversations', {})['id']}")
)
scenario("post", "/conversations/{conversation_id}/items")(
    lambda w: w.call("POST", f"/conversations/{w.conversation}/items", {"items": [CONVERSATION_ITEM]})
)
scenario("get", "/conversations/{conversation_id}/items")(
    lambda w: w.call("GET", f"/conversations/{w.conversation}/items")
)
scenario("get", "/conversations/{conversation_id}/items/{item_id}")(
    lambda w: w.call("GET", f"/conversations/{w.conversation}/items/{w.item}")
)


def _delete_item(w: World) -> httpx.Response:
    conversation = w.created("POST", "/conversations", {"items": [CONVERSATION_ITEM]})
    item = w.created("GET", f"/conversations/{conversation['id']}/items")["data"][0]["id"]
    return w.call("DELETE", f"/conversations/{conversation['id']}/items/{item}")


scenario("delete", "/conversations/{conversation_id}/items/{item_id}")(_delete_item)

# Containers
scenario("post", "/containers")(lambda w: w.call("POST", "/containers", {"name": "c", "file_ids": [w.file]}))
scenario("get", "/containers")(lambda w: w.call("GET", "/containers", limit=2))
scenario("get", "/containers/{container_id}")(lambda w: w.call("GET", f"/containers/{w.container}"))
scenario("delete", "/containers/{container_id}")(
    lambda w: w.call("DELETE", f"/containers/{w.created('POST', '/containers', {'name': 'd'})['id']}")
)
scenario("post", "/containers/{container_id}/files")(
    lambda w: w.call("POST", f"/containers/{w.container}/files", {"file_id": w.file})
)
scenario("get", "/containers/{container_id}/files")(lambda w: w.call("GET", f"/containers/{w.container}/files"))
scenario("get", "/containers/{container_id}/files/{file_id}")(
    lambda w: w.call("GET", f"/containers/{w.container}/files/{w.container_file}")
)
scenario("get", "/containers/{container_id}/files/{file_id}/content")(
    lambda w: w.call("GET", f"/containers/{w.container}/files/{w.container_file}/content")
)
scenario("delete", "/containers/{container_id}/files/{file_id}")(
    lambda w: w.call(
        "DELETE",
        f"/containers/{w.container}/files/"
        + w.created("POST", f"/containers/{w.container}/files", {"file_id": w.file})["id"],
    )
)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def operations(server: Server) -> set[tuple[str, str]]:
    return implemented_operations(server)


@pytest.fixture(scope="module")
def world(server: Server, operations: set[tuple[str, str]]) -> Iterator[World]:
    headers = {"Authorization": f"Bearer {server.admin_key}", "OpenAI-Beta": "assistants=v2"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as http:
        w = World(http)
        w.ids["file"] = w.upload(DOCUMENT, (DOCS / DOCUMENT).read_bytes())
        store = w.created("POST", "/vector_stores", {"name": "conformance"})
        w.ids["store"] = store["id"]
        batch = w.created(
            "POST",
            f"/vector_stores/{w.store}/file_batches",
            {"files": [{"file_id": w.file, "attributes": {"kind": "txt"}}]},
        )
        w.ids["batch"] = batch["id"]
        w.ids["scratch"] = w.created("POST", "/vector_stores", {"name": "scratch"})["id"]
        wait_for_store(server.client(), w.store)
        w.ids["project"] = w.created("POST", "/organization/projects", {"name": "conformance"})["id"]
        w.ids["service_account"] = w.created(
            "POST", f"/organization/projects/{w.project}/service_accounts", {"name": "ci"}
        )["id"]
        if ("post", "/threads/runs") in operations:
            w.ids["assistant"] = w.created(
                "POST",
                "/assistants",
                {**ASSISTANT, "tool_resources": {"file_search": {"vector_store_ids": [w.store]}}},
            )["id"]
            thread = w.created("POST", "/threads", {"messages": [{"role": "user", "content": QUESTION}]})
            w.ids["thread"] = thread["id"]
            w.ids["message"] = w.created("GET", f"/threads/{w.thread}/messages")["data"][0]["id"]
            run = w.finished_run(
                w.thread, w.created("POST", f"/threads/{w.thread}/runs", {"assistant_id": w.assistant})
            )
            assert run["status"] == "completed", run
            w.ids["run"] = run["id"]
            w.ids["answer"] = w.created("GET", f"/threads/{w.thread}/messages", None)["data"][0]["id"]
            w.ids["step"] = w.created("GET", f"/threads/{w.thread}/runs/{w.run}/steps")["data"][0]["id"]
        if ("post", "/responses") in operations:
            w.ids["response"] = w.created(
                "POST", "/responses", {"model": "gpt-4o", "input": QUESTION, "tools": RESPONSE_TOOLS(w)}
            )["id"]
        if ("post", "/containers") in operations:
            w.ids["container"] = w.created("POST", "/containers", {"name": "world"})["id"]
            w.ids["container_file"] = w.created(
                "POST", f"/containers/{w.container}/files", {"file_id": w.file}
            )["id"]
        if ("post", "/conversations") in operations:
            conversation = w.created("POST", "/conversations", {"items": [CONVERSATION_ITEM]})
            w.ids["conversation"] = conversation["id"]
            w.ids["item"] = w.created("GET", f"/conversations/{w.conversation}/items")["data"][0]["id"]
        yield w


# --- tests ----------------------------------------------------------------------------------------


def test_every_implemented_operation_has_a_scenario(operations: set[tuple[str, str]]) -> None:
    assert len(operations) >= 50
    assert operations <= set(SCENARIOS), sorted(operations - set(SCENARIOS))


@pytest.mark.parametrize(
    ("method", "path"), sorted(SCENARIOS), ids=[f"{m.upper()} {p}" for m, p in sorted(SCENARIOS)]
)
def test_the_response_matches_the_spec(
    world: World, operations: set[tuple[str, str]], method: str, path: str
) -> None:
    if (method, path) not in operations:
        pytest.skip("not implemented yet")
    response = SCENARIOS[(method, path)](world)
    if (method, path) in ERROR_ONLY or (response.status_code == 400 and path.endswith("/cancel")):
        assert response.status_code in (400, 404), response.text
        assert_error_conforms(response)
        return
    assert response.status_code == 200, response.text
    if path == "/files/{file_id}/content":
        assert response.content == (DOCS / DOCUMENT).read_bytes()
        return
    content = spec()["paths"][path][method]["responses"]["200"].get("content")
    if content is None:
        return  # the spec declares no body (DELETE /responses/{id})
    media = next(iter(content))
    assert response.headers["content-type"].startswith(media), response.headers["content-type"]
    body = response.json()
    if path == "/vector_stores/{vector_store_id}/search":
        body = _without_page_extension(body)
    assert_conforms(body, _pointer("paths", path, method, "responses", "200", "content", media, "schema"))


def _without_page_extension(page: dict[str, Any]) -> dict[str, Any]:
    for result in page["data"]:
        for item in result["content"]:
            pages = (item.pop("page"), item.pop("page_end"))
            assert all(p is None or isinstance(p, int) for p in pages), pages
    return page


@pytest.mark.parametrize(("method", "path"), sorted(k for k in SCENARIOS if "{" in k[1]))
def test_an_unknown_id_is_a_404_in_the_error_envelope(
    world: World, operations: set[tuple[str, str]], method: str, path: str
) -> None:
    if (method, path) not in operations:
        pytest.skip("not implemented yet")
    concrete = re.sub(r"\{[^}]+\}", "nonexistent_0", path)
    response = world.call(method.upper(), concrete, {} if method == "post" else None)
    assert response.status_code in ((400, 404) if method == "post" else (404,)), response.text
    assert_error_conforms(response)


def test_a_request_without_a_key_is_a_401_in_the_error_envelope(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/vector_stores")
    assert response.status_code == 401
    assert_error_conforms(response)


def test_the_quirk_reader_resolves_the_recursive_filter() -> None:
    assert len(spec()["paths"]) == 182
    items = spec()["components"]["schemas"]["CompoundFilter"]["properties"]["filters"]["items"]
    assert items["oneOf"][1] == {"$ref": "#/components/schemas/CompoundFilter"}
    assert_conforms(
        {
            "type": "and",
            "filters": [
                {"type": "eq", "key": "a", "value": 1},
                {"type": "or", "filters": [{"type": "ne", "key": "b", "value": "x"}]},
            ],
        },
        _pointer("components", "schemas", "CompoundFilter"),
    )
