"""The unchanged-SDK flow a migrating user runs, step by step, with every field of every answer checked.

Upload, attach, batch upload, list, search with filters, file content, an assistants run with
file_search (the built-in extractive model), file removal, file delete and store delete, through the
official `openai` SDK only. `run_flow` returns what each step saw with ids replaced by their order of
appearance, so two deployments (the embedded default, PostgreSQL with `retrievd worker` processes)
can be compared field by field. Used by tests/test_sdk_flow.py and bench/sdk_flow.py.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from sqlalchemy import create_engine, func, select

from retrievd.index.owner import RemoteIndex
from retrievd.store.models import Chunk, Job, VectorStoreFile
from tests.conftest import ADMIN_KEY, DOCS, SHARED, free_port

BOOK = "book-war-and-peace-1p.txt"
EMAIL = "fake-email.eml"
BATCH_DOCS = 4  # CISI abstracts, one chunk each, uploaded as a file batch
OFFICE = ["fake.docx", "list-item-example.pdf", "fake-power-point.pptx", "fake-html-cp1252.html"]
QUESTION = "Who was the maid of honor and favorite of the Empress Marya Fedorovna?"
POLL_S = 0.1
TIMEOUT_S = 300.0
_ID = re.compile(r"\b(?:file-|vs_|vsfb_|asst_|thread_|run_|msg_|step_|call_)[A-Za-z0-9]+")


class StepFailed(AssertionError):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


@dataclass
class FlowResult:
    steps: list[str] = field(default_factory=list)  # the steps that passed, in order
    seen: dict[str, Any] = field(default_factory=dict)  # step -> what it saw, ids normalized
    seconds: dict[str, float] = field(default_factory=dict)
    store_ids: list[str] = field(default_factory=list)  # every store the flow made (all deleted by its end)


def _documents() -> dict[str, bytes]:
    docs = {BOOK: (DOCS / BOOK).read_bytes(), EMAIL: (DOCS / EMAIL).read_bytes()}
    with open(SHARED / "eval" / "cisi" / "corpus.jsonl") as corpus:
        for line, _ in zip(corpus, range(BATCH_DOCS)):
            doc = json.loads(line)
            docs[f"cisi-{doc['_id']}.txt"] = f"{doc['title']}\n\n{doc['text']}\n".encode()
    return docs


class _Normalizer:
    """Files by their name, other ids in the order they first appear: two runs give equal records."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def file(self, file_id: str, filename: str) -> None:
        self.names[file_id] = f"file:{filename}"

    def __call__(self, value: Any) -> Any:
        text = json.dumps(value, sort_keys=True, default=str)
        return json.loads(_ID.sub(self._name, text))

    def _name(self, match: re.Match[str]) -> str:
        token = match.group(0)
        prefix = token.split("_")[0] + "_" if "_" in token[:7] else "file-"
        return self.names.setdefault(token, f"{prefix}#{len(self.names)}")


