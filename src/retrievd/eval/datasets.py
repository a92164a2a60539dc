"""Eval collections, in one of two layouts.

BEIR: `corpus.jsonl` ({_id, title, text}), `queries.jsonl` ({_id, text}) and `qrels.tsv` (or
`qrels/test.tsv`) with a header `query-id corpus-id score` and graded scores. Each document
becomes a plain-text file: its title, a blank line, its text.

Files: real documents under `files/` plus `questions.jsonl`, one question a line:
`{"id": "q1", "question": "...", "judgments": [{"file": "report.pdf", "page": 3, "grade": 2}]}`
(`page` and `grade` optional, grade defaults to 1). A judgment names a file by its path under
`files/`; when judgments name pages, a hit counts for its (file, page), so every judgment of the
collection must then name a page.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from retrievd.eval.metrics import Qrels


@dataclass(frozen=True)
class Document:
    id: str
    filename: str
    content: bytes
    text: str | None  # what the textbook baseline indexes; None for a real file (the pipeline parses it)


@dataclass(frozen=True)
class Dataset:
    name: str
    documents: list[Document]
    queries: dict[str, str]  # only judged queries
    qrels: Qrels
    by_page: bool = False  # judgments are "file#page" instead of a file


def load_dataset(path: Path) -> Dataset:
    if (path / "corpus.jsonl").is_file():
        return _load_beir(path)
    if (path / "questions.jsonl").is_file():
        return _load_files(path)
    raise ValueError(f"{path}: neither a BEIR collection (corpus.jsonl) nor files with questions.jsonl")


def page_key(doc_id: str, page: int | None) -> str:
    return f"{doc_id}#{page}"


def _load_beir(path: Path) -> Dataset:
    documents = []
    for row in _jsonl(path / "corpus.jsonl"):
        title, text = (row.get("title") or "").strip(), (row.get("text") or "").strip()
        body = "\n\n".join(part for part in (title, text) if part)
        documents.append(Document(str(row["_id"]), _filename(str(row["_id"])), body.encode(), body))
    qrels_path = path / "qrels.tsv" if (path / "qrels.tsv").is_file() else path / "qrels" / "test.tsv"
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(float(row["score"]))
    queries = {str(row["_id"]): row["text"] for row in _jsonl(path / "queries.jsonl")}
    return _judged(path.name, documents, queries, qrels, by_page=False)


def _load_files(path: Path) -> Dataset:
    root = path / "files"
    documents = [
        Document(str(file.relative_to(root)), file.name, file.read_bytes(), None)
        for file in sorted(root.rglob("*"))
        if file.is_file()
    ]
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    paged: set[bool] = set()
    for row in _jsonl(path / "questions.jsonl"):
        query_id = str(row["id"])
        queries[query_id] = row["question"]
        for judgment in row["judgments"]:
            paged.add("page" in judgment)
            key = page_key(judgment["file"], judgment["page"]) if "page" in judgment else judgment["file"]
            qrels.setdefault(query_id, {})[key] = int(judgment.get("grade", 1))
    if len(paged) > 1:
        raise ValueError(f"{path}: either every judgment names a page or none does")
    return _judged(path.name, documents, queries, qrels, by_page=paged == {True})


def _judged(
    name: str, documents: list[Document], queries: dict[str, str], qrels: dict[str, dict[str, int]], *, by_page: bool
) -> Dataset:
    judged = {q: j for q, j in qrels.items() if q in queries and any(grade > 0 for grade in j.values())}
    return Dataset(name, documents, {q: queries[q] for q in judged}, judged, by_page)


def _filename(doc_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in doc_id)
    return f"{safe}.txt"


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
