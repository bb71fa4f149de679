"""The privileged side of a Terrakube job step executed by a runner: its work description,
what the runner API serves and stores for it, and the recording of the step's result.
(disableWorkspace needs no runner: workers/jobs.py does it on the privileged side.)"""
from __future__ import annotations

import logging
import time

from ..aws import blobs, executions
from ..config import settings
from ..domain.clock import now_iso
from ..domain.errors import Conflict, Forbidden, NotFound
from ..domain.jobs import PLAN_STEPS, Job, Step, StepStatus
from ..domain.leases import Lease
from ..domain.outcomes import OUT_OF_TIME, Outcome
from ..runner import output
from ..runner.phases import PLAN_FILE
from ..storage import configuration_versions as cv_store
from ..storage import jobs as job_store
from ..storage import keys
from ..storage import workspaces as workspace_store
from . import (configuration_versions, jobs, logs, phase_leases, phase_variables, sealing,
               state_versions)

log = logging.getLogger(__name__)
APPLY_STEPS = frozenset({"terraformApply", "terraformDestroy"})


def work(job: Job, step: Step, lease: Lease) -> dict:
    ws = workspace_store.find(job.workspace_id)
    if ws is None:
        raise NotFound(f"workspace {job.workspace_id} no longer exists")
    flow_step = step.flow_step()
    scripts = {when: [c.to_dict() for c in flow_step.commands_when(when)]
               for when in ("before", "after", "all")}
    if step.type in PLAN_STEPS:
        operation = "plan"
        args = ["plan", "-input=false", "-no-color", f"-out={PLAN_FILE}", "-detailed-exitcode"]
        if step.type == "terraformPlanDestroy":
            args.append("-destroy")
        plan_args: list[str] = []
    elif step.type == "terraformDestroy":
        operation, args, plan_args = "apply", ["destroy", "-input=false", "-no-color", "-auto-approve"], []
    elif step.type == "terraformApply":
        operation, args = "apply", ["apply", "-input=false", "-no-color", "-auto-approve"]
        plan_args = [*args, PLAN_FILE]      # with the plan of the job's plan step, if there is one
    else:
        operation, args, plan_args = "scripts", [], []
    s = settings()
    return {
        "kind": "job", "subject_id": job.id, "phase_id": step.id, "engine": ws.engine,
        "credential": phase_leases.credential("job", job.id, step.id, lease),
        "operation": operation, "args": args, "plan_args": plan_args, "plan_json": False,
        "working_directory": ws.working_directory or "",
        "env": dict(step.env), "scripts": scripts,
        "heartbeat_seconds": s.heartbeat_seconds, "cancel_grace_seconds": s.cancel_grace_seconds,
        "time_limit_seconds": s.runner_time_limit_seconds,
        "max_unpacked_bytes": s.max_unpacked_bytes, "max_files": s.max_archive_files,
    }


# -- the runner API ------------------------------------------------------------------------------

def resolve(claim: phase_leases.Claim) -> tuple[Job, Step]:
    job = job_store.find(claim.subject_id)
    step = None if job is None else next((s for s in job.steps if s.id == claim.phase_id), None)
    if job is None or step is None:
        raise NotFound(f"phase {claim.phase_id} not found")
    phase_leases.check(step.lease, claim)
    return job, step


def configuration(job: Job, step: Step) -> bytes:
    return configuration_versions.read_archive(cv_store.load(job.cv_id)).read()


def state(job: Job, step: Step) -> bytes | None:
    ws = workspace_store.find(job.workspace_id)
    return state_versions.current_state_bytes(ws) if ws else None


def variables(job: Job, step: Step) -> dict:
    """Resolved when the job's first step starts; later steps use the same."""
    ws = workspace_store.find(job.workspace_id)
    if ws is None:
        raise NotFound(f"workspace {job.workspace_id} no longer exists")
    snapshot = phase_variables.fixed_or_fix(job.id, ws, [], start=step.id == job.steps[0].id)
    return phase_variables.open_for_runner(snapshot)


def saved_plan(job: Job, step: Step) -> bytes | None:
    if step.type != "terraformApply":
        raise Forbidden(f"a {step.type} step cannot read a saved plan")
    if blobs.head(keys.job_plan(job.id)) is None:
        return None
    return sealing.open_blob(blobs.read(keys.job_plan(job.id)), job.id)


def store_plan(job: Job, step: Step, data: bytes) -> None:
    """Sealed: a saved plan holds every variable's value."""
    if step.type not in PLAN_STEPS:
        raise Forbidden(f"a {step.type} step cannot store a plan")
    blobs.put(keys.job_plan(job.id), sealing.seal_blob(data, job.id))


