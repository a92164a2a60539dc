"""`extractive`: answers without an LLM, from the passages file_search finds.

It behaves like a model that always does the same thing: asked a question, it calls file_search
with the latest user message; given the results, it quotes the few sentences that best match the
question (words in common, rarer words weighing more, earlier passages preferred) and cites each
with its source marker. So every run over files gets a real, cited answer with no model server.
Asked for JSON (`response_format` / `text.format`), it puts that answer in a value the schema
accepts (`structured.py`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from retrievd.runtime import tokens
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.providers.base import ChatDelta, ChatRequest, Finish, TextDelta, ToolCallDelta, Usage
from retrievd.runtime.providers.structured import structured_answer
from retrievd.runtime.tools import FILE_SEARCH

MAX_QUOTES = 3
MAX_PER_PASSAGE = 2
MAX_QUOTE_CHARS = 400
MIN_QUOTE_CHARS = 15
NO_FILES = (
    "I can only answer from files made available to me through the file_search tool, "
    "and none are available here."
)
NOTHING_FOUND = "I could not find anything about that in the available files."
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A sentence ends at . ! or ? (after any footnote marks like [55] and closing quotes), at a blank
# line, or before a list item.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?:\[\d+\])*[\"'”’)]?\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "tell",
        "please",
        "know",
        "find",
        "give",
        "show",
        "explain",
        "describe",
        "does",
        "say",
        "says",
        "said",
    ]
)


@dataclass(frozen=True)
class _Passage:
    source: str
    text: str
    rank: int
    pages: str = ""  # "p. 3", where the file has pages


@dataclass(frozen=True)
class _Sentence:
    text: str
    passage: _Passage
    position: int


class ExtractiveProvider:
    name = "extractive"

    def __init__(self, *, context_tokens: int) -> None:
        self.context_tokens = context_tokens

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        prompt = tokens.count_messages(request.messages, request.model) + tokens.count_tools(
            request.tools, request.model
        )
        question, results, errors = _read_conversation(request.messages)
        if results is None and _can_search(request) and question:
            arguments = json.dumps({"queries": [question]})
            yield ToolCallDelta(0, sortable_id("call_"), FILE_SEARCH, arguments)
            yield Finish(
                "tool_calls", Usage(prompt, tokens.count_text(FILE_SEARCH + arguments, request.model))
            )
            return
        answer, quotes = compose_answer(question, results, errors)
        answer = structured_answer(request.response_format, answer, quotes) or answer
        finish = "stop"
        if request.max_tokens is not None:
            encoding = tokens.encoding_for(request.model)
            ids = encoding.encode(answer, disallowed_special=())
            if len(ids) > request.max_tokens:
                answer, finish = encoding.decode(ids[: request.max_tokens]), "length"
        for piece in re.findall(r"\S+\s*|\s+", answer):
            yield TextDelta(piece)
        yield Finish(finish, Usage(prompt, tokens.count_text(answer, request.model)))


def _can_search(request: ChatRequest) -> bool:
    if request.tool_choice == "none":
        return False
    return any(t.get("function", {}).get("name") == FILE_SEARCH for t in request.tools)


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _read_conversation(messages: list[dict[str, Any]]) -> tuple[str, list[_Passage] | None, list[str]]:
    """The latest user question, and the file_search results (None: not searched yet) given since."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    question = _text_of(messages[last_user]).strip() if last_user >= 0 else ""
    search_ids = {
        call["id"]
        for m in messages[last_user + 1 :]
        for call in m.get("tool_calls") or ()
        if call.get("function", {}).get("name") == FILE_SEARCH
    }
    if not search_ids:
        return question, None, []
    passages: list[_Passage] = []
    errors: list[str] = []
    for m in messages[last_user + 1 :]:
        if m.get("role") != "tool" or m.get("tool_call_id") not in search_ids:
            continue
        try:
            output = json.loads(_text_of(m))
        except json.JSONDecodeError:
            continue
        if isinstance(output, dict) and output.get("error"):
            errors.append(str(output["error"]))
        for r in output.get("results", []) if isinstance(output, dict) else []:
            passages.append(_Passage(r.get("source", ""), r.get("text", ""), len(passages), r.get("pages", "")))
    return question, passages, errors


