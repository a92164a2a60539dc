"""Tables of storage accounting: the byte ledgers (vector stores, containers) and the call counters.

Ledger rows have no foreign keys on purpose: they outlive the stores (and projects) they bill.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, synonym

from retrievd.store.db import Base


class BytesLedger:
    """One change of what a subject (a vector store, a container) holds, written in the transaction
    that made it.

    Per subject, `at` never decreases as `id` grows (it is taken under the subject's write lock), so
    its bytes at time t are the `bytes_after` of its last entry with `at <= t`, 0 before the first.
    `subject_id` names the subject's id column, whatever the table calls it.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    delta_bytes: Mapped[int] = mapped_column(BigInteger)
    bytes_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))  # file_indexed | file_removed | store_deleted | ...
    subject_id: str


class UsageLedgerEntry(BytesLedger, Base):
    """A change of a vector store's `usage_bytes` (under the store's row lock)."""

    __tablename__ = "usage_ledger"
    vector_store_id: Mapped[str] = mapped_column(String(64))
    subject_id = synonym("vector_store_id")

    __table_args__ = (
        Index("ix_usage_ledger_store_at", "vector_store_id", "at"),
        Index("ix_usage_ledger_project_at", "project_id", "at"),
        Index("ix_usage_ledger_at", "at"),
    )


class ContainerLedgerEntry(BytesLedger, Base):
    """A change of the bytes a container's files hold (under the container's row lock)."""

    __tablename__ = "container_ledger"
    container_id: Mapped[str] = mapped_column(String(64))
    subject_id = synonym("container_id")

    __table_args__ = (
        Index("ix_container_ledger_container_at", "container_id", "at"),
        Index("ix_container_ledger_project_at", "project_id", "at"),
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
