"""The Files and Vector Stores API, driven over HTTP by the official `openai` SDK, on real documents."""

from __future__ import annotations

import io

import openai
import pytest

from tests.conftest import DOCS, wait_for_store

GOOD = [
    "norwich-city.txt",
    "book-war-and-peace-1p.txt",
    "fake.docx",
    "docx-tables.docx",
    "layout-parser-paper-fast.pdf",
    "fake-power-point.pptx",
    "example-10k-1p.html",
    "fake-html-cp1252.html",
    "fake.odt",
    "fake-doc.rtf",
    "eng_spa_mult.epub",
    "fake-email.eml",
    "simple-table.md",
    "2023-half-year-analyses-by-segment.xlsx",
    "fake-text-utf-16.txt",
    "failure-after-repair.pdf",  # stock partition_pdf gives up on one complex page; our parser bounds it instead
    "fake-power-point-malformed.pptx",  # the slide text that can be read
    "single_table.pdf",  # a scanned image, read by OCR
]
BAD = {
    "empty.txt": "invalid_file",
    "empty.eml": "invalid_file",
    "password_protected.xlsx": "invalid_file",  # encrypted
}


@pytest.fixture(scope="module")
def corpus(client):  # type: ignore[no-untyped-def]
    """Every document uploaded once and indexed into one store through a batch with per-file attributes."""
    uploaded = {}
    for name in [*GOOD, *BAD]:
        with open(DOCS / name, "rb") as f:
            uploaded[name] = client.files.create(file=(name, f.read()), purpose="assistants")
    store = client.vector_stores.create(name="shared docs", metadata={"suite": "api"})
    files = [
        {"file_id": f.id, "attributes": {"name": name, "kind": name.rsplit(".", 1)[-1], "good": name in GOOD, "rank": i}}
        for i, (name, f) in enumerate(uploaded.items())
    ]
    batch = client.vector_stores.file_batches.create(store.id, files=files)
    assert batch.object == "vector_store.files_batch"
    wait_for_store(client, store.id)
    return store, uploaded