def _wait(what: str, poll: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while not done(value := poll()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not done after {TIMEOUT_S:.0f} s: {value}")
        time.sleep(POLL_S)
    return value


def _gone(call: Callable[[], Any]) -> bool:
    try:
        call()
    except openai.NotFoundError:
        return True
    return False


def _counts(counts: Any) -> dict[str, int]:
    return {k: getattr(counts, k) for k in ("in_progress", "completed", "failed", "cancelled", "total")}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_flow(client: openai.OpenAI) -> FlowResult:
    """Every step of the flow, in order; raises StepFailed naming the first step that went wrong."""
    result = FlowResult()
    norm = _Normalizer()
    docs = _documents()
    state: dict[str, Any] = {}

    def upload() -> Any:
        files = {}
        for name, data in docs.items():
            f = client.files.create(file=(name, data), purpose="assistants")
            _check(f.object == "file" and f.filename == name and f.bytes == len(data), f"upload {f}")
            _check(f.purpose == "assistants" and isinstance(f.created_at, int), f"upload {f}")
            files[name] = f
            norm.file(f.id, name)
        state["files"] = files
        _check(client.files.retrieve(files[BOOK].id).bytes == len(docs[BOOK]), "retrieve")
        listed = {f.id for f in client.files.list(purpose="assistants").data}
        _check({f.id for f in files.values()} <= listed, "files.list misses uploads")
        return [(f.id, f.filename, f.bytes, f.status) for f in files.values()]

    def create_store() -> Any:
        store = client.vector_stores.create(name="sdk flow", metadata={"flow": "1"})
        _check(store.object == "vector_store" and store.status == "completed", f"{store}")
        _check(
            _counts(store.file_counts) == dict.fromkeys(_counts(store.file_counts), 0), f"{store.file_counts}"
        )
        _check(store.usage_bytes == 0 and store.metadata == {"flow": "1"}, f"{store}")
        state["store"] = store
        result.store_ids.append(store.id)
        return [store.id, store.name, store.status, store.usage_bytes, _counts(store.file_counts)]

    def attach() -> Any:
        store, files = state["store"], state["files"]
        out = []
        for name, kind in ((BOOK, "book"), (EMAIL, "email")):
            vsf = client.vector_stores.files.create_and_poll(
                file_id=files[name].id,
                vector_store_id=store.id,
                attributes={"kind": kind, "year": 1869 if kind == "book" else 2020},
                poll_interval_ms=int(POLL_S * 1000),
            )
            _check(vsf.status == "completed" and vsf.last_error is None and vsf.usage_bytes > 0, f"{vsf}")
            _check(vsf.attributes == {"kind": kind, "year": 1869 if kind == "book" else 2020}, f"{vsf}")
            out.append([vsf.id, vsf.status, vsf.usage_bytes, vsf.attributes, vsf.chunking_strategy.type])
        return out

    def batch_upload() -> Any:
        store, files = state["store"], state["files"]
        ids = [f.id for name, f in files.items() if name.startswith("cisi-")]
        batch = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id,
            file_ids=ids,
            attributes={"kind": "abstract"},
            poll_interval_ms=int(POLL_S * 1000),
        )
        counts = _counts(batch.file_counts)
        _check(batch.status == "completed", f"{batch}")
        _check(counts == {**counts, "completed": len(ids), "total": len(ids), "in_progress": 0}, f"{counts}")
        # As soon as the batch says completed, the store and its files say so too, and all are searchable.
        now = client.vector_stores.retrieve(store.id)
        _check(now.status == "completed", f"{now}")
        _check(
            _counts(now.file_counts)
            == {**_counts(now.file_counts), "completed": len(ids) + 2, "total": len(ids) + 2},
            f"{now.file_counts}",
        )
        listed = list(
            client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, limit=100)
        )
        _check(sorted(f.id for f in listed) == sorted(ids), "batch files")
        _check(
            {f.status for f in listed} == {"completed"} and all(f.usage_bytes > 0 for f in listed),
            f"{listed}",
        )
        _check(all(f.attributes == {"kind": "abstract"} for f in listed), f"{listed}")
        per_file = {f.id: f.usage_bytes for f in client.vector_stores.files.list(store.id, limit=100)}
        _check(len(per_file) == len(ids) + 2, f"{per_file}")
        _check(now.usage_bytes == sum(per_file.values()), f"store {now.usage_bytes} != files {per_file}")
        hits = client.vector_stores.search(
            store.id,
            query="library",
            filters={"type": "eq", "key": "kind", "value": "abstract"},
            max_num_results=20,
        ).data
        _check({h.file_id for h in hits} == set(ids), f"searchable after batch: {[h.file_id for h in hits]}")
        state["batch_ids"] = ids
        return [batch.id, batch.status, counts, now.usage_bytes, sorted(per_file.values())]

    def upload_documents() -> Any:
        """Real office documents through the SDK's own helper (concurrent uploads, then one batch)."""
        store = state["store"]
        batch = client.vector_stores.file_batches.upload_and_poll(
            vector_store_id=store.id,
            files=[(name, (DOCS / name).read_bytes()) for name in OFFICE],
            poll_interval_ms=int(POLL_S * 1000),
        )
        counts = _counts(batch.file_counts)
        _check(
            batch.status == "completed" and counts["completed"] == counts["total"] == len(OFFICE), f"{batch}"
        )
        listed = list(
            client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, limit=100)
        )
        out = []
        for f in listed:
            _check(f.status == "completed" and f.last_error is None and f.usage_bytes > 0, f"{f}")
            texts = [
                p.text for p in client.vector_stores.files.content(file_id=f.id, vector_store_id=store.id)
            ]
            _check(texts and all(t.strip() for t in texts), f"{f.id}: {texts}")
            name = client.files.retrieve(f.id).filename
            state["files"][name] = client.files.retrieve(f.id)
            norm.file(f.id, name)
            out.append([name, f.usage_bytes, len(texts)])
        return sorted(out)

    def store_with_files() -> Any:
        """A store made with file_ids and a static chunking strategy, polled as SDK users do."""
        files = state["files"]
        ids = [files[BOOK].id, files[EMAIL].id]
        store = client.vector_stores.create(
            name="with files",
            file_ids=ids,
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
            },
            expires_after={"anchor": "last_active_at", "days": 7},
        )
        result.store_ids.append(store.id)
        _check(store.file_counts.total == 2 and store.expires_after.days == 7, f"{store}")
        store = _wait(
            "store", lambda: client.vector_stores.retrieve(store.id), lambda s: s.file_counts.in_progress == 0
        )
        _check(store.status == "completed" and store.file_counts.completed == 2, f"{store}")
        _check(store.expires_at == store.last_active_at + 7 * 86400, f"{store}")
        listed = list(client.vector_stores.files.list(store.id))
        for f in listed:
            st = f.chunking_strategy
            _check(
                st.type == "static"
                and (st.static.max_chunk_size_tokens, st.static.chunk_overlap_tokens) == (200, 50),
                f"{f}",
            )
        book = [
            p.text
            for p in client.vector_stores.files.content(file_id=files[BOOK].id, vector_store_id=store.id)
        ]
        _check(len(book) > 1, f"200-token chunks of the book: {len(book)}")
        deleted = client.vector_stores.delete(store.id)
        _check(deleted.deleted, f"{deleted}")
        return [store.usage_bytes, len(book), sorted(f.usage_bytes for f in listed)]

    def list_pages() -> Any:
        store = state["store"]
        pages, after = [], None
        while True:
            page = (
                client.vector_stores.files.list(store.id, limit=2, order="asc", after=after)
                if after
                else client.vector_stores.files.list(store.id, limit=2, order="asc")
            )
            pages.append([f.id for f in page.data])
            if not page.has_more:
                break
            after = page.data[-1].id
        flat = [i for p in pages for i in p]
        _check(len(flat) == len(set(flat)) == len(state["files"]), f"pages {pages}")
        desc = [f.id for f in client.vector_stores.files.list(store.id, limit=100, order="desc")]
        _check(desc == flat[::-1], f"asc {flat} desc {desc}")
        stores = [s.id for s in client.vector_stores.list(limit=100)]
        _check(store.id in stores, "store not listed")
        return [len(p) for p in pages]  # the order within one second of created_at is the ids'

    def search() -> Any:
        store, files = state["store"], state["files"]
        out = {}
        for label, filters in (
            ("none", None),
            ("eq", {"type": "eq", "key": "kind", "value": "book"}),
            ("gte", {"type": "gte", "key": "year", "value": 2000}),
            (
                "or",
                {
                    "type": "or",
                    "filters": [
                        {"type": "eq", "key": "kind", "value": "email"},
                        {"type": "eq", "key": "kind", "value": "book"},
                    ],
                },
            ),
        ):
            kwargs: dict[str, Any] = {"filters": filters} if filters else {}
            page = client.vector_stores.search(store.id, query=QUESTION, max_num_results=5, **kwargs)
            _check(page.search_query == [QUESTION] and page.data, f"{label}: {page}")
            scores = [h.score for h in page.data]
            _check(
                all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True),
                f"{label}: {scores}",
            )
            for h in page.data:
                name = next(n for n, f in files.items() if f.id == h.file_id)
                _check(h.filename == name and h.content and h.content[0].type == "text", f"{label}: {h}")
                _check(h.content[0].text.strip() != "", f"{label}: empty content")
            allowed = {
                "none": set(files),
                "eq": {BOOK},
                "gte": {EMAIL},
                "or": {BOOK, EMAIL},
            }[label]
            _check({h.filename for h in page.data} <= allowed, f"{label}: {[h.filename for h in page.data]}")
            out[label] = [(h.file_id, round(h.score, 4), h.attributes) for h in page.data]
        _check(out["eq"][0][0] == files[BOOK].id and out["none"][0][0] == files[BOOK].id, f"{out}")
        return out

    def content() -> Any:
        store, files = state["store"], state["files"]
        raw = client.files.content(files[BOOK].id).read()
        _check(raw == docs[BOOK], "files.content differs from the upload")
        pages = client.vector_stores.files.content(file_id=files[BOOK].id, vector_store_id=store.id)
        texts = [p.text for p in pages]
        _check(texts and all(texts), f"{texts}")
        _check("Anna Pavlovna" in " ".join(texts), "store file content lacks the text")
        return texts

    def assistant_run() -> Any:
        store, files = state["store"], state["files"]
        assistant = client.beta.assistants.create(
            model="gpt-4o",
            instructions="Answer from the files.",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": QUESTION}]},
            poll_interval_ms=int(POLL_S * 1000),
        )
        _check(run.status == "completed" and run.last_error is None, f"{run.status} {run.last_error}")
        _check(run.usage is not None and run.usage.total_tokens > 0, f"{run.usage}")
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
        _check(
            [(s.type, s.status) for s in steps]
            == [("tool_calls", "completed"), ("message_creation", "completed")],
            f"{steps}",
        )
        message = client.beta.threads.messages.list(run.thread_id).data[0]
        text = message.content[0].text
        _check(
            message.role == "assistant" and message.run_id == run.id and "Anna Pavlovna" in text.value,
            text.value,
        )
        cited = {a.file_citation.file_id for a in text.annotations}
        _check(
            cited and cited <= {f.id for f in files.values()} and files[BOOK].id in cited,
            f"{text.annotations}",
        )
        for a in text.annotations:
            _check(text.value[a.start_index : a.end_index] == a.text, f"{a}")
        state["assistant"] = assistant
        return [run.status, [s.type for s in steps], text.value, sorted(cited)]

    def streamed_run() -> Any:
        """The same question streamed (the API that answers runs it), with events in OpenAI's order."""
        events: list[str] = []
        with client.beta.threads.create_and_run_stream(
            assistant_id=state["assistant"].id, thread={"messages": [{"role": "user", "content": QUESTION}]}
        ) as stream:
            for event in stream:
                if not events or events[-1] != event.event:
                    events.append(event.event)
            run = stream.get_final_run()
            messages = stream.get_final_messages()
        _check(
            run.status == "completed" and events[:2] == ["thread.created", "thread.run.created"],
            f"{run.status} {events}",
        )
        _check(events[-1] == "thread.run.completed", f"{events}")
        text = messages[-1].content[0].text
        _check("Anna Pavlovna" in text.value and text.annotations, text.value)
        stored = client.beta.threads.messages.list(run.thread_id).data[0].content[0].text
        _check(stored.value == text.value, "the stored message differs from the streamed one")
        return [events, text.value]

    def attachment_run() -> Any:
        """A file attached to a message goes into the thread's own store; the run waits for it."""
        note = client.files.create(
            file=(
                "note.txt",
                b"The lighthouse keeper of Skerryvore is called Agnes Murdoch. She paints the lamp room blue.",
            ),
            purpose="assistants",
        )
        norm.file(note.id, "note.txt")
        thread = client.beta.threads.create(
            messages=[
                {
                    "role": "user",
                    "content": "Who is the lighthouse keeper of Skerryvore?",
                    "attachments": [{"file_id": note.id, "tools": [{"type": "file_search"}]}],
                }
            ]
        )
        (store_id,) = thread.tool_resources.file_search.vector_store_ids
        result.store_ids.append(store_id)
        assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=int(POLL_S * 1000)
        )
        _check(run.status == "completed", f"{run.status} {run.last_error}")
        text = client.beta.threads.messages.list(thread.id).data[0].content[0].text
        _check("Agnes Murdoch" in text.value, text.value)
        _check({a.file_citation.file_id for a in text.annotations} == {note.id}, f"{text.annotations}")
        client.vector_stores.delete(store_id)
        client.files.delete(note.id)
        client.beta.assistants.delete(assistant.id)
        return [run.status, text.value]

    def remove_file() -> Any:
        store, files = state["store"], state["files"]
        before = client.vector_stores.retrieve(store.id)
        email = files[EMAIL].id
        removed = client.vector_stores.files.delete(file_id=email, vector_store_id=store.id)
        _check(
            removed.deleted and removed.id == email and removed.object == "vector_store.file.deleted",
            f"{removed}",
        )
        _check(
            _gone(lambda: client.vector_stores.files.retrieve(file_id=email, vector_store_id=store.id)),
            "still attached",
        )
        after = client.vector_stores.retrieve(store.id)
        _check(after.file_counts.total == before.file_counts.total - 1, f"{after.file_counts}")
        _check(after.file_counts.completed == before.file_counts.completed - 1, f"{after.file_counts}")
        _check(after.usage_bytes < before.usage_bytes, f"{before.usage_bytes} -> {after.usage_bytes}")
        hits = client.vector_stores.search(store.id, query="roses are red", max_num_results=20).data
        _check(email not in {h.file_id for h in hits}, "a removed file is still found")
        _check(client.files.retrieve(email).id == email, "removing from a store deleted the file")
        return [removed.id, _counts(after.file_counts), after.usage_bytes]

    def delete_file() -> Any:
        store, files = state["store"], state["files"]
        victim = state["batch_ids"][0]
        deleted = client.files.delete(victim)
        _check(deleted.deleted and deleted.id == victim, f"{deleted}")
        _check(_gone(lambda: client.files.retrieve(victim)), "file still there")
        _check(_gone(lambda: client.files.content(victim)), "file content still there")
        _check(
            _gone(lambda: client.vector_stores.files.retrieve(file_id=victim, vector_store_id=store.id)),
            "still in store",
        )
        after = client.vector_stores.retrieve(store.id)
        left = list(client.vector_stores.files.list(store.id, limit=100))
        _check(after.file_counts.total == len(left) == len(files) - 2, f"{after.file_counts} {len(left)}")
        _check(after.usage_bytes == sum(f.usage_bytes for f in left), f"{after.usage_bytes}")
        hits = client.vector_stores.search(store.id, query="library", max_num_results=20).data
        _check(victim not in {h.file_id for h in hits}, "a deleted file is still found")
        return [deleted.id, _counts(after.file_counts), after.usage_bytes]

    def delete_store() -> Any:
        store, files = state["store"], state["files"]
        deleted = client.vector_stores.delete(store.id)
        _check(
            deleted.deleted and deleted.id == store.id and deleted.object == "vector_store.deleted",
            f"{deleted}",
        )
        _check(_gone(lambda: client.vector_stores.retrieve(store.id)), "store still there")
        _check(
            _gone(lambda: client.vector_stores.search(store.id, query="library")), "store still searchable"
        )
        _check(_gone(lambda: client.vector_stores.files.list(store.id)), "store files still listed")
        _check(store.id not in [s.id for s in client.vector_stores.list(limit=100)], "store still listed")
        # Its files stay (a store delete removes the store, not the files).
        _check(client.files.retrieve(files[BOOK].id).id == files[BOOK].id, "store delete deleted a file")
        client.beta.assistants.delete(state["assistant"].id)
        return [deleted.id, deleted.deleted]

    for name, step in (
        ("upload", upload),
        ("create_store", create_store),
        ("attach", attach),
        ("batch_upload", batch_upload),
        ("upload_documents", upload_documents),
        ("store_with_files", store_with_files),
        ("list_pages", list_pages),
        ("search", search),
        ("content", content),
        ("assistant_run", assistant_run),
        ("streamed_run", streamed_run),
        ("attachment_run", attachment_run),
        ("remove_file", remove_file),
        ("delete_file", delete_file),
        ("delete_store", delete_store),
    ):
        started = time.perf_counter()
        try:
            seen = step()
        except (AssertionError, openai.OpenAIError) as e:
            raise StepFailed(name, f"{type(e).__name__}: {e}") from e
        result.seconds[name] = time.perf_counter() - started
        result.seen[name] = norm(seen)
        result.steps.append(name)
    return result


