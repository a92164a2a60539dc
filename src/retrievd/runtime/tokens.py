"""Token counts with tiktoken, as OpenAI counts them for chat models, and oldest-first truncation."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

# OpenAI's accounting for chat messages: a few tokens of framing per message, three to prime the reply.
PER_MESSAGE = 3
REPLY_PRIMING = 3
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


@lru_cache(maxsize=2)
def _encoding(name: str) -> tiktoken.Encoding:
    from retrievd.assets import tiktoken_encoding

    return tiktoken_encoding(name)


def encoding_for(model: str) -> tiktoken.Encoding:
    """o200k_base for the GPT-4o generation and later, cl100k_base for everything else."""
    return _encoding("o200k_base" if model.startswith(_O200K_PREFIXES) else "cl100k_base")


def count_text(text: str, model: str) -> int:
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_message(message: dict[str, Any], model: str) -> int:
    n = PER_MESSAGE
    content = message.get("content")
    if isinstance(content, str):
        n += count_text(content, model)
    elif isinstance(content, list):
        n += sum(count_text(p.get("text", ""), model) for p in content if isinstance(p, dict))
    for call in message.get("tool_calls") or ():
        fn = call.get("function", {})
        n += count_text(fn.get("name", ""), model) + count_text(fn.get("arguments", ""), model) + PER_MESSAGE
    return n


def count_messages(messages: list[dict[str, Any]], model: str) -> int:
    return sum(count_message(m, model) for m in messages) + REPLY_PRIMING


def count_tools(tools: list[dict[str, Any]], model: str) -> int:
    """Tool definitions count toward the prompt too; their JSON is a fair estimate of what the model sees."""
    return count_text(json.dumps(tools), model) if tools else 0


def truncate_oldest(
    head: list[dict[str, Any]], history: list[list[dict[str, Any]]], budget: int, model: str
) -> list[dict[str, Any]] | None:
    """`head` (system messages) plus as many of the newest `history` groups as fit in `budget` tokens.

    A group is a unit that must stay whole (an assistant tool call with its tool results). The
    newest group is always kept; None when even `head` plus that group does not fit.
    """
    used = count_messages(head, model)
    kept: list[list[dict[str, Any]]] = []
    for group in reversed(history):
        cost = sum(count_message(m, model) for m in group)
        if used + cost > budget:
            break
        kept.append(group)
        used += cost
    if used > budget or (history and not kept):
        return None
    return head + [m for group in reversed(kept) for m in group]
