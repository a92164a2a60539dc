"""code_interpreter sessions: a row per sandbox started, touched at each call, closed with it.

A session is what OpenAI billed code_interpreter by; one left open by a crash still counts from
its start (`ended_at` stays null).
"""

from __future__ import annotations

from retrievd.store.db import Database, now
from retrievd.store.usage_models import CodeInterpreterSession


def open_session(db: Database, project_id: str, container_id: str) -> int:
    t = now()
    with db.session() as s:
        row = CodeInterpreterSession(
            project_id=project_id, container_id=container_id, started_at=t, last_active_at=t
        )
        s.add(row)
        s.flush()
        return row.id


def touch_session(db: Database, session_id: int, *, end: bool = False) -> None:
    with db.session() as s:
        row = s.get(CodeInterpreterSession, session_id)
        if row is not None:
            row.last_active_at = now()
            if end:
                row.ended_at = row.last_active_at
