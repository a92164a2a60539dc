"""The Assistants run loop: model -> tool calls -> results -> model, until a message or a limit.

Every transition is written to the database before its event goes out, so a run can be taken up
again after a restart: a message step that was being written is discarded and its model call
made again; a tool step whose calls were made but not all answered gets its missing file_search
results; then the loop goes on. A run ends `completed`, `incomplete` (a token limit), `failed`
(with last_error), `cancelled`, or waits in `requires_action` for function outputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from retrievd.errors import APIError
from retrievd.retrieval.search import SearchOptions
from retrievd.runtime import tokens
from retrievd.runtime.citations import CitationStream, Source
from retrievd.runtime.code_interpreter import (
    CODE_INTERPRETER,
    CODE_INTERPRETER_FUNCTION,
    CODE_INTERPRETER_GUIDE,
    FileKeeper,
    file_inputs,
    file_path_annotations,
    parse_code,
)
from retrievd.runtime.executor import MAX_CLAIMS, Emit
from retrievd.runtime.ids import order_key, sortable_id
from retrievd.runtime.objects import message_object, run_object, step_object
from retrievd.runtime.providers import Route, route
from retrievd.runtime.providers.base import ChatRequest, UpstreamError
from retrievd.runtime.tools import (
    CITATION_GUIDE,
    FILE_SEARCH,
    FILE_SEARCH_FUNCTION,
    FileSearchConfig,
    Passage,
    ToolArgumentError,
    describe_error,
    error_for_model,
    file_search,
    output_for_model,
    parse_queries,
)
from retrievd.runtime.turn import RetryPolicy, Stopped, ToolCall, TurnResult, run_turn
from retrievd.services.assistants import code_file_ids, store_ids
from retrievd.store.db import now
from retrievd.store.models import Job, VectorStoreFile
from retrievd.store.runtime_models import Assistant, Message, Run, RunStep, Thread

if TYPE_CHECKING:
    from retrievd.core import Core

log = logging.getLogger("retrievd.runtime")

TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")
COMPLETION_RESERVE = 4096
DEFAULT_FILE_SEARCH_RESULTS = 20


def _discard(name: str, data: Any) -> None:
    pass


class _Gone(Exception):
    """The run (or its thread) was deleted while it ran."""


class _Cancelled(Exception):
    pass


@dataclass
class _Limits:
    prompt_used: int
    completion_used: int


def file_search_results_default(model: str) -> int:
    return 5 if model.startswith("gpt-3.5") else DEFAULT_FILE_SEARCH_RESULTS


def usage_json(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def expire_if_due(run: Run, steps: list[RunStep]) -> bool:
    """A run waiting for tool outputs past its expires_at becomes `expired` (checked when read)."""
    if run.status != "requires_action" or run.expires_at is None or now() < run.expires_at:
        return False
    run.status = "expired"
    run.required_action = None
    for step in steps:
        if step.status == "in_progress":
            step.status = "expired"
            step.expired_at = now()
    run.usage = _sum_usage(steps)
    return True


def _sum_usage(steps: list[RunStep]) -> dict[str, int]:
    prompt = sum((s.usage or {}).get("prompt_tokens", 0) for s in steps)
    completion = sum((s.usage or {}).get("completion_tokens", 0) for s in steps)
    return usage_json(prompt, completion)


def drive_run_job(core: Core, job: Job) -> None:
    """The job handler: find the job's run and drive it (a job claimed too often fails its run)."""
    with core.db.session() as s:
        run_id = s.execute(select(Run.id).where(Run.job_id == job.id)).scalar_one_or_none()
    if run_id is None:
        return
    driver = AssistantRunDriver(core, run_id)
    if job.attempts > MAX_CLAIMS:
        driver.fail("server_error", "The run was interrupted too many times and was stopped.")
        return
    driver.drive()


