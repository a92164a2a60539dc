"""The tools a model is offered, and the file_search tool, which runs here, on the retriever.

A model sees file_search as a function taking `queries`. Its result is JSON: the passages found,
each with the source marker to cite it by (see `retrievd.runtime.citations`). Any error (bad
arguments, an expired store) goes back to the model as the tool's result, so it can recover.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retrievd.errors import APIError
from retrievd.retrieval.search import Result, SearchOptions
from retrievd.runtime.citations import marker

if TYPE_CHECKING:
    from retrievd.core import Core

FILE_SEARCH = "file_search"
FILE_SEARCH_FUNCTION: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": FILE_SEARCH,
        "description": (
            "Search the files the user made available. Returns the most relevant passages, "
            "each with a source marker to cite it by."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "queries": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Self-contained search queries; one is usually enough.",
                }
            },
            "required": ["queries"],
        },
    },
}
CITATION_GUIDE = (
    "Answer from the passages that file_search returns. Cite each passage you use by writing its "
    "source marker, e.g. 【0:1†report.pdf】, right after the sentence that uses it."
)


class ToolArgumentError(ValueError):
    """The model's arguments for a tool are not what the tool takes."""


@dataclass(frozen=True)
class FileSearchConfig:
    vector_store_ids: list[str]
    options: SearchOptions


@dataclass(frozen=True)
class Passage:
    """One file_search result as the runtime keeps it: what the API shows and what the model was told."""

    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any]
    turn: int
    index: int
    page: int | None = None  # the chunk's first and last pages (retrieval.search.Result)
    page_end: int | None = None

    @property
    def marker(self) -> str:
        return marker(self.turn, self.index, self.filename)

    def to_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "filename": self.filename,
            "score": self.score,
            "text": self.text,
            "attributes": self.attributes,
            "turn": self.turn,
            "index": self.index,
            "page": self.page,
            "page_end": self.page_end,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Passage:
        return cls(
            **{k: data[k] for k in ("file_id", "filename", "score", "text", "attributes", "turn", "index")},
            page=data.get("page"),  # results kept before passages knew their pages have none
            page_end=data.get("page_end"),
        )


def parse_queries(arguments: str) -> list[str]:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as e:
        raise ToolArgumentError(
            f'The arguments are not valid JSON ({e.msg}); pass {{"queries": ["..."]}}.'
        ) from e
    queries = args.get("queries") if isinstance(args, dict) else None
    if isinstance(args, dict) and isinstance(args.get("query"), str):
        queries = [args["query"]]  # a common slip; the intent is clear
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise ToolArgumentError('file_search takes {"queries": ["..."]}, a list of strings.')
    queries = [q.strip() for q in queries if q.strip()]
    if not queries:
        raise ToolArgumentError("file_search needs at least one non-empty query.")
    return queries


def file_search(
    core: Core, project_id: str, config: FileSearchConfig, queries: list[str], turn: int
) -> list[Passage]:
    """Search the configured stores through the shared retriever (which checks expiry and keeps stores
    alive); each call is counted for usage reports."""
    from retrievd.services.search import SearchService
    from retrievd.usage.ledger import record_file_search

    results: list[Result] = SearchService(core).results(
        project_id, config.vector_store_ids, queries, config.options
    )
    record_file_search(core.db, project_id, config.vector_store_ids)
    return [
        Passage(r.file_id, r.filename, r.score, r.text, dict(r.attributes), turn, i, r.page, r.page_end)
        for i, r in enumerate(results)
    ]


def output_for_model(passages: list[Passage]) -> str:
    if not passages:
        return json.dumps({"results": [], "note": "No passage of the files matches these queries."})
    return json.dumps(
        {"results": [_for_model(p) for p in passages]},
        ensure_ascii=False,
    )


def _for_model(passage: Passage) -> dict[str, Any]:
    """A passage as the model reads it; "pages" (e.g. "p. 3", "pp. 3-4") where the file has pages, so
    an answer can say where in the file it is."""
    shown: dict[str, Any] = {"source": passage.marker, "filename": passage.filename}
    if passage.page is not None:
        shown["pages"] = page_label(passage.page, passage.page_end)
    return shown | {"text": passage.text}


def page_label(page: int, page_end: int | None) -> str:
    return f"p. {page}" if page_end in (None, page) else f"pp. {page}-{page_end}"


def error_for_model(message: str) -> str:
    return json.dumps({"error": message})


def describe_error(exc: Exception) -> str:
    return exc.message if isinstance(exc, APIError) else str(exc)
