"""Expiration through the SDK: `expires_after` on stores (anchor last_active_at) and on files.

The service's clock is injected, so "three days later" takes no time; the server's own scheduler
thread (swept every 0.2 s here) does the expiring, as in production.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from retrievd.store import db
from tests.conftest import Server, start_server, wait_for_store

T0 = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400


class Clock:
    t = T0


@pytest.fixture(scope="module")
def server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db.set_clock(lambda: Clock.t)
    try:
        yield from start_server(tmp_path_factory.mktemp("data"), expiration_interval_s=0.2)
    finally:
        db.set_clock(None)


def eventually(check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not (result := check()):
        if time.time() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)
    return result


def upload(client, name: str, **kwargs):  # type: ignore[no-untyped-def]
    return client.files.create(
        file=(name, f"{name}: the harbour opens at dawn.\n".encode() * 30), purpose="assistants", **kwargs
    )


def test_a_store_expires_days_after_its_last_activity(client) -> None:  # type: ignore[no-untyped-def]
    Clock.t = T0
    f = upload(client, "harbour.txt")
    store = client.vector_stores.create(
        name="tides", file_ids=[f.id], expires_after={"anchor": "last_active_at", "days": 2}
    )
    assert (store.last_active_at, store.expires_at) == (T0, T0 + 2 * DAY)
    store = wait_for_store(client, store.id)
    assert store.usage_bytes > 0

    Clock.t = T0 + DAY + 5
    client.vector_stores.search(store.id, query="when does the harbour open?")
    store = client.vector_stores.retrieve(store.id)
    assert (store.last_active_at, store.expires_at) == (T0 + DAY + 5, T0 + 3 * DAY + 5)

    Clock.t = T0 + 3 * DAY + 5
    expired = eventually(lambda: (s := client.vector_stores.retrieve(store.id)).status == "expired" and s)
    assert (expired.name, expired.usage_bytes, expired.file_counts.total) == ("tides", 0, 1)
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.search(store.id, query="harbour")
    assert e.value.code == "vector_store_expired"
    assert "expired" in e.value.message
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.create(vector_store_id=store.id, file_id=upload(client, "late.txt").id)
    assert client.vector_stores.files.retrieve(f.id, vector_store_id=store.id).usage_bytes == 0


def test_an_expired_store_has_its_index_points_purged(server: Server, client) -> None:  # type: ignore[no-untyped-def]
    Clock.t = T0 + 10 * DAY
    store = client.vector_stores.create(
        name="brief",
        file_ids=[upload(client, "brief.txt").id],
        expires_after={"anchor": "last_active_at", "days": 1},
    )
    wait_for_store(client, store.id)
    core = server.core
    assert core.index.count(store.id) > 0  # type: ignore[attr-defined]
    Clock.t += DAY
    eventually(lambda: client.vector_stores.retrieve(store.id).status == "expired")
    eventually(lambda: core.index.count(store.id) == 0)  # type: ignore[attr-defined]


def test_a_file_past_its_own_expiry_is_deleted_from_its_stores(client) -> None:  # type: ignore[no-untyped-def]
    Clock.t = T0 + 20 * DAY
    keep, brief = (
        upload(client, "keep.txt"),
        upload(client, "brief.txt", expires_after={"anchor": "created_at", "seconds": 3600}),
    )
    assert brief.expires_at == Clock.t + 3600
    store = wait_for_store(client, client.vector_stores.create(name="mixed", file_ids=[keep.id, brief.id]).id)
    kept = client.vector_stores.files.retrieve(keep.id, vector_store_id=store.id).usage_bytes

    Clock.t += 3600
    eventually(lambda: client.vector_stores.retrieve(store.id).file_counts.total == 1)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(brief.id)
    assert client.vector_stores.retrieve(store.id).usage_bytes == kept
    assert client.vector_stores.retrieve(store.id).status == "completed"


@pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")
def test_every_use_openai_counts_moves_last_active_at_and_the_expiry_with_it(client) -> None:  # type: ignore[no-untyped-def]
    """The operations listed in docs/openai-behaviour.md move it; reading a store does not."""
    Clock.t = T0 + 30 * DAY
    store = client.vector_stores.create(name="active", expires_after={"anchor": "last_active_at", "days": 2})
    files = [upload(client, f"active-{n}.txt") for n in range(4)]
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    uses = {
        "attach a file": lambda: client.vector_stores.files.create(
            vector_store_id=store.id, file_id=files[0].id
        ),
        "create a file batch": lambda: client.vector_stores.file_batches.create(
            vector_store_id=store.id, file_ids=[files[1].id, files[2].id]
        ),
        "search": lambda: client.vector_stores.search(store.id, query="when does the harbour open?"),
        "change a file's attributes": lambda: client.vector_stores.files.update(
            files[0].id, vector_store_id=store.id, attributes={"k": "v"}
        ),
        "a response's file_search": lambda: client.responses.create(
            model="gpt-4o",
            input="When does the harbour open?",
            tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        ),
        "an assistants run's file_search": lambda: client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": "When does the harbour open?"}]},
            poll_interval_ms=50,
        ),
        "remove a file": lambda: client.vector_stores.files.delete(files[1].id, vector_store_id=store.id),
        "delete a file in the store": lambda: client.files.delete(files[2].id),
        "modify the store": lambda: client.vector_stores.update(store.id, name="still active"),
    }
    for what, use in uses.items():
        Clock.t += 60
        use()
        if what == "create a file batch":
            wait_for_store(client, store.id)
        seen = client.vector_stores.retrieve(store.id)
        assert (seen.last_active_at, seen.expires_at) == (Clock.t, Clock.t + 2 * DAY), what

    active = Clock.t
    Clock.t += 60
    client.vector_stores.retrieve(store.id)
    client.vector_stores.list()
    client.vector_stores.files.list(store.id)
    client.vector_stores.files.content(files[0].id, vector_store_id=store.id)
    seen = client.vector_stores.retrieve(store.id)
    assert (seen.last_active_at, seen.expires_at) == (active, active + 2 * DAY)
