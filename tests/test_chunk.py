"""Token chunking: OpenAI's static sizes, clean cuts, pages and sections, and the `auto` size.

Texts are real documents from /work/shared/docs; token counts are real tiktoken (cl100k_base)
served from the pinned asset.
"""

from __future__ import annotations

import itertools

import pytest

from retrievd.assets import tiktoken_encoding
from retrievd.config import Settings
from retrievd.embedding import get_embedder
from retrievd.ingest.chunk import auto_chunking, chunk_elements
from retrievd.ingest.types import Chunk, Element
from tests.conftest import DOCS

pytestmark = pytest.mark.usefixtures("assets_ready")

NORWICH = (DOCS / "norwich-city.txt").read_text()
WAR_AND_PEACE = (DOCS / "book-war-and-peace-1p.txt").read_text()


def paragraphs(text: str, per_page: int = 5) -> list[Element]:
    """One element per paragraph, `per_page` paragraphs to a page; short lines become titles."""
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    return [
        Element(p, "Title" if len(p) < 40 and "\n" not in p else "NarrativeText", page=1 + i // per_page)
        for i, p in enumerate(parts)
    ]


def tokens(text: str) -> int:
    return len(tiktoken_encoding("cl100k_base").encode_ordinary(text))


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize(("max_tokens", "overlap"), [(100, 0), (100, 50), (256, 64), (800, 400), (4096, 2048)])
def test_static_sizes_on_a_real_document(max_tokens: int, overlap: int) -> None:
    elements = paragraphs(NORWICH)
    chunks = chunk_elements(elements, max_tokens=max_tokens, overlap_tokens=overlap)

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.text and c.text == c.text.strip() for c in chunks)
    assert all(c.token_count == tokens(c.text) <= max_tokens for c in chunks)
    assert len(chunks) > 1
    # Nothing is lost: every paragraph's text is inside one chunk or spread over consecutive ones.
    everything = squash("".join(c.text for c in chunks))
    assert all(squash(e.text)[:50] in everything for e in elements)
    # No chunk is only a repeat of the one before it (a peer's trailing-overlap bug).
    assert all(b.text not in a.text for a, b in itertools.pairwise(chunks))


def test_without_overlap_the_chunks_are_the_document() -> None:
    elements = paragraphs(NORWICH)
    chunks = chunk_elements(elements, max_tokens=200, overlap_tokens=0)
    assert squash("".join(c.text for c in chunks)) == squash("".join(e.text for e in elements))


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    chunks = chunk_elements(paragraphs(NORWICH), max_tokens=200, overlap_tokens=50)
    for previous, chunk in itertools.pairwise(chunks):
        head = chunk.text[:30]
        assert head in previous.text[-400:]


def test_cuts_fall_between_elements_or_sentences() -> None:
    text = " ".join(WAR_AND_PEACE.split())  # one long paragraph: only sentence and word boundaries
    chunks = chunk_elements([Element(text, "NarrativeText")], max_tokens=100, overlap_tokens=0)
    assert len(chunks) > 5
    sentence_ends = [c.text.endswith((".", "!", "?", '"')) for c in chunks[:-1]]
    assert sum(sentence_ends) >= 2 / 3 * len(sentence_ends)
    # Where no sentence ends near the limit, the cut still falls between two words.
    assert all(f"{a.text[-20:]} {b.text[:20]}" in text for a, b in itertools.pairwise(chunks))


def test_a_title_starts_a_chunk_rather_than_ending_one() -> None:
    body = " ".join(WAR_AND_PEACE.split()[:55])  # 79 tokens: a title fits after it, but not its text
    elements = [
        Element(body, "NarrativeText"),
        Element("CHAPTER II", "Title"),
        Element(body, "NarrativeText"),
    ]
    chunks = chunk_elements(elements, max_tokens=100, overlap_tokens=0)
    assert chunks[1].text.startswith("CHAPTER II")
    assert (chunks[0].section, chunks[1].section) == (None, "CHAPTER II")


