"""The Responses loop: model -> file_search (run here) -> model, until text, function calls or a limit.

A response works on a `StoredResponse` row, which is only written to the database when the
request asked for `store` (the default). Output items are saved as each one completes, so a
response interrupted by a restart is taken up from its completed items. Function calls end the
response (status `completed`, the calls in `output`): the client answers them in a new
response with `previous_response_id` (or the same conversation).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from retrievd.retrieval import fusion
from retrievd.retrieval.search import SearchOptions
from retrievd.runtime import tokens
from retrievd.runtime.citations import CitationStream, Source
from retrievd.runtime.code_interpreter import (
    CODE_INTERPRETER,
    CODE_INTERPRETER_FUNCTION,
    CODE_INTERPRETER_GUIDE,
    file_path_annotations,
    parse_code,
)
from retrievd.runtime.executor import MAX_CLAIMS, Emit
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.items import ChatContext, append_items, conversation_items
from retrievd.runtime.providers import Route, route
from retrievd.runtime.providers.base import ChatRequest, UpstreamError, Usage
from retrievd.runtime.tools import (
    CITATION_GUIDE,
    FILE_SEARCH,
    FILE_SEARCH_FUNCTION,
    FileSearchConfig,
    ToolArgumentError,
    describe_error,
    file_search,
    parse_queries,
)
from retrievd.runtime.turn import RetryPolicy, Stopped, ToolCall, run_turn
from retrievd.store.db import now
from retrievd.store.models import Job
from retrievd.store.runtime_models import StoredResponse

if TYPE_CHECKING:
    from retrievd.core import Core

log = logging.getLogger("retrievd.runtime")

RESULTS_INCLUDE = "file_search_call.results"
OUTPUTS_INCLUDE = "code_interpreter_call.outputs"
TERMINAL = ("completed", "incomplete", "failed", "cancelled")
DEFAULT_MAX_RESULTS = 10
COMPLETION_RESERVE = 4096


def _discard(name: str, data: Any) -> None:
    pass


class _Gone(Exception):
    pass


class _Cancelled(Exception):
    pass


# --- the wire -------------------------------------------------------------------------------------


def wire_item(item: dict[str, Any], include: list[str]) -> dict[str, Any]:
    if item["type"] == "code_interpreter_call":  # what the model was told, and the files map, stay here
        outputs = item.get("outputs") if OUTPUTS_INCLUDE in include else None
        return {k: item[k] for k in ("id", "type", "status", "container_id", "code")} | {"outputs": outputs}
    if item["type"] != "file_search_call":
        return item
    results = None
    if RESULTS_INCLUDE in include and item.get("results") is not None:
        results = [
            {k: r.get(k) for k in ("file_id", "filename", "score", "text", "attributes", "page", "page_end")}
            for r in item["results"]
        ]
    return {k: item[k] for k in ("id", "type", "status", "queries")} | {"results": results}


def usage_object(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def response_object(row: StoredResponse, include: list[str] | None = None) -> dict[str, Any]:
    p = row.params
    include = include if include is not None else p.get("include") or []
    return {
        "id": row.id,
        "object": "response",
        "created_at": row.created_at,
        "status": row.status,
        "background": p.get("background", False),
        "completed_at": row.completed_at,
        "conversation": {"id": row.conversation_id} if row.conversation_id else None,
        "error": row.error,
        "incomplete_details": row.incomplete_details,
        "instructions": p.get("instructions"),
        "max_output_tokens": p.get("max_output_tokens"),
        "max_tool_calls": p.get("max_tool_calls"),
        "metadata": p.get("metadata") or {},
        "model": row.model,
        "output": [wire_item(i, include) for i in row.output or ()],
        "parallel_tool_calls": p.get("parallel_tool_calls", True),
        "previous_response_id": row.previous_response_id,
        "reasoning": p.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default",
        "store": p.get("store", True),
        "temperature": p.get("temperature", 1.0),
        "text": p.get("text") or {"format": {"type": "text"}},
        "tool_choice": p.get("tool_choice", "auto"),
        "tools": p.get("tools") or [],
        "top_p": p.get("top_p", 1.0),
        "truncation": p.get("truncation", "disabled"),
        "usage": row.usage,
        "user": p.get("user"),
    }


# --- history --------------------------------------------------------------------------------------


def history(core: Core, row: StoredResponse) -> list[dict[str, Any]]:
    """The items before this response's input: its previous responses' chain, or its conversation."""
    if row.conversation_id:
        with core.db.session() as s:
            return conversation_items(s, row.conversation_id)
    chain: list[StoredResponse] = []
    previous = row.previous_response_id
    with core.db.session() as s:
        while previous:
            prev = s.get(StoredResponse, previous)
            if prev is None:
                break
            chain.append(prev)
            previous = prev.previous_response_id
    return [item for prev in reversed(chain) for item in [*prev.input_items, *prev.output]]


def context_of(core: Core, row: StoredResponse) -> ChatContext:
    ctx = ChatContext()
    for item in [*history(core, row), *row.input_items, *(row.output or ())]:
        ctx.add(item)
    return ctx


# --- the loop -------------------------------------------------------------------------------------


def drive_response_job(core: Core, job: Job) -> None:
    with core.db.session() as s:
        row = s.execute(select(StoredResponse).where(StoredResponse.job_id == job.id)).scalar_one_or_none()
    if row is None:
        return
    driver = ResponseDriver(core, row)
    if job.attempts > MAX_CLAIMS:
        driver.fail("server_error", "The response was interrupted too many times and was stopped.")
        return
    driver.drive()


class _OutputWriter:
    """Output items, and their events, as a model call streams."""

    def __init__(self, driver: ResponseDriver, sources: dict[tuple[int, int], Source]) -> None:
        self.driver = driver
        self.citations = CitationStream(sources, keep_markers=False)
        self.message: dict[str, Any] | None = None
        self.calls: dict[int, tuple[dict[str, Any], ToolCall]] = {}

    def _index(self, item: dict[str, Any]) -> int:
        return self.driver.row.output.index(item)

    def on_text(self, delta: str) -> None:
        d = self.driver
        if self.message is None:
            self.message = {
                "id": sortable_id("msg_"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            d.row.output.append(self.message)
            d.event("response.output_item.added", output_index=self._index(self.message), item=self.message)
            d.event(
                "response.content_part.added",
                item_id=self.message["id"],
                output_index=self._index(self.message),
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
        self._text(self.citations.feed(delta))

    def _text(self, piece: Any) -> None:
        assert self.message is not None
        d, index = self.driver, self._index(self.message)
        if piece.text:
            d.event(
                "response.output_text.delta",
                item_id=self.message["id"],
                output_index=index,
                content_index=0,
                delta=piece.text,
                logprobs=[],
            )
        first = len(self.citations.citations) - len(piece.citations)
        for n, citation in enumerate(piece.citations):
            d.event(
                "response.output_text.annotation.added",
                item_id=self.message["id"],
                output_index=index,
                content_index=0,
                annotation_index=first + n,
                annotation=citation.responses(),
            )

    def finish_message(self, *, incomplete: bool = False) -> None:
        if self.message is None:
            return
        self._text(self.citations.flush())
        d, item, index = self.driver, self.message, self._index(self.message)
        part = {
            "type": "output_text",
            "text": self.citations.text,
            "annotations": [c.responses() for c in self.citations.citations]
            + _container_file_citations(self.citations.text, d.row.output),
            "logprobs": [],
        }
        item["content"] = [part]
        item["status"] = "incomplete" if incomplete else "completed"
        d.event(
            "response.output_text.done",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            text=part["text"],
            logprobs=[],
        )
        d.event(
            "response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part
        )
        d.event("response.output_item.done", output_index=index, item=item)
        d.save()
        self.message = None

    def on_tool_call(self, index: int, call: ToolCall, arguments_delta: str) -> None:
        d = self.driver
        item = self.calls[index][0] if index in self.calls else None
        if item is None:
            self.finish_message()
            if call.name == FILE_SEARCH:
                item = {
                    "id": sortable_id("fs_"),
                    "type": "file_search_call",
                    "status": "in_progress",
                    "queries": [],
                    "results": None,
                }
            elif call.name == CODE_INTERPRETER and d.container_id is not None:
                item = {
                    "id": sortable_id("ci_"),
                    "type": "code_interpreter_call",
                    "status": "in_progress",
                    "container_id": d.container_id,
                    "code": "",
                    "outputs": None,
                }
            else:
                item = {
                    "id": sortable_id("fc_"),
                    "type": "function_call",
                    "status": "in_progress",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": "",
                }
            self.calls[index] = (item, call)
            d.row.output.append(item)
            d.event("response.output_item.added", output_index=self._index(item), item=wire_item(item, []))
            if item["type"] in ("file_search_call", "code_interpreter_call"):
                d.event(
                    f"response.{item['type']}.in_progress",
                    output_index=self._index(item),
                    item_id=item["id"],
                )
        if item["type"] == "function_call" and arguments_delta:
            d.event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self._index(item),
                delta=arguments_delta,
            )


class ResponseDriver:
    def __init__(self, core: Core, row: StoredResponse, *, emit: Emit = _discard) -> None:
        self.core = core
        self.row = row
        self._emit = emit
        self.settings = core.settings
        self.sequence = 0
        self.stored = bool(row.params.get("store", True))
        self.include = row.params.get("include") or []
        self.container_id = next(
            (t["container"] for t in row.params.get("tools") or () if t["type"] == "code_interpreter"), None
        )

    def event(self, kind: str, **fields: Any) -> None:
        self._emit(kind, {"type": kind, **fields, "sequence_number": self.sequence})
        self.sequence += 1

    def _announce(self, kind: str) -> None:
        self.event(kind, response=response_object(self.row))

    # --- persistence --------------------------------------------------------------------------

    def save(self) -> None:
        """Write the row (stored responses only); a cancel or a delete from outside stops the loop."""
        if not self.stored:
            return
        with self.core.db.session() as s:
            current = s.get(StoredResponse, self.row.id)
            if current is None:
                raise _Gone
            if current.status == "cancelled" and self.row.status != "cancelled":
                raise _Cancelled
            for name in ("status", "usage", "error", "incomplete_details", "completed_at"):
                setattr(current, name, getattr(self.row, name))
            current.output = [dict(i) for i in self.row.output]  # a new list, so the JSON column is written

    def _cancel_requested(self) -> bool:
        if not self.stored:
            return False
        with self.core.db.session() as s:
            current = s.get(StoredResponse, self.row.id)
            return current is None or current.status == "cancelled"

    # --- the loop -----------------------------------------------------------------------------

    def drive(self, *, announce: bool = False) -> None:
        try:
            self._drive(announce)
        except _Gone:
            log.info("response %s was deleted while it ran", self.row.id)
        except (_Cancelled, Stopped):
            self._end("cancelled")
        except UpstreamError as e:
            self.fail(e.code, e.message)
        except Exception:
            log.exception("response %s failed", self.row.id)
            self.fail("server_error", "The server had an error while processing the response.")

    def _drive(self, announce: bool) -> None:
        row = self.row
        if row.status in TERMINAL:
            return
        if announce:
            self._announce("response.created")
            if row.status == "queued":
                self._announce("response.queued")
        # Anything not completed when a previous attempt stopped is made again.
        row.output = [i for i in row.output or () if i.get("status") != "in_progress"]
        row.status = "in_progress"
        self.save()
        self._announce("response.in_progress")
        model = route(self.settings, row.model)
        config, functions = self._tools()
        used = Usage(row.usage["input_tokens"], row.usage["output_tokens"]) if row.usage else Usage(0, 0)
        for call_no in range(self.settings.run_max_model_calls):
            if self._cancel_requested():
                raise _Cancelled
            ctx = context_of(self.core, row)
            searches_done = sum(1 for i in row.output if i["type"] == "file_search_call")
            max_calls = row.params.get("max_tool_calls")
            tools_allowed = call_no + 1 < self.settings.run_max_model_calls and (
                max_calls is None or searches_done < max_calls
            )
            request = self._request(
                model, ctx, config, functions, used, first=call_no == 0, tools_allowed=tools_allowed
            )
            if request is None:
                return
            writer = _OutputWriter(self, ctx.sources)
            result = run_turn(
                model.provider,
                request,
                writer,
                retry=RetryPolicy(self.settings.upstream_retries, self.settings.upstream_backoff_s),
                should_stop=self._cancel_requested,
            )
            used = Usage(
                used.prompt_tokens + result.usage.prompt_tokens,
                used.completion_tokens + result.usage.completion_tokens,
            )
            row.usage = usage_object(used.prompt_tokens, used.completion_tokens)
            if writer.calls:
                writer.finish_message()
                waiting = self._finish_calls(writer, config, ctx.searches)
                if waiting or not tools_allowed:
                    break
                continue
            if writer.message is None:
                writer.on_text("")  # an empty answer is still a message
            incomplete = result.finish_reason == "length"
            writer.finish_message(incomplete=incomplete)
            if incomplete:
                self._end("incomplete", incomplete_details={"reason": "max_output_tokens"})
                return
            break
        self._end("completed")

    def _tools(self) -> tuple[FileSearchConfig | None, list[dict]]:
        config = None
        functions = []
        for tool in self.row.params.get("tools") or ():
            if tool["type"] == "file_search":
                ranking = tool.get("ranking_options") or {}
                hybrid = ranking.get("hybrid_search") or {}
                config = FileSearchConfig(
                    tool["vector_store_ids"],
                    SearchOptions(
                        limit=tool.get("max_num_results") or DEFAULT_MAX_RESULTS,
                        filters=tool.get("filters"),
                        score_threshold=float(ranking.get("score_threshold") or 0.0),
                        rerank=ranking.get("ranker", "auto") != "none",
                        embedding_weight=hybrid.get("embedding_weight"),
                        text_weight=hybrid.get("text_weight"),
                        config=fusion.config_for_ranker(ranking.get("ranker")),
                    ),
                )
            elif tool["type"] == "function":
                fn = {
                    k: tool[k]
                    for k in ("name", "description", "parameters", "strict")
                    if tool.get(k) is not None
                }
                functions.append({"type": "function", "function": fn})
        return config, functions

    def _request(
        self,
        model: Route,
        ctx: ChatContext,
        config: FileSearchConfig | None,
        functions: list[dict],
        used: Usage,
        *,
        first: bool,
        tools_allowed: bool,
    ) -> ChatRequest | None:
        p = self.row.params
        tools = ([FILE_SEARCH_FUNCTION] if config is not None else []) + functions
        tools += [CODE_INTERPRETER_FUNCTION] if self.container_id is not None else []
        remaining = None
        if p.get("max_output_tokens") is not None:
            remaining = p["max_output_tokens"] - used.completion_tokens
            if remaining <= 0:
                self._end("incomplete", incomplete_details={"reason": "max_output_tokens"})
                return None
        system = p.get("instructions") or ""
        for guide in (
            CITATION_GUIDE if config is not None else None,
            CODE_INTERPRETER_GUIDE if self.container_id is not None else None,
        ):
            if guide:
                system = f"{system}\n\n{guide}" if system else guide
        head = [{"role": "system", "content": system}] if system else []
        window = model.provider.context_tokens
        budget = (
            window
            - min(remaining or COMPLETION_RESERVE, window // 4)
            - tokens.count_tools(tools, model.model)
        )
        if p.get("truncation") == "auto":
            messages = tokens.truncate_oldest(head, ctx.groups, budget, model.model)
        else:
            messages = head + [m for g in ctx.groups for m in g]
            if tokens.count_messages(messages, model.model) > budget:
                messages = None
        if messages is None:
            self.fail(
                "context_length_exceeded",
                "The input does not fit in the model's context window; use truncation 'auto'.",
            )
            return None
        tool_choice = _chat_tool_choice(p.get("tool_choice")) if first else "auto"
        if not tools_allowed:
            tool_choice = "none"
        return ChatRequest(
            model=model.model,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice if tools else None,
            parallel_tool_calls=p.get("parallel_tool_calls") if tools else None,
            temperature=p.get("temperature"),
            top_p=p.get("top_p"),
            max_tokens=remaining,
            response_format=_chat_response_format(p.get("text")),
        )

    def _finish_calls(self, writer: _OutputWriter, config: FileSearchConfig | None, turn: int) -> bool:
        """Complete the turn's call items, running searches here; True if function calls now wait for the client."""
        waiting = False
        for _, (item, call) in sorted(writer.calls.items()):
            output_index = writer._index(item)
            if item["type"] == "function_call":
                item["arguments"] = call.arguments
                item["status"] = "completed"
                waiting = True
                self.event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=output_index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            elif item["type"] == "code_interpreter_call":
                self._run_code(item, call.arguments, output_index)
            else:
                self.event(
                    "response.file_search_call.searching", output_index=output_index, item_id=item["id"]
                )
                self._search(item, call.arguments, config, turn)
                turn += 1
                self.event(
                    "response.file_search_call.completed", output_index=output_index, item_id=item["id"]
                )
            self.event(
                "response.output_item.done", output_index=output_index, item=wire_item(item, self.include)
            )
            self.save()
        return waiting

    def _run_code(self, item: dict[str, Any], arguments: str, output_index: int) -> None:
        from retrievd.services.containers import ContainerService

        item["code"] = parse_code(arguments)
        fields = {"output_index": output_index, "item_id": item["id"]}
        self.event("response.code_interpreter_call_code.delta", **fields, delta=item["code"])
        self.event("response.code_interpreter_call_code.done", **fields, code=item["code"])
        self.event("response.code_interpreter_call.interpreting", **fields)
        result = ContainerService(self.core).run(self.row.project_id, item["container_id"], item["code"])
        item["outputs"], item["files"], item["model_output"] = (
            result.outputs,
            result.files,
            result.output_for_model,
        )
        item["status"] = "completed"
        self.event("response.code_interpreter_call.completed", **fields)

    def _search(
        self, item: dict[str, Any], arguments: str, config: FileSearchConfig | None, turn: int
    ) -> None:
        try:
            if config is None:
                raise ToolArgumentError("file_search is not enabled for this response.")
            item["queries"] = parse_queries(arguments)
            passages = file_search(self.core, self.row.project_id, config, item["queries"], turn)
        except Exception as e:
            log.warning("file_search failed in response %s: %s", self.row.id, e)
            item["status"], item["results"] = "failed", []
            item["error"] = describe_error(e)
            return
        item["status"], item["results"] = "completed", [p.to_json() for p in passages]

    # --- the end ------------------------------------------------------------------------------

    def _end(self, status: str, **fields: Any) -> None:
        row = self.row
        row.status = status
        for name, value in fields.items():
            setattr(row, name, value)
        if status in ("completed", "incomplete"):
            row.completed_at = now()
        for item in row.output:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"
        if status == "cancelled":
            self._save_cancelled()
        else:
            try:
                self.save()
            except _Cancelled:
                row.status = "cancelled"
        if row.conversation_id and row.status in ("completed", "incomplete"):
            self._append_to_conversation()
        if row.status == "cancelled":
            # Responses streams have no cancelled event; a streamed background response that is cancelled ends so.
            self.event("error", code="response_cancelled", message="The response was cancelled.", param=None)
        else:
            self._announce(f"response.{row.status}")

    def _save_cancelled(self) -> None:
        if not self.stored:
            return
        with self.core.db.session() as s:
            current = s.get(StoredResponse, self.row.id)
            if current is not None:
                current.status = "cancelled"
                current.output = [dict(i) for i in self.row.output]

    def _append_to_conversation(self) -> None:
        with self.core.db.session() as s:
            items = [*self.row.input_items, *self.row.output]
            append_items(s, self.row.project_id, self.row.conversation_id or "", items, self.row.created_at)

    def fail(self, code: str, message: str) -> None:
        self._end("failed", error={"code": code, "message": message})


def _container_file_citations(text: str, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`container_file_citation` annotations for the text's sandbox links to files the code wrote."""
    where = {
        link: (item["container_id"], file_id)
        for item in output
        if item["type"] == "code_interpreter_call"
        for link, file_id in (item.get("files") or {}).items()
    }
    return [
        {
            "type": "container_file_citation",
            "container_id": where[a["text"]][0],
            "file_id": a["file_path"]["file_id"],
            "filename": a["text"].rsplit("/", 1)[-1],
            "start_index": a["start_index"],
            "end_index": a["end_index"],
        }
        for a in file_path_annotations(text, {link: file_id for link, (_, file_id) in where.items()})
    ]


def _chat_tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice or "auto"
    if choice.get("type") == "file_search":
        return {"type": "function", "function": {"name": FILE_SEARCH}}
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return "auto"


def _chat_response_format(text: dict | None) -> dict | None:
    fmt = (text or {}).get("format") or {}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return None
