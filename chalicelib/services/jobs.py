"""Terrakube jobs and templates on the run engine.

A job is created `pending` and waits in its workspace's queue with the runs (the slot holds a
run id or a job id). With the workspace, its flow (compiled from the TCL by domain/flows.py)
starts as one Step Functions execution; workers run its steps, the API answers approvals, the
flow's end frees the workspace. Every change: domain/jobs.py, a versioned conditional write."""
from __future__ import annotations

import logging
import uuid
from typing import Callable

from ..aws import executions, queues
from ..config import settings
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.configuration_versions import CVStatus
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.flows import compile_flow, definition_name
from ..domain.ids import new_id
from ..domain.jobs import Job, JobStatus, Step, StepStatus
from ..domain.leases import WORKER_LOST
from ..domain.outcomes import Outcome
from ..domain.tcl import Template, command_tcl, parse_tcl
from ..storage import base
from ..storage import configuration_versions as cv_store
from ..storage import jobs as store
from . import configuration_versions, identity, logs, queue, workspaces

log = logging.getLogger(__name__)


# -- templates ------------------------------------------------------------------------------------

def _template_attrs(attrs: dict, *, partial: bool) -> dict:
    out = {}
    for name in ("name", "description", "version", "tcl"):
        if name not in attrs:
            if not partial and name in ("name", "tcl"):
                raise Unprocessable(f"{name} is required", pointer=f"/data/attributes/{name}")
            continue
        value = attrs[name]
        if value is not None and not isinstance(value, str):
            raise Unprocessable(f"{name} must be a string", pointer=f"/data/attributes/{name}")
        out[name] = value
    if "name" in out and not (out["name"] or "").strip():
        raise Unprocessable("name must not be empty", pointer="/data/attributes/name")
    if "tcl" in out:
        parse_tcl(out["tcl"] or "")          # a stored template is always a valid flow
    return out


def _org_template(principal: Principal, org: str, template_id: str) -> Template:
    principal.require_org(org)
    template = store.find_template(template_id)
    if template is None or template.org != org:
        raise NotFound(f"template {template_id} not found")
    return template


def _name_taken(org: str, name: str, except_id: str | None = None) -> bool:
    return any(t.id != except_id for t in store.templates_of(org, name))


def create_template(principal: Principal, org: str, attrs: dict) -> Template:
    principal.require_user_or_team("create templates")
    identity.get_org(principal, org)
    values = _template_attrs(attrs, partial=False)
    if _name_taken(org, values["name"]):
        raise Conflict(f"template {values['name']} already exists in {org}")
    stamp = now_iso()
    template = Template(id=str(uuid.uuid4()), org=org, created_at=stamp, updated_at=stamp, **values)
    store.insert_template(template)
    return template


def list_templates(principal: Principal, org: str) -> list[Template]:
    principal.require_org(org)
    return store.templates_of(org)


def get_template(principal: Principal, org: str, template_id: str) -> Template:
    return _org_template(principal, org, template_id)


def update_template(principal: Principal, org: str, template_id: str, attrs: dict) -> Template:
    principal.require_user_or_team("update templates")
    template = _org_template(principal, org, template_id)
    values = _template_attrs(attrs, partial=True)
    if values.get("name") and _name_taken(org, values["name"], except_id=template.id):
        raise Conflict(f"template {values['name']} already exists in {org}")
    return store.update_template(template.id, values, now_iso())


def delete_template(principal: Principal, org: str, template_id: str) -> None:
    principal.require_user_or_team("delete templates")
    store.delete_template(_org_template(principal, org, template_id).id)


# -- reading jobs -----------------------------------------------------------------------------------

def get(principal: Principal, workspace_id: str, job_id: str) -> Job:
    ws = workspaces.get(principal, workspace_id)
    job = store.find(job_id) if job_id.startswith("job-") else None
    if job is None or job.workspace_id != ws.id:
        raise NotFound(f"job {job_id} not found")
    return job


def list_page(principal: Principal, workspace_id: str, page: int, size: int) -> tuple[list[Job], int]:
    ws = workspaces.get(principal, workspace_id)
    return store.page(ws.id, ws.job_seq, page, size), ws.job_seq


