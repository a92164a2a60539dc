"""Limits: per-key rate limits (429 + Retry-After), body and query sizes, files per store and per batch.

Each limit answers with OpenAI's error envelope before the route does any work, and a request the
limit refuses leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from retrievd.api.limits import RateLimiter
from tests.conftest import Server, start_server

PER_MINUTE = 4


@pytest.fixture(scope="module")
def limited(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("limited"), rate_limit_per_minute=PER_MINUTE)


@pytest.fixture(scope="module")
def small(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(
        tmp_path_factory.mktemp("small"),
        rate_limit_per_minute=0,
        max_request_body_bytes=65536,
        max_query_bytes=512,
        max_upload_bytes=1000,
        max_files_per_store=3,
    )


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- rate limits ------------------------------------------------------------------------------------


def test_the_request_past_the_per_minute_limit_gets_429_with_retry_after(limited: Server) -> None:
    admin = limited.client()  # its own bucket, used once below
    key = "sk-not-a-real-key"  # rate limits apply before authentication: guessing keys is throttled too
    headers = {"Authorization": f"Bearer {key}"}
    statuses = [
        httpx.get(f"{limited.base_url}/files", headers=headers).status_code for _ in range(PER_MINUTE)
    ]
    assert statuses == [401] * PER_MINUTE

    refused = httpx.get(f"{limited.base_url}/files", headers=headers)
    assert refused.status_code == 429
    error = _error(refused)
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert f"limit {PER_MINUTE}" in error["message"]

    assert admin.files.list().data == []  # another key is not throttled by this one
    assert httpx.get(limited.base_url.removesuffix("/v1") + "/health").status_code == 200  # nor is /health


def test_the_sdk_sees_a_rate_limit_error_and_the_remaining_budget(limited: Server) -> None:
    from tests.test_isolation import new_project_key

    key = new_project_key(limited, "rate-limited")
    client = limited.client(key)
    page = client.files.with_raw_response.list()
    assert int(page.headers["x-ratelimit-limit-requests"]) == PER_MINUTE
    assert int(page.headers["x-ratelimit-remaining-requests"]) == PER_MINUTE - 1
    for _ in range(PER_MINUTE - 1):
        client.files.list()
    with pytest.raises(openai.RateLimitError) as e:
        client.files.list()
    assert e.value.code == "rate_limit_exceeded"


def test_a_bucket_refills_at_the_per_minute_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.take("k")[0] == 0 for _ in range(60))  # a minute's worth at once
    wait, remaining = limiter.take("k")
    assert remaining == 0 and wait == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.take("k")[0] == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("k") == (0.0, 0)
    assert limiter.take("other")[0] == 0


def test_the_limiter_forgets_idle_callers_to_stay_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0], max_callers=100)
    for n in range(1000):
        limiter.take(f"caller-{n}")
        now[0] += 0.1
    assert len(limiter._buckets) <= 100


# --- sizes --------------------------------------------------------------------------------------------


def test_a_json_body_over_the_limit_is_413_before_parsing(small: Server) -> None:
    client = small.client()
    with pytest.raises(openai.APIStatusError) as e:
        client.vector_stores.create(name="x" * 100_000)
    assert e.value.status_code == 413
    error = _error(e.value.response)
    assert error["code"] == "request_too_large" and "65536" in error["message"]
    assert client.vector_stores.list().data == []


def test_a_streamed_body_without_content_length_is_cut_off_too(small: Server) -> None:
    body = json.dumps({"name": "y" * 100_000}).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 10_000):
            yield body[i : i + 10_000]

    response = httpx.post(
        f"{small.base_url}/vector_stores",
        content=chunks(),
        headers={"Authorization": f"Bearer {small.admin_key}", "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"
    assert small.client().vector_stores.list().data == []


def test_a_streamed_upload_over_the_file_limit_is_413_and_stores_nothing(small: Server) -> None:
    boundary = "retrievd-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(3000):  # 3 MB: past the 1000-byte limit plus the 1 MiB allowed for form fields
            yield b"z" * 1000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        f"{small.base_url}/files",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {small.admin_key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "file_too_large" and error["param"] == "file"
    assert small.client().files.list().data == []
    assert list(small.core.settings.blobs_dir.iterdir()) == []  # type: ignore[attr-defined]


def test_a_query_string_over_the_limit_is_414(small: Server) -> None:
    response = httpx.get(
        f"{small.base_url}/vector_stores",
        params={"after": "vs_" + "a" * 600},
        headers={"Authorization": f"Bearer {small.admin_key}"},
    )
    assert response.status_code == 414
    assert _error(response)["code"] == "query_too_long"


# --- files per store and per batch (OpenAI's numbers, OpenAI's 400) -------------------------------------


def test_a_batch_names_at_most_2000_files_and_a_new_store_at_most_500(small: Server) -> None:
    client = small.client()
    store = client.vector_stores.create(name="batch limits")
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.file_batches.create(store.id, file_ids=[f"file-{n}" for n in range(2001)])
    assert e.value.code == "array_above_max_length" and e.value.param == "file_ids"
    assert "maximum length 2000, but got an array with length 2001" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.create(file_ids=[f"file-{n}" for n in range(501)])
    assert e.value.code == "array_above_max_length" and e.value.param == "file_ids"
    assert [s.id for s in client.vector_stores.list().data] == [store.id]


def test_a_store_holds_at_most_max_files_per_store(small: Server) -> None:
    client = small.client()
    files = [
        client.files.create(file=(f"{n}.txt", f"note {n}".encode()), purpose="assistants") for n in range(5)
    ]
    store = client.vector_stores.create(name="full", file_ids=[f.id for f in files[:2]])
    client.vector_stores.files.create(store.id, file_id=files[2].id)
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.files.create(store.id, file_id=files[3].id)
    assert e.value.param == "file_id" and "at most 3 files" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.file_batches.create(store.id, file_ids=[files[3].id, files[4].id])
    assert e.value.param == "file_ids"
    client.vector_stores.files.create(store.id, file_id=files[0].id)  # re-adding a file takes no new place
    assert client.vector_stores.retrieve(store.id).file_counts.total == 3


def test_a_search_takes_at_most_20_queries_of_4096_characters(small: Server) -> None:
    """Each query is embedded and encoded inside the request: unbounded ones would hold the server for minutes."""
    client = small.client()
    store = client.vector_stores.create(name="queries")
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.search(store.id, query="q" * 4097)
    assert e.value.code == "string_above_max_length" and e.value.param == "query"
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.search(store.id, query=["q"] * 21)
    assert e.value.code == "array_above_max_length" and e.value.param == "query"
    assert client.vector_stores.search(store.id, query="q" * 4096).data == []
    assert client.vector_stores.search(store.id, query=["q"] * 20).data == []