def test_a_batch_completes_good_files_and_fails_bad_ones_alone(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, uploaded = corpus
    store = client.vector_stores.retrieve(store.id)
    assert store.status == "completed"
    assert store.file_counts.completed == len(GOOD)
    assert store.file_counts.failed == len(BAD)
    assert store.usage_bytes > 0
    for name, code in BAD.items():
        vsf = client.vector_stores.files.retrieve(uploaded[name].id, vector_store_id=store.id)
        assert vsf.status == "failed", name
        assert vsf.last_error is not None and vsf.last_error.code == code, (name, vsf.last_error)
        assert vsf.last_error.message
    for name in GOOD:
        vsf = client.vector_stores.files.retrieve(uploaded[name].id, vector_store_id=store.id)
        assert vsf.status == "completed", (name, vsf.last_error)
        assert vsf.usage_bytes > 0
        assert vsf.attributes["name"] == name
    assert sum(
        client.vector_stores.files.retrieve(f.id, vector_store_id=store.id).usage_bytes for f in uploaded.values()
    ) == store.usage_bytes


def test_a_question_answered_by_one_document_finds_it_first(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, uploaded = corpus
    page = client.vector_stores.search(store.id, query="Which football club plays its home games at Carrow Road?")
    assert page.data[0].file_id == uploaded["norwich-city.txt"].id
    assert page.data[0].filename == "norwich-city.txt"
    assert 0 <= page.data[-1].score <= page.data[0].score <= 1
    assert page.data[0].content[0].type == "text" and page.data[0].content[0].text


def test_filters_run_inside_the_engine(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, _uploaded = corpus
    only_pdf = client.vector_stores.search(
        store.id, query="football club", filters={"type": "eq", "key": "kind", "value": "pdf"}, max_num_results=50
    )
    assert only_pdf.data and {r.attributes["kind"] for r in only_pdf.data} == {"pdf"}
    compound = client.vector_stores.search(
        store.id,
        query="document",
        max_num_results=50,
        filters={
            "type": "and",
            "filters": [
                {"type": "in", "key": "kind", "value": ["docx", "txt"]},
                {"type": "or", "filters": [{"type": "lt", "key": "rank", "value": 3}, {"type": "eq", "key": "good", "value": False}]},
            ],
        },
    )
    assert compound.data
    for r in compound.data:
        assert r.attributes["kind"] in ("docx", "txt") and r.attributes["rank"] < 3


def test_score_threshold_keeps_only_confident_results(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, _ = corpus
    everything = client.vector_stores.search(store.id, query="Norwich", max_num_results=50)
    cut = everything.data[len(everything.data) // 2].score
    kept = client.vector_stores.search(
        store.id, query="Norwich", max_num_results=50, ranking_options={"score_threshold": cut}
    )
    assert kept.data and all(r.score >= cut for r in kept.data)
    assert len(kept.data) < len(everything.data)


def test_the_ranker_picks_a_configuration_and_openais_values_the_default(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, uploaded = corpus
    query = "Which football club plays its home games at Carrow Road?"

    def scores(ranker: str) -> list[tuple[str, float]]:
        page = client.vector_stores.search(store.id, query=query, ranking_options={"ranker": ranker})  # type: ignore[typeddict-item]
        return [(r.file_id, r.score) for r in page.data]

    default = scores("auto")
    assert default == scores("default-2024-11-15") == scores("none") == scores("hybrid-weighted")
    dense, bm25 = scores("dense"), scores("bm25")
    assert dense[0][0] == bm25[0][0] == uploaded["norwich-city.txt"].id
    assert dense != bm25
    # The default's score is the mean of a chunk's two calibrated scores, each at most that side's best.
    assert default[0][1] <= (dense[0][1] + bm25[0][1]) / 2 + 1e-6


def test_every_list_paginates(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, uploaded = corpus
    ids = [f.id for f in client.vector_stores.files.list(store.id, limit=3)]
    assert len(ids) == len(uploaded) and len(set(ids)) == len(ids)
    asc = [f.id for f in client.vector_stores.files.list(store.id, limit=4, order="asc")]
    assert asc == list(reversed(ids))
    failed = list(client.vector_stores.files.list(store.id, filter="failed", limit=2))
    assert {f.id for f in failed} == {uploaded[n].id for n in BAD}
    files = [f.id for f in client.files.list(limit=5)]
    assert {uploaded[n].id for n in uploaded} <= set(files)
    for _ in range(3):
        client.vector_stores.create(name="extra")
    stores = [s.id for s in client.vector_stores.list(limit=1)]
    assert store.id in stores and len(stores) == len(set(stores)) >= 4


def test_file_content_and_chunks(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, uploaded = corpus
    f = uploaded["norwich-city.txt"]
    assert client.files.content(f.id).read() == (DOCS / "norwich-city.txt").read_bytes()
    chunks = client.vector_stores.files.content(f.id, vector_store_id=store.id)
    texts = [c.text for c in chunks]
    assert texts and "Norwich" in " ".join(texts)


def test_updating_attributes_changes_what_filters_see(client, corpus) -> None:  # type: ignore[no-untyped-def]
    store, uploaded = corpus
    f = uploaded["book-war-and-peace-1p.txt"]
    client.vector_stores.files.update(f.id, vector_store_id=store.id, attributes={"shelf": "classics"})
    deadline = __import__("time").time() + 60
    while True:
        page = client.vector_stores.search(store.id, query="war", filters={"type": "eq", "key": "shelf", "value": "classics"})
        if page.data or __import__("time").time() > deadline:
            break
    assert page.data and {r.file_id for r in page.data} == {f.id}


def test_deleting_a_file_removes_it_from_every_store(client) -> None:  # type: ignore[no-untyped-def]
    f = client.files.create(file=("alpaca.txt", b"Alpacas hum to communicate with their herd."), purpose="assistants")
    stores = [client.vector_stores.create(name=f"s{i}", file_ids=[f.id]) for i in range(2)]
    for s in stores:
        wait_for_store(client, s.id)
        assert client.vector_stores.search(s.id, query="alpaca hum").data[0].file_id == f.id
    deleted = client.files.delete(f.id)
    assert deleted.deleted
    for s in stores:
        assert client.vector_stores.search(s.id, query="alpaca hum").data == []
        assert client.vector_stores.retrieve(s.id).file_counts.total == 0
        assert client.vector_stores.retrieve(s.id).usage_bytes == 0
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)


def test_a_store_created_with_a_file_named_twice_holds_it_once(client) -> None:  # type: ignore[no-untyped-def]
    f = client.files.create(file=("ibex.txt", b"Ibexes climb dam walls for salt."), purpose="assistants")
    store = client.vector_stores.create(name="twice", file_ids=[f.id, f.id])
    wait_for_store(client, store.id)
    store = client.vector_stores.retrieve(store.id)
    assert store.file_counts.total == store.file_counts.completed == 1
    assert [hit.file_id for hit in client.vector_stores.search(store.id, query="ibex salt").data] == [f.id]


def test_deleting_a_store_file_and_a_store(client) -> None:  # type: ignore[no-untyped-def]
    f = client.files.create(file=("llama.txt", b"Llamas are sturdy pack animals of the Andes."), purpose="assistants")
    store = client.vector_stores.create(name="tmp")
    vsf = client.vector_stores.files.create_and_poll(file_id=f.id, vector_store_id=store.id)
    assert vsf.status == "completed"
    assert client.vector_stores.files.delete(f.id, vector_store_id=store.id).deleted
    assert client.vector_stores.search(store.id, query="llama").data == []
    assert client.files.retrieve(f.id).id == f.id  # detaching does not delete the file
    assert client.vector_stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


def test_cancelling_a_batch(client) -> None:  # type: ignore[no-untyped-def]
    ids = [client.files.create(file=(f"n{i}.txt", f"note {i} about owls".encode()), purpose="assistants").id for i in range(5)]
    store = client.vector_stores.create(name="cancel")
    batch = client.vector_stores.file_batches.create(store.id, file_ids=ids)
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status in ("cancelled", "completed")
    final = wait_for_store(client, store.id)
    counts = final.file_counts
    assert counts.in_progress == 0 and counts.completed + counts.cancelled == 5
    listed = list(client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id))
    assert len(listed) == 5


def test_modify_store(client) -> None:  # type: ignore[no-untyped-def]
    store = client.vector_stores.create(name="before", expires_after={"anchor": "last_active_at", "days": 7})
    assert store.expires_at == store.last_active_at + 7 * 86400
    changed = client.vector_stores.update(store.id, name="after", metadata={"team": "search"})
    assert changed.name == "after" and changed.metadata == {"team": "search"}
    assert changed.expires_after.days == 7


# --- bad input ----------------------------------------------------------------------------------------


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_unknown_ids_are_404(client) -> None:  # type: ignore[no-untyped-def]
    for call in (
        lambda: client.vector_stores.retrieve("vs_nope"),
        lambda: client.files.retrieve("file-nope"),
        lambda: client.vector_stores.search("vs_nope", query="x"),
        lambda: client.vector_stores.create(name="x", file_ids=["file-nope"]),
    ):
        with pytest.raises(openai.NotFoundError) as e:
            call()
        assert _error(e.value)["message"]


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"max_num_results": 0}, "max_num_results"),
        ({"max_num_results": 51}, "max_num_results"),
        ({"filters": {"type": "near", "key": "a", "value": 1}}, "filters"),
        ({"filters": {"type": "and", "filters": []}}, "filters"),
        ({"filters": {"type": "in", "key": "a", "value": "not-a-list"}}, "filters"),
        ({"ranking_options": {"score_threshold": 1.5}}, "ranking_options"),
        ({"ranking_options": {"ranker": "cross-encoder"}}, "ranking_options"),
        ({"ranking_options": {"hybrid_search": {"embedding_weight": 0, "text_weight": 0}}}, "ranking_options"),
    ],
)
def test_bad_search_requests_are_400(client, kwargs, param) -> None:  # type: ignore[no-untyped-def]
    store = client.vector_stores.create(name="bad")
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.search(store.id, query="x", **kwargs)
    error = _error(e.value)
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param)


def test_overlap_above_half_and_attribute_limits_are_400(client) -> None:  # type: ignore[no-untyped-def]
    f = client.files.create(file=("a.txt", b"text"), purpose="assistants")
    store = client.vector_stores.create(name="limits")
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.files.create(
            vector_store_id=store.id,
            file_id=f.id,
            chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101}},
        )
    assert "half" in _error(e.value)["message"]
    for attributes in ({f"k{i}": i for i in range(17)}, {"k" * 65: 1}, {"k": "v" * 513}):
        with pytest.raises(openai.BadRequestError):
            client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id, attributes=attributes)
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.create(name="x", metadata={f"k{i}": "v" for i in range(17)})


