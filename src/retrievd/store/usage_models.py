"""Tables of storage accounting: the byte ledger and the file_search call counter.

Ledger rows have no foreign keys on purpose: they outlive the stores (and projects) they bill.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from retrievd.store.db import Base


class UsageLedgerEntry(Base):
    """One change of a vector store's `usage_bytes`, written in the transaction that made it.

    Per store, `at` never decreases as `id` grows (it is taken under the store's write lock), so a
    store's bytes at time t are the `bytes_after` of its last entry with `at <= t`, 0 before the first.
    """

    __tablename__ = "usage_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64))
    vector_store_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    delta_bytes: Mapped[int] = mapped_column(BigInteger)
    bytes_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))  # file_indexed | file_removed | store_deleted | ...

    __table_args__ = (
        Index("ix_usage_ledger_store_at", "vector_store_id", "at"),
        Index("ix_usage_ledger_project_at", "project_id", "at"),
        Index("ix_usage_ledger_at", "at"),
    )


class FileSearchCall(Base):
    """One file_search tool call over one of its stores; a call over n stores writes n rows."""

    __tablename__ = "file_search_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    vector_store_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_file_search_calls_project_at", "project_id", "at"),)


class CodeInterpreterSession(Base):
    """One code_interpreter sandbox's life, from its start to its close: what OpenAI billed per session."""

    __tablename__ = "code_interpreter_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64))
    container_id: Mapped[str] = mapped_column(String(64))  # a container's id, or a thread's for Assistants
    started_at: Mapped[int] = mapped_column(BigInteger)
    last_active_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_code_interpreter_sessions_project_started", "project_id", "started_at"),)