class _StepWriter:
    """Turns a model call's deltas into steps, messages and their events as they stream."""

    def __init__(self, driver: AssistantRunDriver, steps: list[RunStep]) -> None:
        self.driver = driver
        self.sources = _sources(steps)
        self.files, self.images = _code_outputs(steps)
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.tool_step: RunStep | None = None
        self.citations = CitationStream(self.sources, keep_markers=True)
        self.messages_done = 0
        self._announced: set[int] = set()

    # --- text -------------------------------------------------------------------------------

    def on_text(self, delta: str) -> None:
        first = self.message is None
        if first:
            self.start_message()
        piece = self.citations.feed(delta)
        self._emit_text(piece.text, piece.citations, first)

    def start_message(self) -> None:
        d = self.driver
        t = now()
        self.citations = CitationStream(self.sources, keep_markers=True)
        with d.core.db.session() as s:
            run = d.run_row(s)
            self.message = Message(
                id=sortable_id("msg_"),
                project_id=run.project_id,
                thread_id=run.thread_id,
                created_at=t,
                role="assistant",
                content=[],
                attachments=[],
                metadata_={},
                status="in_progress",
                assistant_id=run.assistant_id,
                run_id=run.id,
            )
            self.message_step = d.new_step(s, run, "message_creation", message_id=self.message.id)
            s.add(self.message)
            s.add(self.message_step)
        d.emit("thread.run.step.created", step_object(self.message_step))
        d.emit("thread.run.step.in_progress", step_object(self.message_step))
        d.emit("thread.message.created", message_object(self.message))
        d.emit("thread.message.in_progress", message_object(self.message))

    def _emit_text(self, text: str, citations: list, first: bool) -> None:
        if not text and not citations and not first:
            return
        assert self.message is not None
        offset = len(self.citations.citations) - len(citations)
        body: dict[str, Any] = {"value": text}
        if first or citations:
            body["annotations"] = [{"index": offset + i, **c.assistants()} for i, c in enumerate(citations)]
        self.driver.emit(
            "thread.message.delta",
            {
                "id": self.message.id,
                "object": "thread.message.delta",
                "delta": {"content": [{"index": 0, "type": "text", "text": body}]},
            },
        )

    def finish_text(self) -> None:
        piece = self.citations.flush()
        self._emit_text(piece.text, piece.citations, False)

    def message_content(self) -> list[dict[str, Any]]:
        """The figures code_interpreter showed since the last message, then the text, whose
        sandbox links to files the run wrote get `file_path` annotations."""
        text = self.citations.text
        annotations = [c.assistants() for c in self.citations.citations]
        annotations += file_path_annotations(text, self.files)
        images = [{"type": "image_file", "image_file": {"file_id": i}} for i in self.images]
        self.images = []
        return [*images, {"type": "text", "text": {"value": text, "annotations": annotations}}]

    # --- tool calls -------------------------------------------------------------------------

    def on_tool_call(self, index: int, call: ToolCall, arguments_delta: str) -> None:
        d = self.driver
        if self.tool_step is None:
            if self.message is not None:
                d.complete_message(self)  # text before tool calls: that message is done
            with d.core.db.session() as s:
                self.tool_step = d.new_step(s, d.run_row(s), "tool_calls")
                s.add(self.tool_step)
            d.emit("thread.run.step.created", step_object(self.tool_step))
            d.emit("thread.run.step.in_progress", step_object(self.tool_step))
        first = index not in self._announced
        self._announced.add(index)
        if call.name == FILE_SEARCH:
            if not first:
                return
            delta: dict[str, Any] = {"index": index, "id": call.id, "type": "file_search", "file_search": {}}
        elif call.name == CODE_INTERPRETER:
            if not first:
                return  # its input is sent whole when it runs
            delta = {
                "index": index,
                "id": call.id,
                "type": "code_interpreter",
                "code_interpreter": {"input": "", "outputs": []},
            }
        elif first:
            delta = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments, "output": None},
            }
        else:
            delta = {"index": index, "type": "function", "function": {"arguments": arguments_delta}}
        d.emit_tool_delta(self.tool_step.id, delta)