def get_in_org(principal: Principal, org: str, job_id: str) -> Job:
    """Terrakube's organization-scoped job paths: the job must belong to the organization."""
    principal.require_org(org)
    job = store.find(job_id) if job_id.startswith("job-") else None
    if job is None or job.org != org:
        raise NotFound(f"job {job_id} not found")
    return job


def list_org_page(principal: Principal, org: str, page: int, size: int) -> tuple[list[Job], int]:
    total = identity.get_org(principal, org).job_seq
    return store.org_page(org, total, page, size), total


# -- creating -------------------------------------------------------------------------------------

def _flow_source(principal: Principal, org: str, attrs: dict) -> tuple[str, str | None]:
    tcl, reference = attrs.get("tcl"), attrs.get("templateReference")
    if tcl not in (None, ""):
        return tcl, reference if isinstance(reference, str) else None
    if reference in (None, "") and attrs.get("command") not in (None, ""):
        return command_tcl(attrs["command"]), None       # Terrakube's plan / apply / destroy
    if reference in (None, ""):
        raise Unprocessable("a job needs tcl (a base64 TCL template), templateReference or command",
                            pointer="/data/attributes/tcl")
    if not isinstance(reference, str):
        raise Unprocessable("templateReference must be a template id",
                            pointer="/data/attributes/templateReference")
    try:
        template = _org_template(principal, org, reference)
    except NotFound:
        raise Unprocessable(f"template {reference} not found in {org}",
                            pointer="/data/attributes/templateReference") from None
    return template.tcl, reference


def create(principal: Principal, workspace_id: str, attrs: dict, related_workspace: str | None) -> Job:
    principal.require_user_or_team("create jobs")
    ws = workspaces.get(principal, workspace_id)
    if related_workspace not in (None, ws.id):
        raise Unprocessable("the workspace relationship must be the workspace of the path",
                            pointer="/data/relationships/workspace")
    tcl, reference = _flow_source(principal, ws.org, attrs)
    flow = parse_tcl(tcl)
    # the workspace's latest code: an upload still being validated is waited for (as for runs)
    cv_id = configuration_versions.latest_for_runs(ws)
    if not cv_id:
        raise Unprocessable("the workspace has no uploaded configuration version (its code)",
                            pointer="/data/relationships/workspace")
    comments = attrs.get("comments")
    stamp = now_iso()

    def build(seq: int, org_seq: int) -> Job:
        return Job(id=new_id("job"), workspace_id=ws.id, org=ws.org, cv_id=cv_id,
                   seq=seq, org_seq=org_seq, created_at=stamp, updated_at=stamp,
                   steps=[Step.of(str(uuid.uuid4()), s) for s in flow], tcl=tcl,
                   template_reference=reference, created_by=principal.user_id,
                   comments=comments if isinstance(comments, str) else None)
    job = store.insert(ws, identity.get_org(principal, ws.org), build)
    queue.schedule(ws.id)
    return store.find(job.id) or job


def create_in_org(principal: Principal, org: str, attrs: dict, workspace_id: str | None) -> Job:
    """Terrakube's organization-scoped creation: the workspace is a relationship, and must be
    one of the organization's."""
    if not workspace_id:
        raise Unprocessable("the workspace relationship is required", pointer="/data/relationships/workspace")
    if workspaces.get(principal, workspace_id).org != org:
        raise Unprocessable(f"workspace {workspace_id} is not in organization {org}",
                            pointer="/data/relationships/workspace")
    return create(principal, workspace_id, attrs, workspace_id)


# -- changing ---------------------------------------------------------------------------------------

def mutate(job_id: str, change: Callable[[Job], object], *, attempts: int = 8):
    """Load, apply a domain change, save on the version read; a concurrent write means reload
    and decide again. Domain refusals (Conflict from the change itself) propagate."""
    read: dict[str, JobStatus] = {}

    def load():
        job = store.find(job_id)
        if job is not None:
            read["status"] = job.status     # the status the change starts from
        return job
    return base.retry_change(f"job {job_id}", load, lambda job, _: store.save(job, read["status"]),
                             change, attempts=attempts)


