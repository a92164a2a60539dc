"""Tenants stay apart: another project's key sees none of a project's objects, non-admin keys no admin route.

Project A makes one object of every type (files, stores, store files, batches, assistants, threads,
messages, runs, run steps, responses, conversations, conversation items). Project B's key then tries
every operation on each of them, and every way of naming them inside its own requests: each is the
same 404 as for an id that never existed, and A's objects are untouched afterwards. Keys are kept as
sha256 digests and looked up by digest, never compared as secrets byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from retrievd.services import projects
from tests.conftest import Server, wait_for_store

QUESTION = "Who owns Norwich City football club?"
NOTE = b"Norwich City is owned by Delia Smith and Michael Wynn-Jones. The club plays at Carrow Road."


def new_project_key(server: Server, name: str) -> str:
    """A fresh project and a service-account key for it, made through the admin API."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    project = httpx.post(
        f"{server.base_url}/organization/projects", json={"name": name}, headers=admin
    ).json()
    account = httpx.post(
        f"{server.base_url}/organization/projects/{project['id']}/service_accounts",
        json={"name": name},
        headers=admin,
    ).json()
    return account["api_key"]["value"]


@dataclass
class Tenant:
    key: str
    http: httpx.Client

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        response = self.http.request(method, path, json=body, params=params or None)
        assert response.status_code == 200, (method, path, response.text)
        return response.json()


def _tenant(server: Server, name: str) -> Tenant:
    key = new_project_key(server, name)
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    return Tenant(key, httpx.Client(base_url=server.base_url, headers=headers, timeout=120))


@pytest.fixture(scope="module")
def tenants(server: Server) -> Iterator[tuple[Tenant, Tenant, dict[str, str]]]:
    """Projects A and B, and one of each of A's objects (ids by name)."""
    a, b = _tenant(server, "A"), _tenant(server, "B")
    ids: dict[str, str] = {}
    ids["file"] = a.http.post(
        "/files", files={"file": ("club.txt", NOTE)}, data={"purpose": "assistants"}
    ).json()["id"]
    ids["store"] = a.ok("POST", "/vector_stores", {"name": "A's store"})["id"]
    ids["batch"] = a.ok("POST", f"/vector_stores/{ids['store']}/file_batches", {"file_ids": [ids["file"]]})[
        "id"
    ]
    wait_for_store(server.client(a.key), ids["store"])
    ids["assistant"] = a.ok(
        "POST",
        "/assistants",
        {
            "model": "gpt-4o",
            "tools": [{"type": "file_search"}],
            "tool_resources": {"file_search": {"vector_store_ids": [ids["store"]]}},
        },
    )["id"]
    ids["thread"] = a.ok("POST", "/threads", {"messages": [{"role": "user", "content": QUESTION}]})["id"]
    ids["message"] = a.ok("GET", f"/threads/{ids['thread']}/messages")["data"][0]["id"]
    run = a.ok("POST", f"/threads/{ids['thread']}/runs", {"assistant_id": ids["assistant"]})
    while run["status"] in ("queued", "in_progress"):
        run = a.ok("GET", f"/threads/{ids['thread']}/runs/{run['id']}")
    assert run["status"] == "completed", run
    ids["run"] = run["id"]
    ids["step"] = a.ok("GET", f"/threads/{ids['thread']}/runs/{ids['run']}/steps")["data"][0]["id"]
    ids["response"] = a.ok(
        "POST",
        "/responses",
        {
            "model": "gpt-4o",
            "input": QUESTION,
            "tools": [{"type": "file_search", "vector_store_ids": [ids["store"]]}],
        },
    )["id"]
    ids["conversation"] = a.ok(
        "POST", "/conversations", {"items": [{"type": "message", "role": "user", "content": QUESTION}]}
    )["id"]
    ids["item"] = a.ok("GET", f"/conversations/{ids['conversation']}/items")["data"][0]["id"]
    yield a, b, ids
    a.http.close()
    b.http.close()


