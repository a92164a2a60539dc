"""The runtime's text machinery on its own: citation markers in streamed text, the extractive
model's choice of quotes, and oldest-first truncation."""

from __future__ import annotations

import json

import pytest

from retrievd.runtime import tokens
from retrievd.runtime.citations import CitationStream, Source
from retrievd.runtime.providers.base import ChatRequest, TextDelta, ToolCallDelta
from retrievd.runtime.providers.extractive import NOTHING_FOUND, ExtractiveProvider
from retrievd.runtime.tools import FILE_SEARCH_FUNCTION

SOURCES = {(0, 0): Source("file-a", "a.txt"), (0, 1): Source("file-b", "b.txt")}
DELTAS = ["Carrow Road ", "【0", ":0†a.txt】. Also ", "Bangor【0:1†b", ".txt】【9:9†z.txt】 end."]


def feed(stream: CitationStream, deltas: list[str]) -> list[str]:
    pieces = [stream.feed(d).text for d in deltas]
    return [*pieces, stream.flush().text]


def test_a_marker_split_across_deltas_is_held_back_until_complete() -> None:
    stream = CitationStream(SOURCES, keep_markers=True)
    pieces = feed(stream, DELTAS)
    assert pieces[1] == ""  # "【0" could be the start of a marker
    assert "".join(pieces) == "".join(DELTAS) == stream.text
    first, second = stream.citations
    assert (first.source.file_id, second.source.file_id) == ("file-a", "file-b")
    for c in stream.citations:
        assert stream.text[c.start : c.end] == c.marker
        assert c.assistants()["text"] == c.marker
    assert "【9:9†z.txt】" in stream.text  # names no result: left as text, not annotated


def test_responses_text_drops_markers_and_cites_their_position() -> None:
    stream = CitationStream(SOURCES, keep_markers=False)
    feed(stream, DELTAS)
    assert stream.text == "Carrow Road. Also Bangor end."
    assert [c.start for c in stream.citations] == [len("Carrow Road"), len("Carrow Road. Also Bangor")]
    assert stream.citations[1].responses() == {
        "type": "file_citation",
        "file_id": "file-b",
        "filename": "b.txt",
        "index": 24,
    }


def _after_search(question: str, passages: list[tuple[str, str]]) -> ChatRequest:
    output = json.dumps({"results": [{"source": s, "filename": "f", "text": t} for s, t in passages]})
    call = {"id": "call_1", "type": "function", "function": {"name": "file_search", "arguments": "{}"}}
    return ChatRequest(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": output},
        ],
        tools=[FILE_SEARCH_FUNCTION],
    )


def _answer(request: ChatRequest) -> str:
    return "".join(
        d.text for d in ExtractiveProvider(context_tokens=8000).stream(request) if isinstance(d, TextDelta)
    )


def test_the_extractive_model_searches_with_the_latest_question_first(assets_ready: None) -> None:
    request = ChatRequest(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "old question"},
            {"role": "user", "content": "Where is Carrow Road?"},
        ],
        tools=[FILE_SEARCH_FUNCTION],
    )
    (call,) = [
        d for d in ExtractiveProvider(context_tokens=8000).stream(request) if isinstance(d, ToolCallDelta)
    ]
    assert call.name == "file_search" and json.loads(call.arguments) == {"queries": ["Where is Carrow Road?"]}


def test_the_extractive_model_quotes_the_matching_sentence_and_cites_it(assets_ready: None) -> None:
    answer = _answer(
        _after_search(
            "When was Iwan Roberts born?",
            [
                ("【0:0†club.txt】", "Norwich City play at Carrow Road. The club was founded in 1902."),
                (
                    "【0:1†roberts.txt】",
                    "He scored often. Iwan Wyn Roberts (born 26 June 1968) is a Welsh footballer.",
                ),
            ],
        )
    )
    first = answer.splitlines()[2]
    assert first == '1. "Iwan Wyn Roberts (born 26 June 1968) is a Welsh footballer." 【0:1†roberts.txt】'


def test_a_list_is_quoted_with_its_heading(assets_ready: None) -> None:
    answer = _answer(
        _after_search(
            "What are the important points?",
            [("【0:0†mail.eml】", "Hello.\n\nImportant points:\n\n- Roses are red\n- Violets are blue")],
        )
    )
    assert '"Important points: Roses are red; Violets are blue."' in answer


def test_no_passages_means_no_answer_is_made_up(assets_ready: None) -> None:
    assert _answer(_after_search("Anything?", [])) == NOTHING_FOUND


def test_truncation_drops_the_oldest_groups_first(assets_ready: None) -> None:
    head = [{"role": "system", "content": "Be brief."}]
    groups = [[{"role": "user", "content": f"message {i} " + "word " * 50}] for i in range(5)]
    one = tokens.count_message(groups[0][0], "gpt-4o")
    kept = tokens.truncate_oldest(head, groups, tokens.count_messages(head, "gpt-4o") + 2 * one, "gpt-4o")
    assert kept is not None and [m["content"][:9] for m in kept[1:]] == ["message 3", "message 4"]
    assert tokens.truncate_oldest(head, groups, one, "gpt-4o") is None


@pytest.mark.parametrize(
    ("model", "encoding"),
    [("gpt-4o-mini", "o200k_base"), ("gpt-4", "cl100k_base"), ("llama3", "cl100k_base")],
)
def test_token_counts_use_the_models_encoding(assets_ready: None, model: str, encoding: str) -> None:
    assert tokens.encoding_for(model).name == encoding
