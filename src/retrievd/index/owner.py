"""One embedded index, many processes: the process that owns the index serves its reads to the others.

A Qdrant Edge shard is opened by one process at a time. In a scale-out deployment on the embedded
index, that process (a `retrievd serve` without RETRIEVD_INDEX_OWNER_URL) is the owner: it applies
every index job, and answers, on the internal routes below, the reads of the other API replicas.
They embed their queries themselves and send a ready `IndexQuery`, so the owner runs only the
engine's part (milliseconds). Writes never travel this way: they go through the database (chunk
rows and index jobs, see `retrievd.ingest.pipeline`), so nothing is lost while the owner restarts.

The routes take the admin key (RETRIEVD_API_KEY, which every process of a deployment shares) as a
bearer token: they read any store of any project.

Two owners of one database would each index half of the jobs into a shard of their own, so the owner
holds `OwnerLock` for as long as it runs, and a second would-be owner is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hmac
from collections.abc import Sequence
from typing import IO, Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from retrievd.errors import APIError
from retrievd.index.base import Hit, IndexPoint, IndexQuery, Sparse, VectorIndex

PREFIX = "/internal/index"
_OWNER_LOCK_KEY = 0x7265747269657665  # PostgreSQL advisory lock id of the index owner
_KEEPALIVE = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


class OwnerLock:
    """Held by the one process that owns a database's embedded index, while it runs: a session
    advisory lock on PostgreSQL (the server drops it when the process dies), a file lock beside a
    SQLite database (the kernel drops it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: Connection | IO[str] | None = None

    def acquire(self) -> bool:
        """True if this process now holds the lock (or held it already)."""
        if self._held is not None:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            if conn.execute(select(func.pg_try_advisory_lock(_OWNER_LOCK_KEY))).scalar():
                # If this machine dies, the server notices within ~25 s (not the system's 2 hours)
                # and lets a new owner in.
                for setting, value in _KEEPALIVE.items():
                    conn.execute(select(func.set_config(setting, value, False)))
                conn.commit()  # idle, not idle in a transaction; the session keeps the lock
                self._held = conn
            else:
                conn.close()
            return self._held is not None
        database = self.engine.url.database
        if not database or database == ":memory:":
            return True  # a private database: nobody else can own it
        file = open(f"{database}.index-owner", "a")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._held = file
        return True

    def release(self) -> None:
        if isinstance(self._held, Connection):
            # Unlock at once (a closed session's locks go only once its server process has exited);
            # a broken session has lost the lock already.
            with contextlib.suppress(DBAPIError):
                self._held.execute(select(func.pg_advisory_unlock(_OWNER_LOCK_KEY)))
            self._held.invalidate()  # never back to the pool
        if self._held is not None:
            self._held.close()
            self._held = None


def _owner_index(request: Request) -> VectorIndex:
    core = request.app.state.core
    key = core.settings.api_key
    given = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not key or not hmac.compare_digest(given.encode(), key.encode()):
        raise APIError(401, "The index routes need the deployment's admin key.", code="invalid_api_key")
    return core.index


router = APIRouter(prefix=PREFIX, include_in_schema=False)
OwnerIndex = Annotated[VectorIndex, Depends(_owner_index)]


@router.post("/query")
def _query(index: OwnerIndex, body: dict[str, Any]) -> dict[str, Any]:
    return {"hits": [_hit_json(h) for h in index.query(query_from_json(body))]}


@router.post("/query_branches")
def _query_branches(index: OwnerIndex, body: dict[str, Any], complete: bool = False) -> dict[str, Any]:
    dense, sparse = index.query_branches(query_from_json(body), complete)
    return {"dense": [_hit_json(h) for h in dense], "sparse": [_hit_json(h) for h in sparse]}


@router.post("/best_term_scores")
def _best_term_scores(index: OwnerIndex, body: dict[str, Any]) -> list[float]:
    return index.best_term_scores(body["vector_store_ids"], Sparse(**body["sparse"]))


@router.post("/payloads")
def _payloads(index: OwnerIndex, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return index.payloads(body["vector_store_ids"], body["ids"])


@router.get("/count")
def _count(index: OwnerIndex, vector_store_id: str, file_id: str | None = None) -> int:
    return index.count(vector_store_id, file_id)


@router.get("/scroll")
def _scroll(index: OwnerIndex, vector_store_id: str, file_id: str | None = None) -> list[dict[str, Any]]:
    return [_hit_json(h) for h in index.scroll(vector_store_id, file_id)]


def query_json(q: IndexQuery) -> dict[str, Any]:
    body = dataclasses.asdict(q)
    body["dense"] = None if q.dense is None else [float(x) for x in q.dense]
    return body


def query_from_json(body: dict[str, Any]) -> IndexQuery:
    sparse = body.get("sparse")
    return IndexQuery(**{**body, "sparse": Sparse(**sparse) if sparse is not None else None})


def _hit_json(hit: Hit) -> dict[str, Any]:
    return dataclasses.asdict(hit)


class RemoteIndex:
    """The VectorIndex of an API replica that does not own the embedded index: reads go to the
    owner at `base_url`; writes are refused (index jobs run in the owner)."""

    def __init__(self, base_url: str, dim: int, *, key: str | None, timeout_s: float = 60.0) -> None:
        if not key:
            raise RuntimeError("Reaching the index owner needs RETRIEVD_API_KEY, the same in every process.")
        self.dim = dim
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + PREFIX,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout_s,
        )

    def query(self, q: IndexQuery) -> list[Hit]:
        return [Hit(**h) for h in self._call("POST", "/query", json=query_json(q))["hits"]]

    def query_branches(self, q: IndexQuery, complete: bool = False) -> tuple[list[Hit], list[Hit]]:
        body = self._call("POST", "/query_branches", json=query_json(q), params={"complete": complete})
        return [Hit(**h) for h in body["dense"]], [Hit(**h) for h in body["sparse"]]

    def best_term_scores(self, vector_store_ids: Sequence[str], sparse: Sparse) -> list[float]:
        body = {"vector_store_ids": list(vector_store_ids), "sparse": dataclasses.asdict(sparse)}
        return [float(score) for score in self._call("POST", "/best_term_scores", json=body)]

    def payloads(self, vector_store_ids: Sequence[str], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        body = {"vector_store_ids": list(vector_store_ids), "ids": list(ids)}
        return dict(self._call("POST", "/payloads", json=body))

    def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        return int(self._call("GET", "/count", params=_scope(vector_store_id, file_id)))

    def scroll(self, vector_store_id: str, file_id: str | None = None) -> list[Hit]:
        return [Hit(**h) for h in self._call("GET", "/scroll", params=_scope(vector_store_id, file_id))]

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        raise _read_only()

    def delete_file(self, vector_store_id: str, file_id: str) -> None:
        raise _read_only()

    def delete_store(self, vector_store_id: str) -> None:
        raise _read_only()

    def flush(self) -> None:
        raise _read_only()

    def optimize(self) -> bool:
        raise _read_only()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_success:
            return response.json()
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"message": response.text}
        if response.status_code in (400, 404):  # the caller's own mistake, e.g. an invalid filter
            raise APIError(
                response.status_code,
                error.get("message", ""),
                param=error.get("param"),
                code=error.get("code"),
            )
        raise RuntimeError(f"The index owner answered {response.status_code}: {error.get('message')}")


def _scope(vector_store_id: str, file_id: str | None) -> dict[str, str]:
    return {"vector_store_id": vector_store_id, **({"file_id": file_id} if file_id is not None else {})}


def _read_only() -> RuntimeError:
    return RuntimeError(
        "This process reads the index through its owner; index writes are jobs the owner runs."
    )