# (object type, method, path, body): every operation B might try on A's objects, by id.
DIRECT = [
    ("file", "GET", "/files/{file}", None),
    ("file", "GET", "/files/{file}/content", None),
    ("file", "DELETE", "/files/{file}", None),
    ("store", "GET", "/vector_stores/{store}", None),
    ("store", "POST", "/vector_stores/{store}", {"name": "mine now"}),
    ("store", "DELETE", "/vector_stores/{store}", None),
    ("store", "POST", "/vector_stores/{store}/search", {"query": QUESTION}),
    ("store", "GET", "/vector_stores/{store}/files", None),
    ("store file", "GET", "/vector_stores/{store}/files/{file}", None),
    ("store file", "POST", "/vector_stores/{store}/files/{file}", {"attributes": {"owner": "B"}}),
    ("store file", "GET", "/vector_stores/{store}/files/{file}/content", None),
    ("store file", "DELETE", "/vector_stores/{store}/files/{file}", None),
    ("batch", "GET", "/vector_stores/{store}/file_batches/{batch}", None),
    ("batch", "GET", "/vector_stores/{store}/file_batches/{batch}/files", None),
    ("batch", "POST", "/vector_stores/{store}/file_batches/{batch}/cancel", None),
    ("assistant", "GET", "/assistants/{assistant}", None),
    ("assistant", "POST", "/assistants/{assistant}", {"name": "mine now"}),
    ("assistant", "DELETE", "/assistants/{assistant}", None),
    ("thread", "GET", "/threads/{thread}", None),
    ("thread", "POST", "/threads/{thread}", {"metadata": {"owner": "B"}}),
    ("thread", "DELETE", "/threads/{thread}", None),
    ("thread", "POST", "/threads/{thread}/messages", {"role": "user", "content": "hello from B"}),
    ("thread", "GET", "/threads/{thread}/messages", None),
    ("thread", "GET", "/threads/{thread}/runs", None),
    ("message", "GET", "/threads/{thread}/messages/{message}", None),
    ("message", "POST", "/threads/{thread}/messages/{message}", {"metadata": {"owner": "B"}}),
    ("message", "DELETE", "/threads/{thread}/messages/{message}", None),
    ("run", "GET", "/threads/{thread}/runs/{run}", None),
    ("run", "POST", "/threads/{thread}/runs/{run}", {"metadata": {"owner": "B"}}),
    ("run", "POST", "/threads/{thread}/runs/{run}/cancel", None),
    (
        "run",
        "POST",
        "/threads/{thread}/runs/{run}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]},
    ),
    ("run", "GET", "/threads/{thread}/runs/{run}/steps", None),
    ("run step", "GET", "/threads/{thread}/runs/{run}/steps/{step}", None),
    ("response", "GET", "/responses/{response}", None),
    ("response", "GET", "/responses/{response}/input_items", None),
    ("response", "POST", "/responses/{response}/cancel", None),
    ("response", "DELETE", "/responses/{response}", None),
    ("conversation", "GET", "/conversations/{conversation}", None),
    ("conversation", "POST", "/conversations/{conversation}", {"metadata": {"owner": "B"}}),
    ("conversation", "DELETE", "/conversations/{conversation}", None),
    ("conversation", "GET", "/conversations/{conversation}/items", None),
    (
        "conversation",
        "POST",
        "/conversations/{conversation}/items",
        {"items": [{"type": "message", "role": "user", "content": "hi"}]},
    ),
    ("conversation item", "GET", "/conversations/{conversation}/items/{item}", None),
    ("conversation item", "DELETE", "/conversations/{conversation}/items/{item}", None),
]

