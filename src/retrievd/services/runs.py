"""Runs and run steps: create (with or without a new thread), read, cancel, submit tool outputs.

Creating a run writes the run and its job in one transaction. Without streaming the runtime's
workers take the job; with streaming the request drives the run and relays its events
(see `retrievd.runtime.executor`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from retrievd.errors import APIError, invalid, not_found
from retrievd.runtime import schemas
from retrievd.runtime.assistant_runs import AssistantRunDriver, expire_if_due, usage_json
from retrievd.runtime.executor import RUN_JOB, Event, RuntimeExecutor
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.objects import run_object, step_object, thread_object
from retrievd.services.assistants import AssistantService, resolve_tool_resources, tools_json
from retrievd.services.threads import MessageService, ThreadService, active_run, thread_row
from retrievd.store.db import now
from retrievd.store.pagination import Order, paginate
from retrievd.store.runtime_models import Run, RunStep

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core


class RunService:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.executor = RuntimeExecutor(core)

    # --- lookups ------------------------------------------------------------------------------

    def _run(self, s: Session, project_id: str, thread_id: str, run_id: str) -> Run:
        thread_row(s, project_id, thread_id)
        run = s.get(Run, run_id)
        if run is None or run.thread_id != thread_id:
            raise not_found("run", run_id, param="run_id")
        if run.status == "requires_action":
            expire_if_due(run, self._steps(s, run_id))
        return run

    @staticmethod
    def _steps(s: Session, run_id: str) -> list[RunStep]:
        return list(s.execute(select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.id)).scalars())

    # --- create -------------------------------------------------------------------------------

    def create(
        self, project_id: str, thread_id: str, req: schemas.CreateRunRequest, *, include: tuple[str, ...] = ()
    ) -> schemas.RunObject | Iterator[Event]:
        tools = self._validate(project_id, req)
        with self.core.db.session() as s:
            thread_row(s, project_id, thread_id)
            self._check_idle(s, thread_id)
        messages = MessageService(self.core)
        for message in req.additional_messages or ():
            messages.create(project_id, thread_id, message)
        return self._start(
            project_id, thread_id, req, tools, None, include=include, additional=req.additional_instructions
        )

    def create_thread_and_run(
        self, project_id: str, req: schemas.CreateThreadAndRunRequest, *, include: tuple[str, ...] = ()
    ) -> schemas.RunObject | Iterator[Event]:
        tools = self._validate(project_id, req)
        resources = resolve_tool_resources(self.core, project_id, req.tool_resources)
        thread = ThreadService(self.core).create(project_id, req.thread or schemas.CreateThreadRequest())
        return self._start(
            project_id, thread.id, req, tools, resources, include=include, announce_thread=True
        )

    def _validate(
        self, project_id: str, req: schemas.CreateRunRequest | schemas.CreateThreadAndRunRequest
    ) -> list | None:
        """What can be checked before anything is written: the assistant exists, the tools are supported."""
        with self.core.db.session() as s:
            AssistantService.row(s, project_id, req.assistant_id)
        return tools_json(req.tools) if req.tools is not None else None

    def _check_idle(self, s: Session, thread_id: str) -> None:
        run = active_run(s, thread_id)
        if run is not None and not expire_if_due(run, self._steps(s, run.id)):
            raise APIError(
                400,
                f"Thread {thread_id} already has an active run {run.id}.",
                param="thread_id",
                code="thread_locked",
            )

    def _start(
        self,
        project_id: str,
        thread_id: str,
        req: schemas.CreateRunRequest | schemas.CreateThreadAndRunRequest,
        tools: list | None,
        tool_resources: dict[str, Any] | None,
        *,
        include: tuple[str, ...],
        additional: str | None = None,
        announce_thread: bool = False,
    ) -> schemas.RunObject | Iterator[Event]:
        fields = req.model_fields_set
        streaming = bool(req.stream)
        with self.core.db.session() as s:
            assistant = AssistantService.row(s, project_id, req.assistant_id)
            self._check_idle(s, thread_id)
            instructions = req.instructions if req.instructions is not None else assistant.instructions or ""
            if additional:
                instructions = f"{instructions}\n\n{additional}" if instructions else additional
            job = self.executor.add_job(s, RUN_JOB, project_id, streaming=streaming)
            t = now()
            run = Run(
                id=sortable_id("run_"),
                project_id=project_id,
                thread_id=thread_id,
                assistant_id=assistant.id,
                created_at=t,
                status="queued",
                model=req.model or assistant.model,
                instructions=instructions,
                tools=tools if tools is not None else list(assistant.tools or []),
                tool_resources=tool_resources,
                metadata_=req.metadata or {},
                temperature=req.temperature if "temperature" in fields else assistant.temperature,
                top_p=req.top_p if "top_p" in fields else assistant.top_p,
                max_prompt_tokens=req.max_prompt_tokens,
                max_completion_tokens=req.max_completion_tokens,
                truncation_strategy=(
                    req.truncation_strategy.model_dump()
                    if req.truncation_strategy
                    else {"type": "auto", "last_messages": None}
                ),
                tool_choice=req.tool_choice.model_dump(exclude_none=True)
                if isinstance(req.tool_choice, schemas.NamedToolChoice)
                else (req.tool_choice or "auto"),
                parallel_tool_calls=req.parallel_tool_calls,
                response_format=req.response_format
                if req.response_format is not None
                else assistant.response_format,
                reasoning_effort=req.reasoning_effort or assistant.reasoning_effort,
                expires_at=t + self.core.settings.run_expires_after_s,
                job_id=job.id,
            )
            s.add(run)
            created = run_object(run)
            thread = thread_object(thread_row(s, project_id, thread_id)) if announce_thread else None
        if not streaming:
            self.executor.wake()
            return created
        opening: list[Event] = [("thread.created", thread)] if thread is not None else []
        opening += [("thread.run.created", created), ("thread.run.queued", created)]
        return self._stream(job.id, run.id, opening, include)

    def _stream(
        self, job_id: int, run_id: str, opening: list[Event], include: tuple[str, ...]
    ) -> Iterator[Event]:
        yield from opening
        yield from self.executor.stream(
            job_id, lambda emit: AssistantRunDriver(self.core, run_id, emit=emit, include=include).drive()
        )

    # --- read, modify, cancel -----------------------------------------------------------------

    def get(self, project_id: str, thread_id: str, run_id: str) -> schemas.RunObject:
        with self.core.db.session() as s:
            return run_object(self._run(s, project_id, thread_id, run_id))

    def list(
        self,
        project_id: str,
        thread_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None,
        before: str | None,
    ) -> tuple[list[schemas.RunObject], bool]:
        with self.core.db.session() as s:
            thread_row(s, project_id, thread_id)
            scope = Run.thread_id == thread_id
            page = paginate(
                s,
                select(Run).where(scope),
                Run.created_at,
                Run.id,
                limit=limit,
                order=order,
                after=after,
                before=before,
                cursor_filter=scope,
            )
            for run in page.items:
                if run.status == "requires_action":
                    expire_if_due(run, self._steps(s, run.id))
            return [run_object(r) for r in page.items], page.has_more

    def modify(
        self, project_id: str, thread_id: str, run_id: str, metadata: dict[str, str] | None
    ) -> schemas.RunObject:
        with self.core.db.session() as s:
            run = self._run(s, project_id, thread_id, run_id)
            run.metadata_ = metadata or {}
            return run_object(run)

    def cancel(self, project_id: str, thread_id: str, run_id: str) -> schemas.RunObject:
        """A running run becomes `cancelling` and its driver ends it; a waiting one ends at once."""
        with self.core.db.session() as s:
            run = self._run(s, project_id, thread_id, run_id)
            if run.status in ("queued", "in_progress"):
                run.status = "cancelling"
            elif run.status == "requires_action":
                t = now()
                steps = self._steps(s, run_id)
                for step in steps:
                    if step.status == "in_progress":
                        step.status, step.cancelled_at = "cancelled", t
                run.status, run.cancelled_at, run.required_action = "cancelled", t, None
                run.usage = usage_json(
                    sum((st.usage or {}).get("prompt_tokens", 0) for st in steps),
                    sum((st.usage or {}).get("completion_tokens", 0) for st in steps),
                )
            elif run.status != "cancelling":
                raise invalid(
                    f"Cannot cancel run with status '{run.status}'.",
                    param="run_id",
                    code="run_not_cancellable",
                )
            return run_object(run)

    # --- tool outputs -------------------------------------------------------------------------

    def submit_tool_outputs(
        self,
        project_id: str,
        thread_id: str,
        run_id: str,
        req: schemas.SubmitToolOutputsRequest,
        *,
        include: tuple[str, ...] = (),
    ) -> schemas.RunObject | Iterator[Event]:
        streaming = bool(req.stream)
        with self.core.db.session() as s:
            run = self._run(s, project_id, thread_id, run_id)
            if run.status != "requires_action":
                raise invalid(
                    f"Runs in status '{run.status}' do not accept tool outputs.",
                    param="run_id",
                    code="run_not_waiting",
                )
            step = next(st for st in reversed(self._steps(s, run_id)) if st.status == "in_progress")
            outputs = {o.tool_call_id: o.output for o in req.tool_outputs}
            pending = {c["id"] for c in step.tool_calls if c["output"] is None}
            unknown = set(outputs) - pending
            if unknown:
                raise invalid(f"No pending tool call with id '{min(unknown)}'.", param="tool_outputs")
            if pending - set(outputs):
                raise invalid(
                    f"Expected tool outputs for call ids {sorted(pending)}; missing {sorted(pending - set(outputs))}.",
                    param="tool_outputs",
                )
            step.tool_calls = [{**c, "output": outputs.get(c["id"], c["output"])} for c in step.tool_calls]
            step.status, step.completed_at = "completed", now()
            job = self.executor.add_job(s, RUN_JOB, project_id, streaming=streaming)
            run.status, run.required_action, run.job_id = "queued", None, job.id
            done_step = step_object(step, include=include)
            queued = run_object(run)
        if not streaming:
            self.executor.wake()
            return queued
        return self._stream(
            job.id, run_id, [("thread.run.step.completed", done_step), ("thread.run.queued", queued)], include
        )

    # --- steps --------------------------------------------------------------------------------

    def get_step(
        self, project_id: str, thread_id: str, run_id: str, step_id: str, include: tuple[str, ...] = ()
    ) -> schemas.RunStepObject:
        with self.core.db.session() as s:
            self._run(s, project_id, thread_id, run_id)
            step = s.get(RunStep, step_id)
            if step is None or step.run_id != run_id:
                raise not_found("run step", step_id, param="step_id")
            return step_object(step, include=include)

    def list_steps(
        self,
        project_id: str,
        thread_id: str,
        run_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None,
        before: str | None,
        include: tuple[str, ...] = (),
    ) -> tuple[list[schemas.RunStepObject], bool]:
        with self.core.db.session() as s:
            self._run(s, project_id, thread_id, run_id)
            scope = RunStep.run_id == run_id
            page = paginate(
                s,
                select(RunStep).where(scope),
                RunStep.created_at,
                RunStep.id,
                limit=limit,
                order=order,
                after=after,
                before=before,
                cursor_filter=scope,
            )
            return [step_object(st, include=include) for st in page.items], page.has_more
