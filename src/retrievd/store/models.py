"""Tables of the metadata database. Every tenant-owned row carries its project_id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from retrievd.store.db import Base, now


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | archived
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)  # the project that owns admin keys
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    archived_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    storage_quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ServiceAccount(Base):
    __tablename__ = "service_accounts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="member")  # owner | member
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class ApiKey(Base):
    """Only the key's sha256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    service_account_id: Mapped[str | None] = mapped_column(ForeignKey("service_accounts.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(256))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redacted_value: Mapped[str] = mapped_column(String(32))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class File(Base):
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    filename: Mapped[str] = mapped_column(String(1024))
    bytes: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now, index=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class VectorStore(Base):
    __tablename__ = "vector_stores"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(1024), default="")
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now, index=True)
    last_active_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # Mean chunk length in BM25 tokens, fixed when the store's first file is indexed (BM25's avgdl).
    bm25_avg_len: Mapped[float | None] = mapped_column(nullable=True)


class FileBatch(Base):
    __tablename__ = "file_batches"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    vector_store_id: Mapped[str] = mapped_column(ForeignKey("vector_stores.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class VectorStoreFile(Base):
    __tablename__ = "vector_store_files"
    vector_store_id: Mapped[str] = mapped_column(
        ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    last_error: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    max_chunk_size_tokens: Mapped[int] = mapped_column(Integer)
    chunk_overlap_tokens: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_vsf_store_status", "vector_store_id", "status"),)


class Chunk(Base):
    """The source of truth for what is indexed: the index can be rebuilt from these rows."""

    __tablename__ = "chunks"
    vector_store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)  # of the chunk's first token
    page_end: Mapped[int | None] = mapped_column(Integer, nullable=True)  # of its last (page, before 0005)
    section: Mapped[str | None] = mapped_column(Text, nullable=True)
    dense: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    usage_bytes: Mapped[int] = mapped_column(Integer)
    # Length in BM25 tokens (stopwords dropped): the store's BM25 avg_len is the mean of these.
    # NULL on rows written before revision 0003.
    bm25_length: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Job(Base):
    """Durable work: claimed by a worker, heartbeated while running, retried with backoff."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(64))
    vector_store_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[float] = mapped_column(default=0.0)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[float | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)

    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)
