"""Ids that sort in creation order, for objects a thread or a conversation must replay in order.

Lists page by (created_at, id), and created_at has one-second resolution: with random ids, two
messages posted in the same second could come back swapped. A time prefix keeps them in order
while the ids keep OpenAI's look (a prefix and 24 url-safe characters).
"""

from __future__ import annotations

import secrets
import string
import threading
import time

# In ASCII order, so the string order of the prefix is its numeric order.
_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TIME_CHARS = 10
_lock = threading.Lock()
_last = 0


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def sortable_id(prefix: str) -> str:
    """`prefix` + 10 characters of microseconds (strictly increasing in this process) + 14 random ones."""
    global _last
    with _lock:
        _last = max(time.time_ns() // 1000, _last + 1)
        stamp = _last
    return prefix + _base62(stamp, _TIME_CHARS) + "".join(secrets.choice(_ALPHABET) for _ in range(14))


def order_key(object_id: str) -> str:
    """The creation-order part of a sortable id, comparable across prefixes (messages vs run steps)."""
    return object_id.split("_", 1)[-1]