# (object type, method, path, body): B naming A's objects inside its own requests.
REFERENCES = [
    ("file", "POST", "/vector_stores", {"file_ids": ["{file}"]}),
    ("file", "POST", "/vector_stores/{b_store}/files", {"file_id": "{file}"}),
    ("file", "POST", "/vector_stores/{b_store}/file_batches", {"file_ids": ["{file}"]}),
    ("file", "POST", "/vector_stores/{b_store}/file_batches", {"files": [{"file_id": "{file}"}]}),
    (
        "store",
        "POST",
        "/assistants",
        {"model": "gpt-4o", "tool_resources": {"file_search": {"vector_store_ids": ["{store}"]}}},
    ),
    ("store", "POST", "/threads", {"tool_resources": {"file_search": {"vector_store_ids": ["{store}"]}}}),
    (
        "store",
        "POST",
        "/responses",
        {
            "model": "gpt-4o",
            "input": QUESTION,
            "tools": [{"type": "file_search", "vector_store_ids": ["{store}"]}],
        },
    ),
    ("assistant", "POST", "/threads/{b_thread}/runs", {"assistant_id": "{assistant}"}),
    ("assistant", "POST", "/threads/runs", {"assistant_id": "{assistant}"}),
    (
        "response",
        "POST",
        "/responses",
        {"model": "gpt-4o", "input": "and?", "previous_response_id": "{response}"},
    ),
    (
        "conversation",
        "POST",
        "/responses",
        {"model": "gpt-4o", "input": "and?", "conversation": "{conversation}"},
    ),
]


def _fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
    if isinstance(template, list):
        return [_fill(v, ids) for v in template]
    if isinstance(template, dict):
        return {k: _fill(v, ids) for k, v in template.items()}
    return template


def _assert_not_found(response: httpx.Response, statuses: tuple[int, ...] = (404,)) -> None:
    assert response.status_code in statuses, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (
        "A's" not in response.text and "Norwich" not in response.text
    )  # nothing of A's leaks into the message


@pytest.mark.parametrize(
    ("kind", "method", "path", "body"), DIRECT, ids=[f"{k}: {m} {p}" for k, m, p, _ in DIRECT]
)
def test_another_projects_key_gets_404_for_every_operation(
    tenants: tuple[Tenant, Tenant, dict[str, str]], kind: str, method: str, path: str, body: Any
) -> None:
    _, b, ids = tenants
    theirs = b.http.request(method, _fill(path, ids), json=body)
    never_existed = b.http.request(
        method, _fill(path, {k: f"{v[:4]}doesnotexist" for k, v in ids.items()}), json=body
    )
    _assert_not_found(theirs)
    assert theirs.status_code == never_existed.status_code  # indistinguishable from an id that never existed


@pytest.mark.parametrize(
    ("kind", "method", "path", "body"), REFERENCES, ids=[f"{k} in {m} {p}" for k, m, p, _ in REFERENCES]
)
def test_another_projects_ids_inside_a_request_are_not_found(
    tenants: tuple[Tenant, Tenant, dict[str, str]], kind: str, method: str, path: str, body: Any
) -> None:
    _, b, ids = tenants
    own = {
        **ids,
        "b_store": b.ok("POST", "/vector_stores", {"name": "B's store"})["id"],
        "b_thread": b.ok("POST", "/threads", {"messages": [{"role": "user", "content": QUESTION}]})["id"],
    }
    _assert_not_found(b.http.request(method, _fill(path, own), json=_fill(body, own)), statuses=(400, 404))


def test_lists_show_only_the_callers_objects(tenants: tuple[Tenant, Tenant, dict[str, str]]) -> None:
    a, b, ids = tenants
    for path in ("/files", "/vector_stores", "/assistants"):
        assert ids["file"] not in str(b.ok("GET", path)), path
    assert {f["id"] for f in a.ok("GET", "/files")["data"]} >= {ids["file"]}
    assert (
        b.ok(
            "POST", f"/vector_stores/{b.ok('POST', '/vector_stores', {})['id']}/search", {"query": QUESTION}
        )["data"]
        == []
    )