class AssistantRunDriver:
    def __init__(
        self, core: Core, run_id: str, *, emit: Emit = _discard, include: tuple[str, ...] = ()
    ) -> None:
        self.core = core
        self.run_id = run_id
        self.emit = emit
        self.include = include
        self.settings = core.settings

    # --- rows ---------------------------------------------------------------------------------

    def run_row(self, s: Any) -> Run:
        run = s.get(Run, self.run_id)
        if run is None:
            raise _Gone
        return run

    def steps(self, s: Any) -> list[RunStep]:
        return list(
            s.execute(select(RunStep).where(RunStep.run_id == self.run_id).order_by(RunStep.id)).scalars()
        )

    def new_step(self, s: Any, run: Run, kind: str, *, message_id: str | None = None) -> RunStep:
        return RunStep(
            id=sortable_id("step_"),
            project_id=run.project_id,
            run_id=run.id,
            thread_id=run.thread_id,
            assistant_id=run.assistant_id,
            created_at=now(),
            type=kind,
            status="in_progress",
            message_id=message_id,
            tool_calls=[],
            metadata_={},
        )

    def _emit_run(self, run: Run) -> None:
        self.emit(f"thread.run.{run.status}", run_object(run))

    def _emit_step(self, step: RunStep) -> None:
        self.emit(f"thread.run.step.{step.status}", step_object(step, include=self.include))

    def emit_tool_delta(self, step_id: str, delta: dict[str, Any]) -> None:
        self.emit(
            "thread.run.step.delta",
            {
                "id": step_id,
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [delta]}},
            },
        )

    # --- the loop -----------------------------------------------------------------------------

    def drive(self) -> None:
        try:
            self._drive()
        except _Gone:
            log.info("run %s was deleted while it ran", self.run_id)
        except (_Cancelled, Stopped):
            self._end_cancelled()
        except UpstreamError as e:
            self.fail(e.code, e.message)
        except Exception:
            log.exception("run %s failed", self.run_id)
            self.fail("server_error", "The server had an error while processing the run.")

    def _drive(self) -> None:
        with self.core.db.session() as s:
            run = self.run_row(s)
            if run.status in TERMINAL or run.status == "requires_action":
                return
            if run.status == "cancelling":
                raise _Cancelled
            started = run.status == "queued"
            if started:
                run.status = "in_progress"
                run.started_at = run.started_at or now()
            assistant = s.get(Assistant, run.assistant_id)
            thread = s.get(Thread, run.thread_id)
            if thread is None:
                raise _Gone
            resources = (
                run.tool_resources
                if run.tool_resources is not None
                else (assistant.tool_resources if assistant else None)
            )
            stores = list(dict.fromkeys(store_ids(resources) + store_ids(thread.tool_resources)))
            attached = s.execute(select(Message.attachments).where(Message.thread_id == thread.id)).scalars()
            code_files = code_file_ids(resources) + code_file_ids(thread.tool_resources)
            code_files += [
                a["file_id"]
                for attachments in attached
                for a in attachments or ()
                if any(t.get("type") == CODE_INTERPRETER for t in a.get("tools") or ())
            ]
            snapshot = _RunSnapshot.of(run, stores, list(dict.fromkeys(code_files)))
        if started:
            self._emit_run(run)
        model = route(self.settings, snapshot.model)
        self._resume_steps(snapshot)
        if snapshot.file_search is not None:
            self._wait_for_stores(snapshot.file_search.vector_store_ids)
        while True:
            self._check_cancel()
            with self.core.db.session() as s:
                steps = self.steps(s)
                run = self.run_row(s)
                if run.status == "requires_action":
                    return
            limits = _Limits(
                prompt_used=sum((st.usage or {}).get("prompt_tokens", 0) for st in steps),
                completion_used=sum((st.usage or {}).get("completion_tokens", 0) for st in steps),
            )
            # Each model call makes at least one step; the last call allowed must answer in text.
            last_call = len(steps) + 1 >= self.settings.run_max_model_calls
            request = self._request(snapshot, model, steps, limits, first=not steps, last=last_call)
            if request is None:
                return
            writer = _StepWriter(self, steps)
            result = run_turn(
                model.provider,
                request,
                writer,
                retry=RetryPolicy(self.settings.upstream_retries, self.settings.upstream_backoff_s),
                should_stop=self._cancel_requested,
            )
            if result.tool_calls and not last_call:
                if not self._tool_calls(snapshot, writer, result, _next_turn(steps)):
                    return  # waiting for function outputs
                continue
            self._answer(writer, result)
            return

    # --- one model call -----------------------------------------------------------------------

    def _request(
        self,
        snap: _RunSnapshot,
        model: Route,
        steps: list[RunStep],
        limits: _Limits,
        *,
        first: bool,
        last: bool,
    ) -> ChatRequest | None:
        tools = snap.model_tools()
        tool_choice: Any = snap.chat_tool_choice() if first else "auto"
        if last and tools:
            tool_choice = "none"
        if snap.max_completion_tokens is not None:
            remaining = snap.max_completion_tokens - limits.completion_used
            if remaining <= 0:
                self._end_incomplete("max_completion_tokens")
                return None
        else:
            remaining = None
        tool_tokens = tokens.count_tools(tools, model.model)
        window_budget = model.provider.context_tokens - min(
            remaining or COMPLETION_RESERVE, model.provider.context_tokens // 4
        )
        budget = window_budget - tool_tokens
        prompt_limited = False
        if snap.max_prompt_tokens is not None:
            prompt_budget = snap.max_prompt_tokens - limits.prompt_used - tool_tokens
            if prompt_budget < budget:
                budget, prompt_limited = prompt_budget, True
        head, groups = self._history(snap, steps)
        messages = tokens.truncate_oldest(head, groups, budget, model.model)
        if messages is None:
            if prompt_limited:
                self._end_incomplete("max_prompt_tokens")
            else:
                self.fail(
                    "invalid_prompt", "The thread's latest messages do not fit in the model's context window."
                )
            return None
        return ChatRequest(
            model=model.model,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice if tools else None,
            parallel_tool_calls=snap.parallel_tool_calls if tools else None,
            temperature=snap.temperature,
            top_p=snap.top_p,
            max_tokens=remaining,
            response_format=snap.chat_response_format(),
        )

    def _history(self, snap: _RunSnapshot, steps: list[RunStep]) -> tuple[list[dict], list[list[dict]]]:
        """System message, then the thread's messages and this run's tool calls in the order they happened."""
        with self.core.db.session() as s:
            messages = list(
                s.execute(
                    select(Message)
                    .where(Message.thread_id == snap.thread_id, Message.status != "in_progress")
                    .order_by(Message.id)
                ).scalars()
            )
        if snap.truncation.get("type") == "last_messages" and snap.truncation.get("last_messages"):
            messages = messages[-int(snap.truncation["last_messages"]) :]
        system = snap.instructions
        for guide in (
            CITATION_GUIDE if snap.file_search else None,
            CODE_INTERPRETER_GUIDE if snap.code_interpreter else None,
        ):
            if guide:
                system = f"{system}\n\n{guide}" if system else guide
        head = [{"role": "system", "content": system}] if system else []
        timeline: list[tuple[str, list[dict]]] = []
        for m in messages:
            text = "\n".join(
                p["text"]["value"] if p.get("type") == "text" else f"[{p.get('type')}]"
                for p in m.content or ()
            )
            timeline.append((order_key(m.id), [{"role": m.role, "content": text}]))
        for step in steps:
            answered = [c for c in step.tool_calls or () if c.get("output") is not None]
            if step.type != "tool_calls" or not answered:
                continue
            group: list[dict] = [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for c in answered
                    ],
                }
            ]
            group += [{"role": "tool", "tool_call_id": c["id"], "content": c["output"]} for c in answered]
            timeline.append((order_key(step.id), group))
        timeline.sort(key=lambda item: item[0])
        return head, [group for _, group in timeline]

    # --- after the model call -----------------------------------------------------------------

    def _tool_calls(self, snap: _RunSnapshot, writer: _StepWriter, result: TurnResult, turn: int) -> bool:
        """Record the calls, answer file_search ones here; False if the run now waits for function outputs."""
        assert writer.tool_step is not None  # created by the first tool call delta
        if writer.message is not None:
            self.complete_message(writer)  # text that came after the calls
        calls = []
        for call in result.tool_calls:
            kind = (
                "function"
                if call.name in snap.function_names
                else "file_search"
                if call.name == FILE_SEARCH and snap.file_search is not None
                else "code_interpreter"
                if call.name == CODE_INTERPRETER and snap.code_interpreter
                else "unknown"
            )
            calls.append(
                {"id": call.id, "type": kind, "name": call.name, "arguments": call.arguments, "output": None}
            )
        with self.core.db.session() as s:
            step = s.get(RunStep, writer.tool_step.id)
            if step is None:
                raise _Gone
            step.tool_calls = calls
            step.usage = usage_json(result.usage.prompt_tokens, result.usage.completion_tokens)
        return self._answer_tools(snap, writer.tool_step.id, turn)

    def _answer_tools(self, snap: _RunSnapshot, step_id: str, turn: int) -> bool:
        with self.core.db.session() as s:
            step = s.get(RunStep, step_id)
            if step is None:
                raise _Gone
            calls = [dict(c) for c in step.tool_calls]
        for index, call in enumerate(calls):
            if call["output"] is not None or call["type"] == "function":
                continue
            if call["type"] == "unknown":
                call["type"] = "function"
                call["output"] = error_for_model(f"There is no tool named '{call['name']}'.")
                continue
            if call["type"] == "code_interpreter":
                self._run_code(snap, step_id, index, call)
                continue
            call["ranking_options"] = snap.ranking_options
            call["turn"] = turn
            turn += 1
            call["results"], call["output"] = self._search(snap, call["arguments"], call["turn"])
        pending = [c for c in calls if c["output"] is None]
        with self.core.db.session() as s:
            step = s.get(RunStep, step_id)
            run = self.run_row(s)
            if step is None:
                raise _Gone
            step.tool_calls = calls
            if pending:
                run.status = "requires_action"
                run.expires_at = now() + self.settings.run_expires_after_s
                run.required_action = {
                    "type": "submit_tool_outputs",
                    "submit_tool_outputs": {
                        "tool_calls": [
                            {
                                "id": c["id"],
                                "type": "function",
                                "function": {"name": c["name"], "arguments": c["arguments"]},
                            }
                            for c in pending
                        ]
                    },
                }
            else:
                step.status = "completed"
                step.completed_at = now()
        if pending:
            self._emit_run(run)
            return False
        self._emit_step(step)
        return True

    def _run_code(self, snap: _RunSnapshot, step_id: str, index: int, call: dict[str, Any]) -> None:
        """Run the call in the thread's container; its input, then its outputs, go out as step deltas."""
        call["input"] = parse_code(call["arguments"])
        self.emit_tool_delta(
            step_id,
            {"index": index, "type": "code_interpreter", "code_interpreter": {"input": call["input"]}},
        )
        try:
            inputs = file_inputs(self.core, snap.project_id, snap.code_file_ids)
        except APIError as e:  # a file deleted since it was attached
            call["outputs"], call["files"] = [], {}
            call["output"] = error_for_model(e.message)
            return
        result = self.core.containers.run(
            snap.project_id,
            snap.thread_id,
            inputs,
            call["input"],
            self.settings.code_interpreter_timeout_s,
            FileKeeper(self.core, snap.project_id),
        )
        call["outputs"], call["files"], call["output"] = result.outputs, result.files, result.output_for_model
        self.emit_tool_delta(
            step_id,
            {"index": index, "type": "code_interpreter", "code_interpreter": {"outputs": result.outputs}},
        )

    def _search(self, snap: _RunSnapshot, arguments: str, turn: int) -> tuple[list[dict], str]:
        assert snap.file_search is not None
        try:
            passages = file_search(
                self.core, snap.project_id, snap.file_search, parse_queries(arguments), turn
            )
        except ToolArgumentError as e:
            return [], error_for_model(str(e))
        except Exception as e:
            log.warning("file_search failed in run %s: %s", self.run_id, e)
            return [], error_for_model(f"The search failed: {describe_error(e)}")
        return [p.to_json() for p in passages], output_for_model(passages)

    def _answer(self, writer: _StepWriter, result: TurnResult) -> None:
        if writer.tool_step is not None:
            self._cancel_step(writer.tool_step.id)  # calls made when none were allowed any more
        if writer.message is None and not writer.messages_done:
            writer.start_message()  # an empty answer is still a message
        incomplete = result.finish_reason == "length"
        if writer.message is not None:
            self.complete_message(writer, usage=result.usage, incomplete=incomplete)
        if incomplete:
            self._end_incomplete("max_completion_tokens")
            return
        with self.core.db.session() as s:
            run = self.run_row(s)
            if run.status == "cancelling":
                raise _Cancelled
            run.status = "completed"
            run.completed_at = now()
            run.usage = _sum_usage(self.steps(s))
        self._emit_run(run)

    def complete_message(self, writer: _StepWriter, *, usage: Any = None, incomplete: bool = False) -> None:
        writer.finish_text()
        assert writer.message is not None and writer.message_step is not None
        t = now()
        with self.core.db.session() as s:
            message = s.get(Message, writer.message.id)
            step = s.get(RunStep, writer.message_step.id)
            if message is None or step is None:
                raise _Gone
            message.content = writer.message_content()
            if incomplete:
                message.status, message.incomplete_at = "incomplete", t
                message.incomplete_details = {"reason": "max_tokens"}
            else:
                message.status, message.completed_at = "completed", t
            step.status, step.completed_at = "completed", t
            step.usage = (
                usage_json(usage.prompt_tokens, usage.completion_tokens) if usage else usage_json(0, 0)
            )
        self.emit(f"thread.message.{message.status}", message_object(message))
        self._emit_step(step)
        writer.message = writer.message_step = None
        writer.messages_done += 1

    def _cancel_step(self, step_id: str) -> None:
        with self.core.db.session() as s:
            step = s.get(RunStep, step_id)
            if step is None:
                raise _Gone
            step.status, step.cancelled_at = "cancelled", now()
        self._emit_step(step)

    # --- resuming, waiting, cancelling --------------------------------------------------------

    def _resume_steps(self, snap: _RunSnapshot) -> None:
        """After an interruption: drop half-written messages, finish tool steps whose calls were made."""
        with self.core.db.session() as s:
            steps = [st for st in self.steps(s) if st.status == "in_progress"]
            for st in steps:
                if st.type == "message_creation" or not st.tool_calls:
                    if st.message_id:
                        s.execute(delete(Message).where(Message.id == st.message_id))
                    s.delete(st)
            unfinished = [st for st in steps if st.type == "tool_calls" and st.tool_calls]
            done = self.steps(s)
        for st in unfinished:
            self._answer_tools(snap, st.id, _next_turn(done))

    def _wait_for_stores(self, vector_store_ids: list[str]) -> None:
        """Files still being indexed are waited for, as OpenAI's runs do, up to run_store_wait_s."""
        deadline = time.monotonic() + self.settings.run_store_wait_s
        while time.monotonic() < deadline:
            with self.core.db.session() as s:
                pending = s.execute(
                    select(func.count()).where(
                        VectorStoreFile.vector_store_id.in_(vector_store_ids),
                        VectorStoreFile.status == "in_progress",
                    )
                ).scalar_one()
            if not pending:
                return
            self._check_cancel()
            time.sleep(0.2)

    def _cancel_requested(self) -> bool:
        with self.core.db.session() as s:
            run = s.get(Run, self.run_id)
            return run is None or run.status == "cancelling"

    def _check_cancel(self) -> None:
        if self._cancel_requested():
            raise _Cancelled

    def _end(self, status: str, *, step_status: str, message_reason: str | None, **run_fields: Any) -> None:
        """End the run: steps still in progress and a message being written end with it."""
        t = now()
        with self.core.db.session() as s:
            run = s.get(Run, self.run_id)
            if run is None or run.status in TERMINAL:
                return
            steps = self.steps(s)
            changed_steps = []
            changed_messages = []
            for st in steps:
                if st.status != "in_progress":
                    continue
                st.status = step_status
                setattr(st, f"{step_status}_at", t)
                if step_status == "failed":
                    st.last_error = run_fields.get("last_error")
                changed_steps.append(st)
                if st.message_id and message_reason:
                    message = s.get(Message, st.message_id)
                    if message is not None and message.status == "in_progress":
                        message.status, message.incomplete_at = "incomplete", t
                        message.incomplete_details = {"reason": message_reason}
                        changed_messages.append(message)
            run.status = status
            run.required_action = None
            for name, value in run_fields.items():
                setattr(run, name, value)
            run.usage = _sum_usage(steps)
        for message in changed_messages:
            self.emit("thread.message.incomplete", message_object(message))
        for st in changed_steps:
            self._emit_step(st)
        self._emit_run(run)

    def _end_cancelled(self) -> None:
        self._end("cancelled", step_status="cancelled", message_reason="run_cancelled", cancelled_at=now())

    def _end_incomplete(self, reason: str) -> None:
        self._end(
            "incomplete",
            step_status="cancelled",
            message_reason="max_tokens",
            incomplete_details={"reason": reason},
        )

    def fail(self, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        self._end(
            "failed", step_status="failed", message_reason="run_failed", failed_at=now(), last_error=error
        )


def _next_turn(steps: list[RunStep]) -> int:
    """File searches are numbered across the run; markers 【turn:index†file】 name their results."""
    return sum(1 for st in steps for c in st.tool_calls or () if c.get("turn") is not None)


def _code_outputs(steps: list[RunStep]) -> tuple[dict[str, str], list[str]]:
    """The files code_interpreter wrote in the run (sandbox link -> file id), and the images it
    showed since the run's last message (which the next message carries)."""
    files: dict[str, str] = {}
    images: list[str] = []
    for st in steps:
        if st.type == "message_creation":
            images = []
        for call in st.tool_calls or ():
            files.update(call.get("files") or {})
            images += [o["image"]["file_id"] for o in call.get("outputs") or () if o["type"] == "image"]
    return files, images


def _sources(steps: list[RunStep]) -> dict[tuple[int, int], Source]:
    sources: dict[tuple[int, int], Source] = {}
    for st in steps:
        for call in st.tool_calls or ():
            for r in call.get("results") or ():
                p = Passage.from_json(r)
                sources[(p.turn, p.index)] = Source(p.file_id, p.filename)
    return sources


@dataclass(frozen=True)
class _RunSnapshot:
    """What the loop needs of the run, read once (the run's settings do not change while it runs)."""

    project_id: str
    thread_id: str
    model: str
    instructions: str
    tools: list[dict]
    tool_choice: Any
    parallel_tool_calls: bool
    temperature: float | None
    top_p: float | None
    response_format: Any
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation: dict
    file_search: FileSearchConfig | None
    ranking_options: dict
    code_interpreter: bool
    code_file_ids: list[str]

    @classmethod
    def of(cls, run: Run, stores: list[str], code_files: list[str]) -> _RunSnapshot:
        fs_tool = next((t for t in run.tools or () if t["type"] == "file_search"), None)
        settings = (fs_tool or {}).get("file_search") or {}
        ranking = settings.get("ranking_options") or {"ranker": "auto", "score_threshold": 0.0}
        config = None
        if fs_tool is not None and stores:
            config = FileSearchConfig(
                stores,
                SearchOptions(
                    limit=settings.get("max_num_results") or file_search_results_default(run.model),
                    score_threshold=float(ranking.get("score_threshold", 0.0)),
                ),
            )
        return cls(
            project_id=run.project_id,
            thread_id=run.thread_id,
            model=run.model,
            instructions=run.instructions or "",
            tools=run.tools or [],
            tool_choice=run.tool_choice,
            parallel_tool_calls=run.parallel_tool_calls,
            temperature=run.temperature,
            top_p=run.top_p,
            response_format=run.response_format,
            max_prompt_tokens=run.max_prompt_tokens,
            max_completion_tokens=run.max_completion_tokens,
            truncation=run.truncation_strategy or {"type": "auto"},
            file_search=config,
            ranking_options={
                "ranker": ranking.get("ranker", "auto"),
                "score_threshold": float(ranking.get("score_threshold", 0.0)),
            },
            code_interpreter=any(t["type"] == CODE_INTERPRETER for t in run.tools or ()),
            code_file_ids=code_files,
        )

    @property
    def function_names(self) -> set[str]:
        return {t["function"]["name"] for t in self.tools if t["type"] == "function"}

    def model_tools(self) -> list[dict]:
        out: list[dict] = [FILE_SEARCH_FUNCTION] if self.file_search is not None else []
        out += [CODE_INTERPRETER_FUNCTION] if self.code_interpreter else []
        out += [
            {"type": "function", "function": t["function"]} for t in self.tools if t["type"] == "function"
        ]
        return out

    def chat_tool_choice(self) -> Any:
        choice = self.tool_choice
        if choice is None or isinstance(choice, str):
            return choice or "auto"
        if choice.get("type") in (FILE_SEARCH, CODE_INTERPRETER):
            return {"type": "function", "function": {"name": choice["type"]}}
        return {"type": "function", "function": {"name": choice["function"]["name"]}}

    def chat_response_format(self) -> dict | None:
        fmt = self.response_format
        return fmt if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema") else None