def start(job_id: str) -> bool | None:
    """The job got its workspace: start its flow. False if it cannot (cancelled, its version
    rejected); None while its version is validated (the queue waits: on_cv_processed)."""
    job = store.find(job_id)
    cv = cv_store.find(job.cv_id) if job is not None else None
    if cv is not None and cv.in_progress:
        return None
    if cv is not None and cv.status == CVStatus.ERRORED:
        end_with(job_id, lambda j: j.end(JobStatus.FAILED, now_iso()),
                 f"configuration version {cv.id} errored: {cv.error_message or ''}")
        return False
    try:
        job, _ = mutate(job_id, lambda j: j.queue(now_iso()))
    except (Conflict, NotFound):
        return False
    try:
        executions.start_flow(flow_arn(job), job.id, {
            "job_id": job.id, "step_timeout_seconds": executions.task_timeout_seconds(),
            "approval_timeout_seconds": settings().confirm_timeout_seconds})
    except Exception as exc:  # noqa: BLE001 - a flow that cannot start fails the job, visibly
        log.exception("job %s: the flow did not start", job.id)
        end_with(job.id, lambda j: j.end(JobStatus.FAILED, now_iso()), f"the flow did not start: {exc}")
    return True


def on_cv_processed(cv) -> None:  # a job waiting for it is the oldest of its queue
    queue.schedule(cv.workspace_id)


def flow_arn(job: Job) -> str:
    definition = compile_flow([s.flow_step() for s in job.steps],
                              steps_queue=queues.url("job-steps"),
                              events_queue=queues.url("job-events"))
    return executions.ensure_flow(definition_name(definition, settings().prefix), definition)


def end_with(job_id: str, change: Callable[[Job], object], note: str | None = None) -> Job | None:
    """A final move, then the workspace is handed on. None if the job had already ended."""
    try:
        job, _ = mutate(job_id, change)
    except Conflict:
        return None
    if note:
        log.warning("job %s ended %s: %s", job_id, job.status.value, note)
    finished(job)
    return job


def finished(job: Job) -> None:
    """After any final status: free the workspace (the next run or job starts); a job deleted
    while its step was running is removed now."""
    queue.release_and_schedule(job.workspace_id, job.id)
    if job.delete_requested:
        _remove(job.id)


def update(principal: Principal, workspace_id: str, job_id: str, attrs: dict) -> Job:
    """PATCH: `status` approved / rejected answers the approval the flow waits on; cancelled
    cancels; `comments` may change any time. One request is one conditional write: the comment
    is saved with the status change, or not at all."""
    principal.require_user_or_team("update jobs")
    get(principal, workspace_id, job_id)
    status = attrs.get("status")
    if status not in (None, JobStatus.APPROVED.value, JobStatus.REJECTED.value, JobStatus.CANCELLED.value):
        raise Unprocessable("status can be set to approved, rejected or cancelled",
                            pointer="/data/attributes/status")
    comments = attrs.get("comments")
    if comments is not None and not isinstance(comments, str):
        raise Unprocessable("comments must be a string", pointer="/data/attributes/comments")

    def with_comment(change):
        def apply(j: Job):
            if "comments" in attrs:
                j.comments = comments
            return change(j)
        return apply
    if status is None:
        mutate(job_id, with_comment(lambda j: None))
    elif status == JobStatus.APPROVED.value:
        job, token = mutate(job_id, with_comment(lambda j: j.approve(now_iso(), principal.user_id)))
        executions.succeed(token, Outcome.APPROVED.answer())
    elif status == JobStatus.REJECTED.value:
        job, token = mutate(job_id, with_comment(lambda j: j.reject(now_iso(), principal.user_id)))
        executions.succeed(token, Outcome.STOP.answer())
        finished(job)
    else:
        cancel(job_id, before=with_comment(lambda j: None))
    return store.find(job_id)


