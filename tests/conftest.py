"""Shared fixtures: pinned assets, a real retrievd server on a free port, and the official SDK.

`RETRIEVD_TEST_DATABASE=postgres` runs the tests on PostgreSQL (RETRIEVD_TEST_POSTGRES_URL, by
default the server on 127.0.0.1:5432 with trust auth): every test module, and every test, gets a
fresh database of its own through RETRIEVD_DATABASE_URL, which subprocesses inherit; a server started
with `start_server` gets the database of its data dir.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM


def _shared_dir() -> Path:
    """../shared: the test collections and documents beside the repository. A clone made elsewhere
    (CI: `git clone . "$(mktemp -d)"`) finds it beside the checkout it was cloned from;
    RETRIEVD_SHARED_DIR overrides both."""
    if "RETRIEVD_SHARED_DIR" in os.environ:
        return Path(os.environ["RETRIEVD_SHARED_DIR"])
    repo = Path(__file__).resolve().parents[1]
    beside = repo.parent / "shared"
    if beside.is_dir():
        return beside
    origin = subprocess.run(
        ["git", "-C", str(repo), "config", "--get", "remote.origin.url"], capture_output=True, text=True
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        return Path(origin).resolve().parent / "shared"
    return beside


SHARED = _shared_dir()
DOCS = SHARED / "docs"
ADMIN_KEY = "sk-admin-test-0123456789"

os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

POSTGRES_URL = os.environ.get("RETRIEVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ON_POSTGRES = os.environ.get("RETRIEVD_TEST_DATABASE") == "postgres"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"retrievd_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of each kind (PostgreSQL skipped where none is reachable)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'retrievd.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database())
        except Exception as e:
            pytest.skip(f"PostgreSQL is not reachable: {e}")
        yield url


@contextmanager
def _database_url(url: str) -> Iterator[None]:
    previous = os.environ.get("RETRIEVD_DATABASE_URL")
    os.environ["RETRIEVD_DATABASE_URL"] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("RETRIEVD_DATABASE_URL", None)
        else:
            os.environ["RETRIEVD_DATABASE_URL"] = previous


@pytest.fixture(scope="module", autouse=True)
def _module_database() -> Iterator[None]:
    if not ON_POSTGRES:
        yield
        return
    with postgres_database() as url, _database_url(url):
        yield


@pytest.fixture(autouse=True)
def _test_database(_module_database: None) -> Iterator[None]:
    if not ON_POSTGRES:
        yield
        return
    with postgres_database() as url, _database_url(url):
        yield


_server_databases: dict[Path, str] = {}
_dropped_at_exit = ExitStack()


@pytest.fixture(scope="session", autouse=True)
def _drop_server_databases() -> Iterator[None]:
    with _dropped_at_exit:
        yield


def _server_database(data_dir: Path) -> str:
    """On PostgreSQL, the database of a server's data dir, as its SQLite file would be: made at its
    first start, found again at a restart, never shared by two servers (each owns its index)."""
    if data_dir not in _server_databases:
        _server_databases[data_dir] = _dropped_at_exit.enter_context(postgres_database())
    return _server_databases[data_dir]


@pytest.fixture(scope="session")
def assets_ready() -> None:
    """Every pinned model asset, pulled once per machine (a no-op when already verified)."""
    from retrievd import assets
    from retrievd.config import Settings

    settings = Settings()
    assets.ensure_assets(settings)
    assets.configure_runtime(settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base_url: str
    admin_key: str
    core: object

    def client(self, key: str | None = None):  # type: ignore[no-untyped-def]
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=key or self.admin_key, max_retries=0, timeout=120)


def start_server(data_dir: Path, **overrides: object) -> Iterator[Server]:
    import uvicorn

    from retrievd.api.app import create_app
    from retrievd.config import Settings
    from retrievd.core import Core
    from retrievd.services.projects import ProjectService

    if ON_POSTGRES:
        overrides.setdefault("database_url", _server_database(data_dir))
    settings = Settings(data_dir=data_dir, api_key=ADMIN_KEY, **overrides)  # type: ignore[arg-type]
    core = Core(settings)
    ProjectService(core.db).bootstrap(settings.api_key)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(core), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}/v1", ADMIN_KEY, core)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server per test module (HTTP on loopback, embedded SQLite + Qdrant Edge)."""
    yield from start_server(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    """A scripted upstream model behind a real HTTP server, for modules whose server calls one."""
    fake = FakeLLM()
    yield fake
    fake.close()


@pytest.fixture
def script(llm: FakeLLM) -> Iterator[FakeLLM]:
    """The upstream's script for one test: empty before, and used up after (a module opts in with
    `pytestmark = pytest.mark.usefixtures("script")`)."""
    llm.reset()
    yield llm
    assert not llm.replies, "the model was asked fewer times than the test scripted"


@pytest.fixture(scope="module")
def client(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


def serve_process(data_dir: Path, port: int, **env: str) -> subprocess.Popen:
    """`retrievd serve` in a process of its own (to be killed with SIGKILL), once it answers /health."""
    import httpx

    settings = {"RETRIEVD_DATA_DIR": str(data_dir), "RETRIEVD_API_KEY": ADMIN_KEY, **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrievd", "serve", "--port", str(port)],
        env={**os.environ, **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def wait_for_store(client, store_id: str, timeout: float = 600) -> object:  # type: ignore[no-untyped-def]
    """Poll until no file of the store is in progress, as SDK users do."""
    deadline = time.time() + timeout
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0:
            return store
        if time.time() > deadline:
            raise TimeoutError(f"store {store_id} still has files in progress")
        time.sleep(0.2)