def test_zero_byte_and_unsupported_files_fail_alone(client) -> None:  # type: ignore[no-untyped-def]
    empty = client.files.create(file=("empty.txt", b""), purpose="assistants")
    assert empty.bytes == 0
    binary = client.files.create(file=("tool.exe", b"MZ\x90\x00" + bytes(range(256)) * 8), purpose="assistants")
    ok = client.files.create(file=("ok.txt", b"Kestrels hover over meadows."), purpose="assistants")
    store = client.vector_stores.create(name="mixed", file_ids=[empty.id, binary.id, ok.id])
    wait_for_store(client, store.id)
    assert client.vector_stores.files.retrieve(empty.id, vector_store_id=store.id).last_error.code == "invalid_file"
    assert client.vector_stores.files.retrieve(binary.id, vector_store_id=store.id).last_error.code == "unsupported_file"
    assert client.vector_stores.files.retrieve(ok.id, vector_store_id=store.id).status == "completed"
    assert client.vector_stores.search(store.id, query="kestrel").data[0].file_id == ok.id


def test_bad_purpose_and_missing_key(server, client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as e:
        client.files.create(file=("a.txt", io.BytesIO(b"x")), purpose="nonsense")  # type: ignore[arg-type]
    assert _error(e.value)["param"] == "purpose"
    with pytest.raises(openai.AuthenticationError):
        server.client(key="sk-wrong").vector_stores.list()


def test_another_projects_objects_are_404(server, client) -> None:  # type: ignore[no-untyped-def]
    project = client.post("/organization/projects", body={"name": "tenant b"}, cast_to=object)
    account = client.post(f"/organization/projects/{project['id']}/service_accounts", body={"name": "b"}, cast_to=object)
    other = server.client(key=account["api_key"]["value"])
    f = client.files.create(file=("mine.txt", b"private"), purpose="assistants")
    store = client.vector_stores.create(name="mine", file_ids=[f.id])
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(f.id)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.retrieve(store.id)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.search(store.id, query="private")
    assert store.id not in [s.id for s in other.vector_stores.list()]
    with pytest.raises(openai.PermissionDeniedError):
        other.get("/organization/projects", cast_to=object)
