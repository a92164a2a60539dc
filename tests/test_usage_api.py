"""The organization Usage and Costs APIs (admins only): OpenAI's shapes, checked against openapi.yaml."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from retrievd.services.projects import ProjectService
from retrievd.store import db
from retrievd.usage import record_file_search
from tests.conftest import SHARED, Server, wait_for_store

JUNE_10 = 1749513600  # 2025-06-10T00:00:00Z
HOUR, DAY = 3600, 86400


@functools.cache
def openapi_components() -> dict[str, Any]:
    with open(SHARED / "openai" / "openapi.yaml") as f:
        return yaml.load(f, Loader=yaml.CSafeLoader)["components"]


def assert_valid(body: dict[str, Any], schema: str = "UsageResponse") -> None:
    root = {"$ref": f"#/components/schemas/{schema}", "components": openapi_components()}
    jsonschema.Draft202012Validator(root).validate(body)


class Clock:
    t = JUNE_10 + 9 * HOUR


@pytest.fixture(scope="module")
def clock() -> Iterator[type[Clock]]:
    db.set_clock(lambda: Clock.t)
    yield Clock
    db.set_clock(None)


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=60
    ) as c:
        yield c


@pytest.fixture(scope="module")
def stored(server: Server, clock: type[Clock]) -> dict[str, Any]:
    """One file stored from June 10, 09:00 UTC; then the clock moves to June 11, 21:00."""
    client = server.client()
    f = client.files.create(file=("notes.txt", b"Usage is billed per GB-day.\n" * 40), purpose="assistants")
    store = client.vector_stores.create(name="billed", file_ids=[f.id])
    store = wait_for_store(client, store.id)
    project_id = next(p.id for p in ProjectService(server.core.db).list_projects() if p.is_admin)  # type: ignore[attr-defined]
    Clock.t = JUNE_10 + DAY + 10 * HOUR
    record_file_search(server.core.db, project_id, [store.id])  # type: ignore[attr-defined]
    record_file_search(server.core.db, project_id, [store.id, store.id])  # type: ignore[attr-defined]
    Clock.t = JUNE_10 + DAY + 21 * HOUR
    return {"store": store, "project_id": project_id}


def test_vector_store_usage_is_the_mean_of_the_bytes_stored_in_each_bucket(
    admin: httpx.Client, stored: dict
) -> None:
    size, project_id = stored["store"].usage_bytes, stored["project_id"]
    r = admin.get(
        "/organization/usage/vector_stores", params={"start_time": JUNE_10, "group_by": "project_id"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid(body)
    first, second = body["data"]
    assert (first["start_time"], first["end_time"], second["end_time"]) == (
        JUNE_10,
        JUNE_10 + DAY,
        JUNE_10 + 2 * DAY,
    )
    # Stored from 09:00 on day one: 15 of its 24 hours. Day two is 21 hours old, all of them stored.
    assert first["results"] == [
        {
            "object": "organization.usage.vector_stores.result",
            "usage_bytes": size * 15 // 24,
            "project_id": project_id,
        }
    ]
    assert second["results"][0]["usage_bytes"] == size
    assert body["has_more"] is False and body["next_page"] is None


def test_hourly_buckets_page_with_a_cursor(admin: httpx.Client, stored: dict) -> None:
    size = stored["store"].usage_bytes
    params = {
        "start_time": JUNE_10 + 8 * HOUR,
        "end_time": JUNE_10 + 12 * HOUR,
        "bucket_width": "1h",
        "limit": 3,
    }
    page1 = admin.get("/organization/usage/vector_stores", params=params).json()
    assert_valid(page1)
    assert [b["results"][0]["usage_bytes"] for b in page1["data"]] == [0, size, size]
    assert page1["has_more"] is True
    page2 = admin.get(
        "/organization/usage/vector_stores", params={**params, "page": page1["next_page"]}
    ).json()
    assert_valid(page2)
    assert [b["start_time"] for b in page2["data"]] == [JUNE_10 + 11 * HOUR]
    assert page2["has_more"] is False


def test_costs_by_project_and_line_item(admin: httpx.Client, stored: dict) -> None:
    size, project_id = stored["store"].usage_bytes, stored["project_id"]
    r = admin.get(
        "/organization/costs", params={"start_time": JUNE_10, "group_by": ["project_id", "line_item"]}
    )
    body = r.json()
    assert_valid(body)
    [result] = body["data"][0]["results"]
    assert result["object"] == "organization.costs.result"
    assert result["project_id"] == project_id and result["line_item"] == "vector store storage"
    assert result["quantity"] == pytest.approx(size * 15 * HOUR / 1e9 / DAY)  # GB-days
    assert result["amount"] == {"value": 0.0, "currency": "usd"}  # under the 1 GB free allowance
    ungrouped = admin.get("/organization/costs", params={"start_time": JUNE_10}).json()
    assert_valid(ungrouped)
    assert ungrouped["data"][0]["results"][0]["project_id"] is None


def test_file_search_calls_are_counted_per_call_and_per_store(admin: httpx.Client, stored: dict) -> None:
    store_id = stored["store"].id
    params: dict[str, Any] = {"start_time": JUNE_10 + DAY}
    total = admin.get("/organization/usage/file_search_calls", params=params).json()
    assert_valid(total)
    assert total["data"][0]["results"][0]["num_requests"] == 2
    by_store = admin.get(
        "/organization/usage/file_search_calls", params={**params, "group_by": "vector_store_id"}
    ).json()
    assert_valid(by_store)
    [result] = by_store["data"][0]["results"]
    assert (result["vector_store_id"], result["num_requests"]) == (store_id, 2)


def test_project_keys_are_refused(server: Server, stored: dict) -> None:
    _, _, key = ProjectService(server.core.db).create_service_account(stored["project_id"], "member")  # type: ignore[attr-defined]
    r = httpx.get(
        f"{server.base_url}/organization/costs",
        params={"start_time": JUNE_10},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "insufficient_permissions"


@pytest.mark.parametrize(
    "params, param",
    [
        ({}, "start_time"),
        ({"start_time": JUNE_10, "bucket_width": "2d"}, "bucket_width"),
        ({"start_time": JUNE_10, "limit": 32}, "limit"),
        ({"start_time": JUNE_10, "end_time": JUNE_10}, "start_time"),
        ({"start_time": JUNE_10, "group_by": "api_key_id"}, "group_by"),
        ({"start_time": JUNE_10, "page": "tomorrow"}, "page"),
        ({"start_time": JUNE_10, "page": "\u00b3"}, "page"),  # a digit to str.isdigit, not to int() (the fuzzer)
        ({"start_time": 0, "end_time": 10**20}, "end_time"),
        ({"start_time": 10**20}, "start_time"),
    ],
)
def test_bad_parameters_get_openai_errors(
    admin: httpx.Client, clock: type[Clock], params: dict, param: str
) -> None:
    r = admin.get("/organization/usage/vector_stores", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param


@pytest.mark.parametrize("path", ["usage/vector_stores", "usage/file_search_calls", "costs"])
def test_a_window_of_millennia_builds_only_its_first_page(admin: httpx.Client, clock: type[Clock], path: str) -> None:
    """Found by the fuzzer: every bucket from 1970 to year 9999 was built before the page was cut, and
    in 1m buckets that is 4 billion of them, enough to exhaust the machine's memory."""
    width = "1d" if path == "costs" else "1m"
    params = {"start_time": 0, "end_time": 253_402_300_799, "bucket_width": width, "limit": 2}
    body = admin.get(f"/organization/{path}", params=params).json()
    assert_valid(body)
    assert [b["start_time"] for b in body["data"]] == ([0, 86_400] if path == "costs" else [0, 60])
    assert body["has_more"] is True


def test_usage_can_be_grouped_by_store(admin: httpx.Client, stored: dict) -> None:
    """A retrievd extension the console charts: bytes per store over time."""
    params = {"start_time": JUNE_10, "group_by": "vector_store_id"}
    page = admin.get("/organization/usage/vector_stores", params=params).json()
    assert_valid(page)
    results = [r for b in page["data"] for r in b["results"]]
    assert results and {r["vector_store_id"] for r in results} == {stored["store"].id}
    total = admin.get("/organization/usage/vector_stores", params={"start_time": JUNE_10}).json()
    assert sum(r["usage_bytes"] for b in total["data"] for r in b["results"]) == sum(r["usage_bytes"] for r in results)