def test_page_and_section_come_from_the_first_token_page_end_from_the_last() -> None:
    prose, football = WAR_AND_PEACE.split(), NORWICH.split()
    elements = [
        Element("Part One", "Title", page=1),
        Element(" ".join(prose[:200]), "NarrativeText", page=1),
        Element(" ".join(football[:200]), "NarrativeText", page=2),
        Element("Part Two", "Title", page=3),
        Element(" ".join(football[2000:2200]), "NarrativeText", page=3),
    ]
    chunks = chunk_elements(elements, max_tokens=120, overlap_tokens=30)

    for chunk in chunks:
        start = chunk.text.split("\n\n")[0]
        [first] = [i for i, e in enumerate(elements) if start in e.text]
        end = chunk.text.split("\n\n")[-1]
        [last] = [i for i, e in enumerate(elements) if end in e.text]
        assert chunk.page == elements[first].page
        assert chunk.page_end == elements[last].page
        assert chunk.section == ("Part One" if first < 3 else "Part Two")
    assert {c.page for c in chunks} == {1, 2, 3}
    assert any(c.page_end != c.page for c in chunks)  # a chunk across a page break knows both pages


def test_one_huge_element() -> None:
    text = NORWICH
    chunks = chunk_elements([Element(text, "NarrativeText", page=7)], max_tokens=512, overlap_tokens=128)
    assert len(chunks) > tokens(text) // 512
    assert all(c.page == c.page_end == 7 and c.token_count <= 512 for c in chunks)


def test_text_without_spaces_is_cut_between_characters() -> None:
    text = "東京は日本の首都です。" * 200 + "🙂" * 300  # no spaces; emoji take several tokens each
    chunks = chunk_elements([Element(text, "NarrativeText")], max_tokens=100, overlap_tokens=0)
    assert all("\ufffd" not in c.text and c.token_count <= 100 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_empty_input_gives_no_chunks() -> None:
    assert chunk_elements([], max_tokens=800, overlap_tokens=400) == []
    blank = [Element("", "NarrativeText"), Element(" \n\t ", "NarrativeText")]
    assert chunk_elements(blank, max_tokens=800, overlap_tokens=400) == []


def test_a_short_document_is_one_chunk() -> None:
    elements = [Element("Norwich City", "Title", page=1), Element("A football club in Norfolk.", "NarrativeText", page=1)]
    assert chunk_elements(elements, max_tokens=800, overlap_tokens=400) == [
        Chunk(0, "Norwich City\n\nA football club in Norfolk.", 10, 1, "Norwich City", page_end=1)
    ]


def test_special_token_text_is_plain_text() -> None:
    [chunk] = chunk_elements([Element("ends with <|endoftext|> here", "NarrativeText")], max_tokens=100, overlap_tokens=0)
    assert chunk.text == "ends with <|endoftext|> here"


def test_o200k_base() -> None:
    chunks = chunk_elements(paragraphs(NORWICH), max_tokens=300, overlap_tokens=0, encoding="o200k_base")
    encoding = tiktoken_encoding("o200k_base")
    assert all(len(encoding.encode_ordinary(c.text)) == c.token_count <= 300 for c in chunks)


def test_deterministic() -> None:
    elements = paragraphs(NORWICH)
    assert chunk_elements(elements, max_tokens=300, overlap_tokens=100) == chunk_elements(
        elements, max_tokens=300, overlap_tokens=100
    )


@pytest.mark.parametrize(("max_tokens", "overlap"), [(99, 0), (4097, 0), (200, 101), (200, -1)])
def test_sizes_outside_openai_bounds_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_elements([Element("text", "NarrativeText")], max_tokens=max_tokens, overlap_tokens=overlap)


def test_auto_chunks_fit_the_embedding_window() -> None:
    embedder = get_embedder(Settings())
    max_tokens, overlap = auto_chunking(embedder)
    assert (max_tokens, overlap) == (200, 50)
    for text in (NORWICH, WAR_AND_PEACE):
        chunks = chunk_elements(paragraphs(text), max_tokens=max_tokens, overlap_tokens=overlap)
        assert max(embedder.count_tokens(c.text) for c in chunks) <= embedder.max_tokens