@dataclass
class Deployment:
    client: openai.OpenAI
    database_url: str
    owner_url: str


@contextmanager
def scaled_out(
    database_url: str, folder: Path, workers: int = 2, serve_threads: bool = False
) -> Iterator[Deployment]:
    """`retrievd serve` (the index owner; `--no-workers` unless `serve_threads`) and `workers`
    `retrievd worker` processes that take ingestion and runs, on one database and blob directory."""
    from tests.test_scale_out import _start

    common = {
        "RETRIEVD_DATABASE_URL": database_url,
        "RETRIEVD_API_KEY": ADMIN_KEY,
        "RETRIEVD_BLOBS_DIR": str(folder / "blobs"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    owner_url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    try:
        serve = ["serve", "--port", str(port)] + ([] if serve_threads else ["--no-workers"])
        procs.append(
            _start(serve, {**common, "RETRIEVD_DATA_DIR": str(folder / "api")}, folder / "api.log", port)
        )
        for n in range(1, workers + 1):
            env = {
                **common,
                "RETRIEVD_DATA_DIR": str(folder / f"worker-{n}"),
                "RETRIEVD_INDEX_OWNER_URL": owner_url,
            }
            procs.append(_start(["worker", "--threads", "1"], env, folder / f"worker-{n}.log"))
        client = openai.OpenAI(base_url=owner_url + "/v1", api_key=ADMIN_KEY, max_retries=0, timeout=120)
        yield Deployment(client, database_url, owner_url)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def check_left_clean(deployment: Deployment, result: FlowResult, timeout_s: float = 60) -> None:
    """After the flow: every job done (none failed), and nothing of the deleted stores left, neither
    rows in the database nor points in the index (asked through its owner)."""
    engine = create_engine(deployment.database_url)
    index = RemoteIndex(deployment.owner_url, 384, key=ADMIN_KEY)
    try:
        deadline = time.monotonic() + timeout_s
        with engine.connect() as conn:
            while pending := conn.execute(
                select(func.count()).where(Job.status.in_(("queued", "running")))
            ).scalar():
                assert time.monotonic() < deadline, f"{pending} jobs still pending"
                conn.rollback()
                time.sleep(POLL_S)
            failed = conn.execute(select(Job.kind, Job.last_error).where(Job.status != "done")).all()
            assert not failed, failed
            for store_id in result.store_ids:
                chunks = conn.execute(select(func.count()).where(Chunk.vector_store_id == store_id)).scalar()
                rows = conn.execute(
                    select(func.count()).where(VectorStoreFile.vector_store_id == store_id)
                ).scalar()
                assert (chunks, rows, index.count(store_id)) == (0, 0, 0), store_id
    finally:
        index.close()
        engine.dispose()
