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

# Digits then lowercase letters: the same order in ASCII and in any database collation.
_TIME_ALPHABET = string.digits + string.ascii_lowercase
_RANDOM_ALPHABET = string.ascii_letters + string.digits
_TIME_CHARS = 11  # base 36: microseconds until the year 6000
_lock = threading.Lock()
_last = 0


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_TIME_ALPHABET[r])
    return "".join(reversed(out))


def sortable_id(prefix: str) -> str:
    """`prefix` + 11 characters of microseconds (strictly increasing in this process) + 13 random ones."""
    global _last
    with _lock:
        _last = max(time.time_ns() // 1000, _last + 1)
        stamp = _last
    return prefix + _base36(stamp, _TIME_CHARS) + "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(13))


def order_key(object_id: str) -> str:
    """The creation-order part of a sortable id, comparable across prefixes (messages vs run steps)."""
    return object_id.split("_", 1)[-1]
