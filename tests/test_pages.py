"""Every chunk knows the pages it came from, and search results say them, read through the SDK.

A result's `attributes` stay the store file's (OpenAI's shape); the pages sit beside the text they
describe, as extra fields of each content item (`page`, `page_end`), which the SDK keeps.
"""

from __future__ import annotations

import io
import itertools

import docx
import pptx
import pytest
from docx.enum.section import WD_SECTION_START
from docx.enum.text import WD_BREAK

from tests.conftest import DOCS, wait_for_store
from tests.test_ocr import PAPER, PHRASES, render, scanned_pdf

# One paragraph a page, each between 75 and 100 tokens: a 100-token chunk is cut at its end (the best
# boundary in the window's last quarter), so each page is one chunk.
FILLER = (
    " This page belongs to the town almanac, which records the customs, trades and seasons of the coast"
    " for visitors and residents alike. Volunteers from the library revise it every spring and print a"
    " few hundred copies, which the harbour office, the bakery and the ferry waiting room hand out for free"
    " until they run out, usually by the end of the summer."
)
PAGE_SENTENCES = {
    1: "The harbour master keeps the tide tables in a blue ledger beside the lighthouse door.",
    2: "Quarterly cider pressing at the orchard cooperative begins after the first frost.",
    3: "A cobalt kingfisher nested under the old railway bridge for three summers running.",
    4: "The glassblowers of the east quay cool their vases slowly in sand-filled kilns.",
}
PAGE_TEXTS = {number: sentence + FILLER for number, sentence in PAGE_SENTENCES.items()}
SMALL_CHUNKS = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}


def explicit_breaks_docx() -> bytes:
    """A DOCX as python-docx (or LibreOffice) writes it: breaks stated, none rendered by Word. Page 2
    starts after a page break, page 3 at a paragraph that starts a page, page 4 with a new section."""
    document = docx.Document()
    document.add_paragraph(PAGE_TEXTS[1]).add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph(PAGE_TEXTS[2])
    document.add_paragraph(PAGE_TEXTS[3]).paragraph_format.page_break_before = True
    document.add_section(WD_SECTION_START.NEW_PAGE)
    document.add_paragraph(PAGE_TEXTS[4])
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def slides_pptx() -> bytes:
    deck = pptx.Presentation()
    for number, text in PAGE_TEXTS.items():
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide {number}"
        slide.placeholders[1].text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def store(client, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    scan = scanned_pdf(tmp_path_factory.mktemp("scan") / "scan.pdf", [render(PAPER, 0), render(PAPER, 1)])
    uploads = {
        "paper.pdf": (PAPER.read_bytes(), None),
        "scan.pdf": (scan.read_bytes(), None),
        "page-breaks.docx": ((DOCS / "page-breaks.docx").read_bytes(), SMALL_CHUNKS),  # breaks rendered by Word
        "explicit.docx": (explicit_breaks_docx(), SMALL_CHUNKS),
        "slides.pptx": (slides_pptx(), SMALL_CHUNKS),
    }
    store = client.vector_stores.create(name="pages")
    ids = {}
    for name, (content, chunking) in uploads.items():
        file = client.files.create(file=(name, content), purpose="assistants")
        extra = {"chunking_strategy": chunking} if chunking else {}
        client.vector_stores.files.create(store.id, file_id=file.id, attributes={"name": name}, **extra)
        ids[name] = file.id
    wait_for_store(client, store.id)
    return store.id, ids


def best(client, store_id: str, name: str, query: str):  # type: ignore[no-untyped-def]
    """The best result for `query` from the file uploaded as `name`."""
    page = client.vector_stores.search(store_id, query=query, filters={"type": "eq", "key": "name", "value": name})
    assert page.data, query
    return page.data[0]


def pages_of(result) -> tuple[int | None, int | None]:  # type: ignore[no-untyped-def]
    [content] = result.content
    return content.model_extra["page"], content.model_extra["page_end"]


def test_a_pdf_result_names_its_page(client, store) -> None:  # type: ignore[no-untyped-def]
    store_id, _ = store
    for name in ("paper.pdf", "scan.pdf"):  # the scan's pages are read by OCR
        for number, phrase in PHRASES.items():
            result = best(client, store_id, name, phrase)
            first, last = pages_of(result)
            assert first is not None and last is not None and first <= number <= last, (name, phrase, first, last)
            assert result.attributes == {"name": name}  # the store file's attributes, no chunk data mixed in


@pytest.mark.parametrize("name", ["explicit.docx", "slides.pptx"])
def test_docx_page_breaks_and_pptx_slides_are_pages(client, store, name: str) -> None:  # type: ignore[no-untyped-def]
    store_id, _ = store
    for number, sentence in PAGE_SENTENCES.items():
        result = best(client, store_id, name, sentence)
        assert sentence in result.content[0].text
        assert pages_of(result) == (number, number), (name, sentence)


def test_word_rendered_page_breaks_count_pages(client, store) -> None:  # type: ignore[no-untyped-def]
    store_id, _ = store
    result = best(client, store_id, "page-breaks.docx", "producing two page-breaks to get from page-3 to page-5")
    assert pages_of(result)[0] == 5  # an odd-page section break skips page 4


def test_a_chunk_across_a_page_break_knows_both_pages(client, store) -> None:  # type: ignore[no-untyped-def]
    store_id, ids = store
    content = client.vector_stores.files.content(ids["paper.pdf"], vector_store_id=store_id).data
    spans = [(c.model_extra["page"], c.model_extra["page_end"]) for c in content]
    assert spans[0][0] == 1 and spans[-1][1] == max(end for _, end in spans)
    assert all(first <= last for first, last in spans)
    assert any(first < last for first, last in spans)  # chunks overlap page breaks in running text
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(spans))