def store_state(job: Job, step: Step, data: bytes) -> str:
    if step.type not in APPLY_STEPS:
        raise Forbidden(f"a {step.type} step cannot store state")
    ws = workspace_store.find(job.workspace_id)
    if ws is None:
        raise NotFound(f"workspace {job.workspace_id} no longer exists")
    return state_versions.store_state(ws, data, run_id=None, created_by=job.created_by).id


def heartbeat(job: Job, step: Step) -> bool:
    """Renews the step's lease (see run_phases.heartbeat)."""
    lease_id, period = step.lease.id, settings().heartbeat_seconds

    def renew(j: Job):
        lease = next((s.lease for s in j.steps if s.id == step.id), None)
        return lease is not None and lease.renewed(lease_id, time.time(), period)
    try:
        _, kept = jobs.mutate(job.id, renew)
    except (Conflict, NotFound):
        return False
    return bool(kept)


def signal(job: Job, step: Step) -> str | None:
    return "canceled" if job.cancel_requested_at else None


def close(job: Job, step: Step) -> None:
    _close_lease(job.id, step.id, step.lease.id)


def _close_lease(job_id: str, step_id: str, lease_id: str) -> None:
    def close(j: Job):
        step = next(s for s in j.steps if s.id == step_id)
        if step.lease and step.lease.id == lease_id:
            step.lease.closed = True
    try:
        jobs.mutate(job_id, close)
    except (Conflict, NotFound, StopIteration):
        pass


# -- outcomes ------------------------------------------------------------------------------------

def report(job: Job, step: Step, facts: dict) -> dict:
    token = step.lease.task_token
    index = job.steps.index(step)
    interrupted = facts.get("interrupted")
    if interrupted is None and step.status != StepStatus.RUNNING:
        raise Conflict(f"step {step.number} of job {job.id} has already been reported")
    if interrupted == "lost":
        logs.archive(step.id, "\nThe step's task was abandoned by the flow (heartbeat lost).\n")
        return {"recorded": True}       # the flow caught the timeout and fails the job there
    if interrupted in ("canceled", "force_canceled"):
        logs.archive(step.id, "\nThe job was cancelled.\n")
        try:
            done, _ = jobs.mutate(job.id, lambda j: j.cancel_running_step(index, now_iso()))
            jobs.finished(done)
        except (Conflict, NotFound):
            pass
        executions.succeed(token, Outcome.STOP.answer())
        return {"recorded": True}
    ok = bool(facts.get("ok"))
    code = facts.get("exit_code")
    text = logs.archive(step.id)
    status = StepStatus.COMPLETED if ok else StepStatus.FAILED
    error = None if ok else (output.error_summary(text) or facts.get("error"))
    if interrupted == "out_of_time":
        error = OUT_OF_TIME.format(what="step")
    has_changes = (code == 2) if step.type in PLAN_STEPS and ok else None
    outcome = Outcome.FAILED
    if ok:
        outcome = (Outcome.DONE if code == 2 else Outcome.NO_CHANGES) if step.type in PLAN_STEPS \
            else Outcome.DONE
    _record(job.id, index, status, error, has_changes, outcome, token)
    _close_lease(job.id, step.id, step.lease.id)     # nothing follows a step's outcome
    return {"recorded": True}


def _record(job_id: str, index: int, status: StepStatus, error: str | None,
            has_changes: bool | None, outcome: Outcome, token: str) -> None:
    try:
        done, _ = jobs.mutate(job_id, lambda j: j.finish_step(
            index, now_iso(), status, error=error, has_changes=has_changes))
    except (Conflict, NotFound):
        executions.succeed(token, Outcome.STOP.answer())   # the job ended meanwhile
        return
    if done.is_final:       # a cancel arrived as the step ended
        executions.succeed(token, Outcome.STOP.answer())
        jobs.finished(done)
        return
    executions.succeed(token, outcome.answer())


def runner_gone(job_id: str, step_id: str, lease_id: str) -> None:
    job = job_store.find(job_id)
    step = None if job is None else next((s for s in job.steps if s.id == step_id), None)
    if job is None or step is None or step.lease is None or step.lease.id != lease_id:
        return
    if step.status == StepStatus.RUNNING:
        log.warning("the runner of job %s step %d exited without reporting", job_id, step.number)
        logs.archive(step.id, "\nThe runner exited without reporting an outcome.\n")
        _record(job_id, job.steps.index(step), StepStatus.FAILED,
                "the runner exited without reporting an outcome", None, Outcome.FAILED,
                step.lease.task_token)
    _close_lease(job_id, step_id, lease_id)