def test_the_owners_objects_are_intact_after_the_attempts(
    tenants: tuple[Tenant, Tenant, dict[str, str]],
) -> None:
    """Runs after the attempts above (pytest keeps file order): nothing B tried changed A's data."""
    a, _, ids = tenants
    assert a.ok("GET", f"/vector_stores/{ids['store']}")["name"] == "A's store"
    assert a.ok("GET", f"/vector_stores/{ids['store']}/files/{ids['file']}")["attributes"] == {}
    hits = a.ok("POST", f"/vector_stores/{ids['store']}/search", {"query": QUESTION})["data"]
    assert hits and hits[0]["file_id"] == ids["file"]
    assert a.ok("GET", f"/vector_stores/{ids['store']}/file_batches/{ids['batch']}")["status"] == "completed"
    assert a.ok("GET", f"/assistants/{ids['assistant']}")["name"] is None
    assert a.ok("GET", f"/threads/{ids['thread']}")["metadata"] == {}
    assert len(a.ok("GET", f"/threads/{ids['thread']}/messages")["data"]) == 2  # the question and the answer
    assert a.ok("GET", f"/threads/{ids['thread']}/runs/{ids['run']}")["metadata"] == {}
    assert a.ok("GET", f"/responses/{ids['response']}")["status"] == "completed"
    assert a.ok("GET", f"/conversations/{ids['conversation']}")["metadata"] == {}
    assert [i["id"] for i in a.ok("GET", f"/conversations/{ids['conversation']}/items")["data"]] == [
        ids["item"]
    ]


# --- admin routes -------------------------------------------------------------------------------------


def _admin_operations(server: Server) -> list[tuple[str, str]]:
    document = httpx.get(server.base_url.removesuffix("/v1") + "/openapi.json").json()
    return sorted(
        (method.upper(), re.sub(r"\{\w+\}", "proj_x", path))
        for path, item in document["paths"].items()
        if path.startswith("/v1/organization/")
        for method in item
    )


def test_a_project_key_gets_403_on_every_admin_route(
    server: Server, tenants: tuple[Tenant, Tenant, dict[str, str]]
) -> None:
    _, b, _ = tenants
    operations = _admin_operations(server)
    assert len(operations) >= 12
    for method, path in operations:
        response = b.http.request(
            method, path.removeprefix("/v1"), json={"name": "x"} if method == "POST" else None
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["type"] == "permission_error"


# --- keys ---------------------------------------------------------------------------------------------


def test_keys_are_stored_as_sha256_digests_only(
    server: Server, tenants: tuple[Tenant, Tenant, dict[str, str]]
) -> None:
    from retrievd.store.db import Base
    from retrievd.store.models import ApiKey

    a, b, _ = tenants
    keys = (server.admin_key, a.key, b.key)
    core = server.core
    with core.db.session() as s:  # type: ignore[attr-defined]
        digests = set(s.execute(select(ApiKey.key_hash)).scalars())
        rows = [repr(tuple(row)) for table in Base.metadata.sorted_tables for row in s.execute(select(table))]
    for key in keys:
        assert hashlib.sha256(key.encode()).hexdigest() in digests
        assert not [row for row in rows if key in row]  # in no column of any table
    for path in core.settings.data_dir.glob("retrievd.db*"):  # type: ignore[attr-defined]
        stored = path.read_bytes()  # SQLite's own files, write-ahead log included
        for key in keys:
            assert key.encode() not in stored, path.name


def test_a_key_is_checked_by_digest_in_constant_time(
    server: Server, tenants: tuple[Tenant, Tenant, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, _ = tenants
    compared: list[tuple[str, str]] = []
    compare_digest = hmac.compare_digest

    def spy(x: str, y: str) -> bool:
        compared.append((x, y))
        return compare_digest(x, y)

    monkeypatch.setattr(projects.hmac, "compare_digest", spy)
    assert (
        httpx.get(f"{server.base_url}/files", headers={"Authorization": f"Bearer {a.key}"}).status_code == 200
    )
    assert compared and all(len(x) == len(y) == 64 for x, y in compared)  # digests, never the key itself
    near_miss = a.key[:-1] + ("A" if a.key[-1] != "A" else "B")
    assert (
        httpx.get(f"{server.base_url}/files", headers={"Authorization": f"Bearer {near_miss}"}).status_code
        == 401
    )