def test_a_file_without_pages_says_null(client, store) -> None:  # type: ignore[no-untyped-def]
    store_id, _ = store
    file = client.files.create(file=("notes.txt", (DOCS / "norwich-city.txt").read_bytes()), purpose="assistants")
    client.vector_stores.files.create(store_id, file_id=file.id, attributes={"name": "notes.txt"})
    wait_for_store(client, store_id)
    assert pages_of(best(client, store_id, "notes.txt", "Carrow Road")) == (None, None)


def test_file_search_results_and_the_offline_answer_give_the_page(client, store) -> None:  # type: ignore[no-untyped-def]
    store_id, _ = store
    tool = {
        "type": "file_search",
        "vector_store_ids": [store_id],
        "filters": {"type": "eq", "key": "name", "value": "slides.pptx"},
    }
    response = client.responses.create(
        model="gpt-4o",  # no upstream configured: the built-in extractive model answers
        input="Where did the cobalt kingfisher nest?",
        tools=[tool],
        include=["file_search_call.results"],
    )
    search = response.output[0]
    assert (search.results[0].model_extra["page"], search.results[0].model_extra["page_end"]) == (3, 3)
    assert response.output_text.endswith("running.\" (p. 3)")  # the quote says which slide it is on


def test_an_assistants_run_step_gives_the_page(client, store) -> None:  # type: ignore[no-untyped-def]
    store_id, _ = store
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}},
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Where do the glassblowers cool their vases?"}]},
        poll_interval_ms=100,
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(
        run.id, thread_id=run.thread_id, order="asc", include=["step_details.tool_calls[*].file_search.results[*].content"]
    ).data
    [call] = steps[0].step_details.tool_calls
    top = call.file_search.results[0]
    [content] = top.content
    assert "glassblowers" in content.text
    assert (content.model_extra["page"], content.model_extra["page_end"]) == (4, 4)  # explicit.docx or slides.pptx
    answer = client.beta.threads.messages.list(run.thread_id).data[0].content[0].text
    assert "(p. " in answer.value and answer.annotations  # the quote's page, then its cited marker