def cancel(job_id: str, *, before=None) -> Job:
    """Nothing running: the job ends now and its execution finishes (an approval's token is
    answered "stop"; a queued step's execution is stopped). A running step: the worker sees
    the request, interrupts terraform or the script (SIGINT) and records the cancellation.
    `before`: more of the same request's change, saved in the same write."""
    def request(j: Job):
        if before is not None:
            before(j)
        token, started = j.approval_token, j.status != JobStatus.PENDING
        return j.request_cancel(now_iso()), token, started
    job, (ended, token, started) = mutate(job_id, request)
    if ended:
        if token:
            executions.succeed(token, Outcome.STOP.answer())
        elif started:
            executions.stop_flow(flow_arn(job), job.id, "cancelled")
        finished(job)
    return job


def delete(principal: Principal, workspace_id: str, job_id: str) -> None:
    """A finished job is removed at once; an active one is cancelled first, and if a step is
    still running it is removed when its worker has recorded the cancellation."""
    principal.require_user_or_team("delete jobs")
    job = get(principal, workspace_id, job_id)
    if not job.is_final:
        try:
            job = cancel(job_id)
        except Conflict:
            job = store.find(job_id) or job      # a cancel is already under way
    if not job.is_final:
        job, _ = mutate(job_id, lambda j: j.request_delete())
    if job.is_final:
        _remove(job_id)


def _remove(job_id: str) -> None:
    for _ in range(5):
        job = store.find(job_id)
        if job is None:
            return
        try:
            store.delete(job)
            return
        except Conflict:
            continue


# -- what the flow and the workers report -----------------------------------------------------------

def on_awaiting_approval(job_id: str, index: int, token: str) -> None:
    try:
        mutate(job_id, lambda j: j.await_approval(index, token, now_iso()))
    except Conflict:
        # cancelled (or otherwise ended) before the approval was reached: end the execution
        executions.succeed(token, Outcome.STOP.answer())
    except NotFound:
        executions.succeed(token, Outcome.STOP.answer())


def on_flow_ended(job_id: str, outcome: str) -> None:
    status = {Outcome.COMPLETED.value: JobStatus.COMPLETED, Outcome.NO_CHANGES.value: JobStatus.NO_CHANGES,
              Outcome.FAILED.value: JobStatus.FAILED}.get(outcome, JobStatus.FAILED)
    end_with(job_id, lambda j: j.end(status, now_iso()))


def on_flow_failed(job_id: str, error: str, cause: str) -> None:
    reason = {"States.Timeout": "the step waited for a worker or ran longer than allowed",
              WORKER_LOST: "the worker stopped sending heartbeats"}.get(error, error)
    end_with(job_id, lambda j: j.end(JobStatus.FAILED, now_iso()), f"{reason} ({cause})")


def on_dead_letter(job_id: str, token: str | None) -> None:
    end_with(job_id, lambda j: j.end(JobStatus.FAILED, now_iso()),
         "a step task failed repeatedly and was moved to the dead-letter queue")
    if token:
        executions.fail(token, "DeadLetter", "job step task moved to the dead-letter queue")


# -- output ---------------------------------------------------------------------------------------

def step_output(step: Step) -> str:
    """A step's captured output: terraform's and its scripts' (live while it runs, from S3 once
    it has ended); an approval says who answered it."""
    if step.type == "approval":
        if step.status == StepStatus.COMPLETED:
            return f"Approved by {step.approved_by or 'unknown'} at {step.finished_at}\n"
        if step.status == StepStatus.REJECTED:
            return f"Rejected by {step.approved_by or 'unknown'} at {step.finished_at}\n"
        if step.status == StepStatus.WAITING_APPROVAL:
            return f"Waiting for approval{f' by team {step.team}' if step.team else ''}\n"
        return ""
    if step.started_at is None:
        return ""
    running = step.status == StepStatus.RUNNING
    try:
        text = logs.read(step.id, archived=not running, finished=not running)
    except Exception:  # noqa: BLE001 - a step lost with its worker has no archived log
        text = logs.read(step.id, archived=False, finished=True)
    return text.strip(logs.STX + logs.ETX)


def job_output(job: Job) -> str:
    return "".join(f"==> Step {s.number} ({s.type}) {s.name}: {s.status.value}\n{step_output(s)}"
                   for s in job.steps if s.started_at or s.status != StepStatus.PENDING
                   and s.status != StepStatus.NOT_EXECUTED)