def _terms(text: str) -> list[str]:
    return [
        _stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())
    ]


def _stem(word: str) -> str:
    for suffix in ("ingly", "edly", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return word


def _sentences(passage: _Passage) -> list[_Sentence]:
    parts = [" ".join(p.split()) for p in _SENTENCE_END.split(passage.text)]
    return [_Sentence(p, passage, i) for i, p in enumerate(parts) if _WORD.search(p)]


def _quote(text: str) -> str:
    text = text.strip('"“”')  # it goes between quotes of its own
    if len(text) <= MAX_QUOTE_CHARS:
        return text
    cut = text.rfind(" ", 0, MAX_QUOTE_CHARS)
    return text[: cut if cut > 0 else MAX_QUOTE_CHARS].rstrip(",;:") + " …"


def best_sentences(question: str, passages: list[_Passage]) -> list[_Sentence]:
    """The sentences to quote, best first: shared rare words with the question, then passage rank."""
    sentences = [s for p in passages for s in _sentences(p)]
    if not sentences:
        return []
    asked = set(_terms(question))
    term_sets = [set(_terms(s.text)) for s in sentences]
    df = Counter(t for terms in term_sets for t in terms & asked)
    n = len(sentences)

    def score(i: int) -> float:
        s = sentences[i]
        overlap = sum(math.log(1 + n / df[t]) for t in term_sets[i] & asked)
        # A chunk's first fragment often starts mid-sentence (chunks overlap): quote it only if nothing better.
        partial = 0.5 if s.position == 0 and s.text[:1].islower() else 1.0
        return partial * overlap / (1 + 0.15 * s.passage.rank)

    scored = sorted(range(n), key=lambda i: (-score(i), sentences[i].passage.rank, sentences[i].position))
    if score(scored[0]) == 0:
        # Nothing in common word for word: the retriever's best passage is the best guess.
        scored = sorted(range(n), key=lambda i: (sentences[i].passage.rank, sentences[i].position))
    chosen: list[_Sentence] = []
    per_passage: Counter[int] = Counter()
    seen: set[str] = set()
    for i in scored:
        s = sentences[i]
        if (
            len(s.text) < MIN_QUOTE_CHARS
            or per_passage[s.passage.rank] >= MAX_PER_PASSAGE
            or s.text.lower() in seen
        ):
            continue  # a fragment too short to stand alone is quoted only as an item of a list
        if chosen and score(i) < 0.34 * score(scored[0]):
            break
        chosen.append(_with_list(s, sentences[i + 1 :]))
        per_passage[s.passage.rank] += 1
        seen.add(s.text.lower())
        if len(chosen) == MAX_QUOTES:
            break
    return chosen


def _with_list(sentence: _Sentence, following: list[_Sentence]) -> _Sentence:
    """A sentence that introduces a list ("Important points:") is quoted with the list's items."""
    if not sentence.text.endswith(":"):
        return sentence
    items = []
    for s in following:
        if s.passage is not sentence.passage or len(sentence.text) + sum(map(len, items)) > MAX_QUOTE_CHARS:
            break
        items.append(s.text.lstrip("-*• ").rstrip("."))
    return _Sentence(
        f"{sentence.text} {'; '.join(items)}." if items else sentence.text,
        sentence.passage,
        sentence.position,
    )


def compose_answer(
    question: str, passages: list[_Passage] | None, errors: list[str]
) -> tuple[str, list[str]]:
    """The answer, and each quote alone (with its source marker) for structured output."""
    if passages is None:
        return (NO_FILES if question else "Please ask a question about your files."), []
    chosen = best_sentences(question, passages)
    if not chosen:
        if errors:
            return "I could not search the files: " + "; ".join(errors), []
        return NOTHING_FOUND, []
    quotes = [f"{_quote(s.text)} {_cite(s.passage)}" for s in chosen]
    lines = [f'{n}. "{_quote(s.text)}" {_cite(s.passage)}' for n, s in enumerate(chosen, 1)]
    return "Here is what the files say:\n\n" + "\n".join(lines), quotes


def _cite(passage: _Passage) -> str:
    """Where a quote comes from: its page(s), then its source marker ("(p. 3) 【0:1†report.pdf】")."""
    return f"({passage.pages}) {passage.source}" if passage.pages else passage.source
