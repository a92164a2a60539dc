"""The `retrievd` command line: serve, worker, models, projects, keys, ingest, search, index."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retrievd.config import Settings, get_settings
from retrievd.eval.cli import eval_app
from retrievd.usage.cli import usage_app

app = typer.Typer(help="Self-hosted, OpenAI-compatible file search.", no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="Pinned model assets (installed offline, sha256-verified).", no_args_is_help=True)
projects_app = typer.Typer(help="Projects (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
index_app = typer.Typer(help="The vector index.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
app.add_typer(index_app, name="index")
app.add_typer(usage_app, name="usage")
app.add_typer(eval_app, name="eval")

console = Console()
err = Console(stderr=True)


def _core(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from retrievd.core import Core

    return Core(settings or get_settings())


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[bool, typer.Option(help="Run ingestion and run workers in this process.")] = True,
) -> None:
    """Start the API (and, by default, the ingestion and run workers in the same process).

    With `--no-workers`, `retrievd worker` processes take those jobs; streaming runs still execute
    here, and the index's owner still applies index jobs.
    """
    import uvicorn

    from retrievd import assets
    from retrievd.api.app import create_app
    from retrievd.index import owner
    from retrievd.services.projects import ProjectService

    settings = get_settings()
    if not workers:
        settings = settings.model_copy(update={"ingest_workers": 0, "runtime_workers": 0})
    core = _core(settings)
    key = ProjectService(core.db).bootstrap(settings.api_key)
    if key:
        console.print(f"Created the admin project. Admin API key (shown once, keep it): [bold]{key}[/bold]")
    missing = [s.name for s in assets.statuses(settings) if not s.installed]
    if missing:
        err.print(f"[yellow]warning:[/yellow] model assets not installed: {', '.join(missing)}. Run `retrievd models pull`.")
    api = create_app(core)
    if core.writes_index and settings.qdrant_url is None:
        api.include_router(owner.router)  # this process owns the embedded index: serve it to the others
    uvicorn.run(api, host=host or settings.host, port=port or settings.port)


@app.command()
def worker(
    threads: Annotated[int | None, typer.Option(help="Ingestion threads (default: RETRIEVD_INGEST_WORKERS).")] = None,
) -> None:
    """Run ingestion jobs and runs (RETRIEVD_RUNTIME_WORKERS threads) until stopped (SIGTERM or
    Ctrl-C); as many of these as you like, anywhere.

    With the embedded index, a worker stores chunks and vectors in the database and the index's
    owner (`serve`) indexes them, and it takes runs only with RETRIEVD_INDEX_OWNER_URL (their
    file_search reads through the owner); with a Qdrant server, workers write the index too.
    """
    import signal
    import threading

    from retrievd.core import Core

    core = Core(get_settings(), worker=True)
    core.start_workers(threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"worker ready ({len(core.workers)} pools); stop with SIGTERM or Ctrl-C")
    stop.wait()
    core.close()


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the index from the database's chunk rows, without parsing or embedding again.

    Repairs the embedded index, or fills a Qdrant server's collection (set RETRIEVD_QDRANT_URL) to
    move there. Stop every process that has the embedded index open first.
    """
    from retrievd.index.rebuild import rebuild

    core = _core()
    try:
        with Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("files", total=None)
            report = rebuild(core, progress=lambda done, total: bar.update(task, completed=done, total=total))
    except RuntimeError as e:
        _fail(str(e))
    finally:
        core.close()
    console.print(f"rebuilt: {report.files} files, {report.points} points in {report.seconds:.1f} s")


@models_app.command("pull")
def models_pull(names: Annotated[list[str] | None, typer.Argument(help="Assets to pull (default: all).")] = None) -> None:
    """Install the pinned model assets, verifying every file's sha256."""
    from retrievd import assets

    for status in assets.pull(get_settings(), names=names or None, console=console):
        console.print(f"[green]ok[/green] {status.name} -> {status.path}")


@models_app.command("list")
def models_list() -> None:
    """Show each pinned asset and whether it is installed and verified."""
    from retrievd import assets

    table = Table("asset", "kind", "installed", "verified", "path")
    for s in assets.statuses(get_settings()):
        table.add_row(s.name, s.kind, "yes" if s.installed else "no", "yes" if s.verified else "no", str(s.path))
    console.print(table)


@projects_app.command("list")
def projects_list(all: Annotated[bool, typer.Option("--all", help="Include archived projects.")] = False) -> None:
    from retrievd.services.projects import ProjectService

    table = Table("id", "name", "status", "created_at")
    for p in ProjectService(_core().db).list_projects(include_archived=all):
        table.add_row(p.id, p.name, p.status, time.strftime("%Y-%m-%d %H:%M", time.gmtime(p.created_at)))
    console.print(table)


@projects_app.command("create")
def projects_create(name: str) -> None:
    from retrievd.services.projects import ProjectService

    p = ProjectService(_core().db).create_project(name)
    console.print(p.id)


