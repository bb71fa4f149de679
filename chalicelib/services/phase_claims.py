"""Claiming a queued phase — a run's plan or apply, a Terrakube job's step — for whoever runs
it: a worker (workers/) or an agent (services/agents.py). The claim is a conditional write
(a duplicate delivery, or a second agent, finds the phase claimed and does nothing); it grants
the lease whose credential the runner gets, and the work description the runner is given.

A phase of an agent-mode workspace is not claimed by the worker that receives its task: it
waits in its pool's queue (agents.offer) and is claimed when an agent takes it."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ..aws import executions
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound
from ..domain.jobs import Job, Step, StepStatus
from ..domain.outcomes import Outcome
from ..domain.runs import Run, RunStatus
from ..storage import jobs as job_store
from ..storage import runs as run_store
from ..storage import workspaces as workspace_store
from . import job_phases, jobs, logs, phase_leases, run_phases, runs

log = logging.getLogger(__name__)


@dataclass
class Claimed:
    kind: str           # run | job
    subject_id: str
    phase_id: str
    lease_id: str
    work: dict          # what the runner is told (services/run_phases.work, job_phases.work)
    workdir: tuple[str, str]     # the executor's working directory: (runs|jobs, name)

    def settle(self) -> None:
        """Its runner has exited: a phase it never reported on is errored, its lease closed."""
        (run_phases if self.kind == "run" else job_phases).runner_gone(
            self.subject_id, self.phase_id, self.lease_id)


def agent_pool_of(workspace_id: str) -> str | None:
    """The pool whose agents run the workspace's phases (execution mode agent), else None."""
    ws = workspace_store.find(workspace_id)
    return ws.agent_pool_id if ws is not None and ws.execution_mode == "agent" else None


def waiting_run(run_id: str, phase: str, token: str) -> Run | None:
    """The run if its phase still waits to be claimed; a run that ended while its phase was
    queued has its task answered here."""
    run = run_store.find(run_id)
    if run is None or run.is_final:
        executions.succeed(token, Outcome.FINISHED.answer())   # canceled while queued: end it
        return None
    queued = RunStatus.PLAN_QUEUED if phase == "plan" else RunStatus.APPLY_QUEUED
    if run.status != queued:
        log.info("run %s is %s: %s task already handled", run_id, run.status.value, phase)
        return None
    return run


def claim_run_phase(run_id: str, phase: str, token: str, worker: str) -> Claimed | None:
    if waiting_run(run_id, phase, token) is None:
        return None
    lease = phase_leases.grant(token)

    def claim(r: Run):
        move = (r.start_planning if phase == "plan" else r.start_applying)(now_iso())
        held = r.plan if phase == "plan" else r.apply
        held.lease, held.worker = lease, worker
        return move
    try:
        run, _ = runs.mutate(run_id, claim)
    except Conflict:
        return None     # another delivery claimed it first
    phase_obj = run.plan if phase == "plan" else run.apply
    claimed = Claimed("run", run.id, phase_obj.id, lease.id, {}, ("runs", f"{run_id}-{phase}"))
    try:
        claimed.work = run_phases.work(run, phase_obj, lease)
    except Exception as exc:  # noqa: BLE001 - a phase whose work cannot be described errors
        _could_not_start(claimed, exc)
        return None
    return claimed


def waiting_job(job_id: str, index: int, token: str) -> Job | None:
    job = job_store.find(job_id)
    if job is None or job.is_final:
        executions.succeed(token, Outcome.STOP.answer())   # ended while the step was queued
        return None
    if job.step(index).status != StepStatus.PENDING:
        log.info("job %s step %d is %s: already handled", job_id, index, job.steps[index].status.value)
        return None
    return job


def claim_job_step(job_id: str, index: int, token: str, worker: str) -> Claimed | None:
    """None also when the step needs no runner (disableWorkspace: done here)."""
    if waiting_job(job_id, index, token) is None:
        return None
    lease = phase_leases.grant(token)

    def claim(j: Job) -> Step:
        step = j.start_step(index, now_iso(), worker)
        step.lease = lease
        return step
    try:
        job, step = jobs.mutate(job_id, claim)
    except (Conflict, NotFound):
        latest = job_store.find(job_id)
        if latest is None or latest.is_final:
            executions.succeed(token, Outcome.STOP.answer())
        return None
    if step.type == "disableWorkspace":
        _disable_workspace(job, step)
        return None
    claimed = Claimed("job", job.id, step.id, lease.id, {}, ("jobs", f"{job.id}-{step.number}"))
    try:
        claimed.work = job_phases.work(job, step, lease)
    except Exception as exc:  # noqa: BLE001
        _could_not_start(claimed, exc)
        return None
    return claimed


def _could_not_start(claimed: Claimed, exc: Exception) -> None:
    log.exception("the runner of %s could not start", claimed.phase_id)
    logs.archive(claimed.phase_id, f"\nError: the runner could not start: {exc}\n")
    claimed.settle()


def could_not_start(claimed: Claimed, exc: Exception) -> None:
    """The executor failed to start the runner: the phase errors with the reason in its log."""
    _could_not_start(claimed, exc)


def _disable_workspace(job: Job, step: Step) -> None:
    """Terrakube's disableWorkspace: the workspace is locked, so nothing runs on it until
    someone unlocks it. Privileged work: no runner."""
    try:
        workspace_store.lock(job.workspace_id, job.id, f"disabled by job {job.id}")
        note = f"Workspace {job.workspace_id} disabled (locked by {job.id}).\n"
    except Conflict:
        note = f"Workspace {job.workspace_id} was already locked.\n"
    logs.append(step.id, 1, note)
    job_phases.report(job, step, {"ok": True, "exit_code": None, "interrupted": None})
    job_phases.runner_gone(job.id, step.id, step.lease.id if step.lease else "")
