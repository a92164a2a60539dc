"""Responses and Conversations items: normalising what clients send, and turning items into chat.

Items are kept as the API shows them, each with an id. For the model they become Chat
Completions messages: calls made in a row share one assistant message, and a file_search call
carries its results back as the tool's output, with markers numbered in context order (so the
citations of a new answer can name any passage the conversation has seen).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retrievd.errors import invalid
from retrievd.runtime.citations import Source
from retrievd.runtime.code_interpreter import CODE_INTERPRETER
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.tools import FILE_SEARCH, Passage, error_for_model, output_for_model
from retrievd.store.runtime_models import ConversationItem

Json = dict[str, Any]
MESSAGE_ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text", "text")


def _content(role: str, content: Any, param: str) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
    if not isinstance(content, list):
        raise invalid("A message's content must be a string or a list of content parts.", param=param)
    parts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid("Each content part needs a 'type'.", param=f"{param}[{i}]")
        if part["type"] == "output_text":
            parts.append({"annotations": [], "logprobs": [], **part})
        else:
            parts.append(dict(part))
    return parts


def normalize_item(item: Json, param: str) -> Json:
    """An input item as stored: typed, with an id and a status."""
    if not isinstance(item, dict):
        raise invalid("Each input item must be an object.", param=param)
    kind = item.get("type") or ("message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            raise invalid(
                f"Invalid role {role!r}; expected one of {', '.join(MESSAGE_ROLES)}.", param=f"{param}.role"
            )
        return {
            "id": item.get("id") or sortable_id("msg_"),
            "type": "message",
            "status": item.get("status") or "completed",
            "role": role,
            "content": _content(role, item.get("content"), f"{param}.content"),
        }
    if kind == "function_call_output":
        if not item.get("call_id"):
            raise invalid("A function_call_output needs the 'call_id' of its call.", param=f"{param}.call_id")
        output = item.get("output")
        return {
            "id": item.get("id") or sortable_id("fco_"),
            "type": "function_call_output",
            "call_id": item["call_id"],
            "output": output if isinstance(output, str) else _parts_text(output or []),
            "status": item.get("status") or "completed",
        }
    if kind == "function_call":
        for key in ("call_id", "name"):
            if not item.get(key):
                raise invalid(f"A function_call needs '{key}'.", param=f"{param}.{key}")
        return {
            "id": item.get("id") or sortable_id("fc_"),
            "type": "function_call",
            "call_id": item["call_id"],
            "name": item["name"],
            "arguments": item.get("arguments") or "",
            "status": item.get("status") or "completed",
        }
    if kind == "file_search_call":
        return {
            "id": item.get("id") or sortable_id("fs_"),
            "type": "file_search_call",
            "status": item.get("status") or "completed",
            "queries": list(item.get("queries") or []),
            "results": item.get("results"),
        }
    raise invalid(
        f"Input items of type {kind!r} are not supported; use message, function_call, function_call_output "
        "or file_search_call items.",
        param=f"{param}.type",
    )


def normalize_input(value: str | list[Json] | None, param: str = "input") -> list[Json]:
    if value is None:
        return []
    if isinstance(value, str):
        return [normalize_item({"role": "user", "content": value}, param)]
    return [normalize_item(item, f"{param}[{i}]") for i, item in enumerate(value)]


def _parts_text(parts: list[Any]) -> str:
    return "\n".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") in TEXT_PARTS)


def passages_of(item: Json) -> list[Passage]:
    """A file_search_call item's results as passages (results shown without our fields get defaults)."""
    out = []
    for i, r in enumerate(item.get("results") or ()):
        out.append(
            Passage(
                file_id=r.get("file_id", ""),
                filename=r.get("filename", ""),
                score=float(r.get("score") or 0.0),
                text=r.get("text", ""),
                attributes=r.get("attributes") or {},
                turn=0,
                index=i,
                page=r.get("page"),
                page_end=r.get("page_end"),
            )
        )
    return out


@dataclass
class ChatContext:
    """Items as chat messages (grouped so that truncation never splits a call from its output)."""

    groups: list[list[Json]] = field(default_factory=list)
    sources: dict[tuple[int, int], Source] = field(default_factory=dict)
    searches: int = 0
    open_calls: dict[str, str] = field(default_factory=dict)  # call_id -> function name, awaiting output

    def add(self, item: Json) -> None:
        kind = item["type"]
        if kind == "message":
            role = "system" if item["role"] in ("system", "developer") else item["role"]
            self.groups.append([{"role": role, "content": _parts_text(item["content"])}])
        elif kind == "function_call":
            self._call(item["call_id"], item["name"], item["arguments"])
            self.open_calls[item["call_id"]] = item["name"]
        elif kind == "function_call_output":
            if self.open_calls.pop(item["call_id"], None) is None:
                raise invalid(f"No function call found for call_id '{item['call_id']}'.", param="input")
            self._tool_message(item["call_id"], item["output"])
        elif kind == "code_interpreter_call":
            self._call(item["id"], CODE_INTERPRETER, json.dumps({"code": item.get("code") or ""}))
            self._tool_message(
                item["id"], item.get("model_output") or json.dumps({"outputs": item.get("outputs")})
            )
        elif kind == "file_search_call":
            turn = self.searches
            self.searches += 1
            passages = [replace(p, turn=turn) for p in passages_of(item)]
            for p in passages:
                self.sources[(p.turn, p.index)] = Source(p.file_id, p.filename)
            self._call(item["id"], FILE_SEARCH, _queries_json(item["queries"]))
            if item.get("status") == "failed":
                output = error_for_model(f"The search failed: {item.get('error') or 'unknown error'}")
            else:
                output = output_for_model(passages)
            self._tool_message(item["id"], output)

    def _call(self, call_id: str, name: str, arguments: str) -> None:
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        last = self.groups[-1] if self.groups else None
        if last is not None and len(last) == 1 and last[0].get("tool_calls") is not None:
            last[0]["tool_calls"].append(call)  # calls made together share one assistant message
        else:
            self.groups.append([{"role": "assistant", "content": None, "tool_calls": [call]}])

    def _tool_message(self, call_id: str, output: str) -> None:
        for group in reversed(self.groups):
            if group[0].get("tool_calls") and any(c["id"] == call_id for c in group[0]["tool_calls"]):
                group.append({"role": "tool", "tool_call_id": call_id, "content": output})
                return


def _queries_json(queries: list[str]) -> str:
    return json.dumps({"queries": queries})


def conversation_items(s: Session, conversation_id: str) -> list[Json]:
    rows = s.execute(
        select(ConversationItem.item)
        .where(ConversationItem.conversation_id == conversation_id)
        .order_by(ConversationItem.position)
    ).scalars()
    return list(rows)


def append_items(
    s: Session, project_id: str, conversation_id: str, items: list[Json], created_at: int
) -> None:
    """Add items at the end of a conversation; an item already in it (same id) is not added twice."""
    last = s.execute(
        select(func.max(ConversationItem.position)).where(ConversationItem.conversation_id == conversation_id)
    ).scalar_one()
    position = -1 if last is None else last
    for item in items:
        if s.get(ConversationItem, (conversation_id, item["id"])) is not None:
            continue
        position += 1
        s.add(
            ConversationItem(
                conversation_id=conversation_id,
                id=item["id"],
                position=position,
                project_id=project_id,
                created_at=created_at,
                item=item,
            )
        )
        s.flush()