@projects_app.command("archive")
def projects_archive(project_id: str) -> None:
    from retrievd.errors import APIError
    from retrievd.services.projects import ProjectService

    try:
        ProjectService(_core().db).archive_project(project_id)
    except APIError as e:
        _fail(e.message)
    console.print(f"archived {project_id}")


@keys_app.command("create")
def keys_create(project_id: str, name: Annotated[str, typer.Option(help="A name for the key.")] = "cli") -> None:
    """Create a service account with a new project key; the key is printed once."""
    from retrievd.errors import APIError
    from retrievd.services.projects import ProjectService

    try:
        _, _, key = ProjectService(_core().db).create_service_account(project_id, name)
    except APIError as e:
        _fail(e.message)
    console.print(key)


@keys_app.command("list")
def keys_list() -> None:
    from retrievd.services.projects import ProjectService

    table = Table("id", "project", "name", "key", "admin")
    for k in ProjectService(_core().db).list_keys():
        table.add_row(k.id, k.project_id, k.name, k.redacted_value, "yes" if k.is_admin else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    from retrievd.errors import APIError
    from retrievd.services.projects import ProjectService

    try:
        ProjectService(_core().db).revoke_key(key_id)
    except APIError as e:
        _fail(e.message)
    console.print(f"revoked {key_id}")


def _admin_project(core) -> str:  # type: ignore[no-untyped-def]
    from retrievd.services.projects import ProjectService

    ProjectService(core.db).bootstrap(core.settings.api_key)
    return next(p.id for p in ProjectService(core.db).list_projects() if p.is_admin)


def _store_by_name(core, project_id: str, name: str, create: bool) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from retrievd.api import schemas
    from retrievd.services.vector_stores import VectorStoreService
    from retrievd.store.models import VectorStore

    with core.db.session() as s:
        found = s.execute(
            select(VectorStore.id).where(
                VectorStore.project_id == project_id, (VectorStore.name == name) | (VectorStore.id == name)
            )
        ).scalars().first()
    if found:
        return found
    if not create:
        _fail(f"No vector store named '{name}'.")
    return VectorStoreService(core).create(project_id, schemas.CreateVectorStoreRequest(name=name)).id


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.", exists=True)],
    vector_store: Annotated[str, typer.Option("--vector-store", help="Store name or id (created if absent).")],
    project: Annotated[str | None, typer.Option(help="Project id (default: the admin project).")] = None,
) -> None:
    """Upload files into a vector store and index them, with a progress bar and each file's outcome."""
    from retrievd.api import schemas
    from retrievd.ingest.pipeline import INDEX_JOBS, INGEST_JOBS, job_handlers
    from retrievd.jobs.worker import WorkerPool
    from retrievd.services.files import FileService
    from retrievd.services.vector_stores import VectorStoreService

    core = _core()
    project_id = project or _admin_project(core)
    store_id = _store_by_name(core, project_id, vector_store, create=True)
    files = [p for path in paths for p in (sorted(x for x in path.rglob("*") if x.is_file()) if path.is_dir() else [path])]
    stores = VectorStoreService(core)
    # Reading the index through its owner (RETRIEVD_INDEX_OWNER_URL): the owner indexes, we wait for it.
    pool = WorkerPool(core.queue, job_handlers(core, INGEST_JOBS + (INDEX_JOBS if core.writes_index else ())))
    table = Table("file", "status", "chunks", "detail")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("ingesting", total=len(files))
        for path in files:
            bar.update(task, description=f"ingesting {path.name}")
            with path.open("rb") as f:
                row = FileService(core).create(project_id, f, path.name, "assistants")
            stores.add_file(project_id, store_id, schemas.CreateVectorStoreFileRequest(file_id=row.id))
            while (result := stores.get_file(project_id, store_id, row.id)).status == "in_progress":
                if not pool.drain():  # a retry's backoff, or the owner's turn
                    time.sleep(0.2)
            detail = result.last_error.message if result.last_error else ""
            with core.db.session() as s:
                from retrievd.store.models import VectorStoreFile

                chunks = s.get(VectorStoreFile, (store_id, row.id)).chunk_count  # type: ignore[union-attr]
            table.add_row(path.name, result.status, str(chunks), detail)
            bar.advance(task)
    console.print(table)
    console.print(f"vector store: {store_id}")
    core.close()


@app.command()
def search(
    store: Annotated[str, typer.Argument(help="Store name or id.")],
    query: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=50)] = 10,
    project: Annotated[str | None, typer.Option(help="Project id (default: the admin project).")] = None,
) -> None:
    """Search a vector store and print the results as a table."""
    from retrievd.retrieval.search import SearchOptions
    from retrievd.services.search import SearchService

    core = _core()
    project_id = project or _admin_project(core)
    store_id = _store_by_name(core, project_id, store, create=False)
    results = SearchService(core).results(project_id, [store_id], [query], SearchOptions(limit=limit))
    table = Table("#", "score", "file", "page", "text")
    for i, r in enumerate(results, 1):
        snippet = " ".join(r.text.split())[:160]
        table.add_row(str(i), f"{r.score:.3f}", r.filename, str(r.page or ""), snippet)
    console.print(table)
    core.close()


def main() -> None:
    app()
