"""Rows of the runtime's tables as the API shows them (used by the services and by stream events)."""

from __future__ import annotations

from typing import Any

from retrievd.runtime import schemas
from retrievd.store.runtime_models import Assistant, Message, Run, RunStep, Thread

FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def assistant_object(row: Assistant) -> schemas.AssistantObject:
    return schemas.AssistantObject(
        id=row.id,
        created_at=row.created_at,
        name=row.name,
        description=row.description,
        model=row.model,
        instructions=row.instructions,
        tools=row.tools or [],
        tool_resources=row.tool_resources or {},
        metadata=row.metadata_ or {},
        temperature=row.temperature,
        top_p=row.top_p,
        response_format=row.response_format or "auto",
        reasoning_effort=row.reasoning_effort,
    )


def thread_object(row: Thread) -> schemas.ThreadObject:
    return schemas.ThreadObject(
        id=row.id,
        created_at=row.created_at,
        tool_resources=row.tool_resources or {},
        metadata=row.metadata_ or {},
    )


def message_object(row: Message) -> schemas.MessageObject:
    return schemas.MessageObject(
        id=row.id,
        created_at=row.created_at,
        thread_id=row.thread_id,
        status=row.status,
        incomplete_details=row.incomplete_details,
        completed_at=row.completed_at,
        incomplete_at=row.incomplete_at,
        role=row.role,
        content=row.content or [],
        assistant_id=row.assistant_id,
        run_id=row.run_id,
        attachments=row.attachments or [],
        metadata=row.metadata_ or {},
    )


def run_object(row: Run) -> schemas.RunObject:
    return schemas.RunObject(
        id=row.id,
        created_at=row.created_at,
        thread_id=row.thread_id,
        assistant_id=row.assistant_id,
        status=row.status,
        required_action=row.required_action,
        last_error=row.last_error,
        expires_at=row.expires_at,
        started_at=row.started_at,
        cancelled_at=row.cancelled_at,
        failed_at=row.failed_at,
        completed_at=row.completed_at,
        incomplete_details=row.incomplete_details,
        model=row.model,
        instructions=row.instructions,
        tools=row.tools or [],
        metadata=row.metadata_ or {},
        usage=row.usage,
        temperature=row.temperature,
        top_p=row.top_p,
        max_prompt_tokens=row.max_prompt_tokens,
        max_completion_tokens=row.max_completion_tokens,
        truncation_strategy=row.truncation_strategy,
        tool_choice=row.tool_choice or "auto",
        parallel_tool_calls=row.parallel_tool_calls,
        response_format=row.response_format or "auto",
        reasoning_effort=row.reasoning_effort,
    )


def tool_call_object(call: dict[str, Any], *, with_content: bool) -> dict[str, Any]:
    """A stored tool call (see RunStep.tool_calls) as a step's `step_details.tool_calls[]` entry."""
    if call["type"] == "function":
        return {
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"], "output": call.get("output")},
        }
    if call["type"] == "code_interpreter":
        return {
            "id": call["id"],
            "type": "code_interpreter",
            "code_interpreter": {"input": call.get("input", ""), "outputs": call.get("outputs") or []},
        }
    results = []
    for r in call.get("results") or ():
        result: dict[str, Any] = {"file_id": r["file_id"], "file_name": r["filename"], "score": r["score"]}
        if with_content:
            # page and page_end: retrievd's extension, as on search results (docs/pages.md)
            result["content"] = [
                {"type": "text", "text": r["text"], "page": r.get("page"), "page_end": r.get("page_end")}
            ]
        results.append(result)
    return {
        "id": call["id"],
        "type": "file_search",
        "file_search": {"ranking_options": call["ranking_options"], "results": results},
    }


def step_object(row: RunStep, *, include: list[str] | tuple[str, ...] = ()) -> schemas.RunStepObject:
    if row.type == "message_creation":
        details: dict[str, Any] = {
            "type": "message_creation",
            "message_creation": {"message_id": row.message_id},
        }
    else:
        with_content = FILE_SEARCH_CONTENT in include
        details = {
            "type": "tool_calls",
            "tool_calls": [tool_call_object(c, with_content=with_content) for c in row.tool_calls or ()],
        }
    return schemas.RunStepObject(
        id=row.id,
        created_at=row.created_at,
        assistant_id=row.assistant_id,
        thread_id=row.thread_id,
        run_id=row.run_id,
        type=row.type,
        status=row.status,
        step_details=details,
        last_error=row.last_error,
        expired_at=row.expired_at,
        cancelled_at=row.cancelled_at,
        failed_at=row.failed_at,
        completed_at=row.completed_at,
        metadata=row.metadata_ or {},
        usage=row.usage if row.status != "in_progress" else None,
    )
