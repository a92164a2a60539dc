"""Tables of the assistant runtime: Assistants v2 (assistants, threads, messages, runs, run steps),
Responses and Conversations.

Wire-shaped parts (tools, message content, step details, output items) are stored as JSON as the
API shows them; a run's progress is stored at every step, so a restart can take it up again.
Ids come from `retrievd.runtime.ids.sortable_id`, so (created_at, id) is creation order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from retrievd.store.db import Base, now

Json = dict[str, Any]


class Assistant(Base):
    __tablename__ = "assistants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text, nullable=True)
    tools: Mapped[list[Json]] = mapped_column(JSON, default=list)
    tool_resources: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)
    top_p: Mapped[float | None] = mapped_column(Float, nullable=True)
    response_format: Mapped[Any] = mapped_column(JSON, nullable=True)
    reasoning_effort: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Thread(Base):
    __tablename__ = "threads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    tool_resources: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)


class Message(Base):
    __tablename__ = "thread_messages"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[list[Json]] = mapped_column(JSON, default=list)
    attachments: Mapped[list[Json] | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    assistant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    incomplete_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    incomplete_details: Mapped[Json | None] = mapped_column(JSON, nullable=True)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str] = mapped_column(Text, default="")
    tools: Mapped[list[Json]] = mapped_column(JSON, default=list)
    # Not on the wire: the run's own tool_resources (create thread-and-run), else the assistant's.
    tool_resources: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)
    top_p: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    truncation_strategy: Mapped[Json] = mapped_column(JSON)
    tool_choice: Mapped[Any] = mapped_column(JSON, nullable=True)
    parallel_tool_calls: Mapped[bool] = mapped_column(Boolean, default=True)
    response_format: Mapped[Any] = mapped_column(JSON, nullable=True)
    reasoning_effort: Mapped[str | None] = mapped_column(String(16), nullable=True)
    required_action: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    last_error: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    incomplete_details: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    usage: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The durable job (retrievd.jobs) that drives the run now; a new one after each submit_tool_outputs.
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)

    __table_args__ = (Index("ix_runs_thread_status", "thread_id", "status"),)


class RunStep(Base):
    __tablename__ = "run_steps"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[str] = mapped_column(String(64))
    assistant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    type: Mapped[str] = mapped_column(String(32))  # message_creation | tool_calls
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # tool_calls steps: what the model called and what it was told, as
    # [{id, type, name, arguments, output, turn, results, ranking_options}] (see runtime.assistant_runs).
    tool_calls: Mapped[list[Json]] = mapped_column(JSON, default=list)
    last_error: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    usage: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    expired_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)


class StoredResponse(Base):
    """A Responses API response: its request, its input items and its output items."""

    __tablename__ = "responses"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    model: Mapped[str] = mapped_column(String(256))
    # The request's settings as the Response object echoes them (instructions, tools, tool_choice, ...).
    params: Mapped[Json] = mapped_column(JSON)
    previous_response_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input_items: Mapped[list[Json]] = mapped_column(JSON, default=list)
    # Output items keep file_search results in full; `include` only decides what the wire shows.
    output: Mapped[list[Json]] = mapped_column(JSON, default=list)
    usage: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    error: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    incomplete_details: Mapped[Json | None] = mapped_column(JSON, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, nullable=True)


class ConversationItem(Base):
    """An item of a conversation; its id is the item's own (clients may choose it), `position` its order."""

    __tablename__ = "conversation_items"
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    item: Mapped[Json] = mapped_column(JSON)

    __table_args__ = (Index("ix_conversation_items_position", "conversation_id", "position"),)


class Container(Base):
    """A code_interpreter container (the Containers API, or `container: {"type": "auto"}` of a response).

    Its sandbox lives in the process that runs its code; its files live here and in the blob store,
    so a sandbox closed while idle is made again, with its files, at the next call."""

    __tablename__ = "containers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_active_at: Mapped[int] = mapped_column(BigInteger, default=now)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | expired
    expires_after_minutes: Mapped[int] = mapped_column(Integer, default=20)
    memory_limit: Mapped[str] = mapped_column(String(8), default="1g")


class ContainerFile(Base):
    """A file in a container's /mnt/data: uploaded (`user`) or written by its code (`assistant`).
    Its bytes are the blob named by its id."""

    __tablename__ = "container_files"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    container_id: Mapped[str] = mapped_column(ForeignKey("containers.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    path: Mapped[str] = mapped_column(String(1024))
    bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
