"""Terrakube job steps handed out by a job's flow execution, and the flow's events.

A step message carries the job id, the step's index and a task token. The worker claims the
step with a conditional write (a duplicate delivery finds it claimed and does nothing) and
hands it to a runner (chalicelib/executor), as runs do; the runner reports over the runner API
and services/job_phases.py records the step and answers the token with the Outcome the flow
branches on: done, noChanges, failed or stop."""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from .. import executor
from ..aws import executions
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound
from ..domain.jobs import Job, Step, StepStatus
from ..domain.outcomes import Outcome
from ..services import job_phases, jobs, logs, phase_leases
from ..storage import jobs as job_store
from ..storage import workspaces as workspace_store
from .batch import dead_letter, sqs_handler, worker_name

if TYPE_CHECKING:   # annotations only: Powertools' data classes cost ~110 ms to import
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

log = logging.getLogger(__name__)


# -- entry points -------------------------------------------------------------------------------------

def _step_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    run_step(message["job_id"], int(message["step"]), message["task_token"])


def _event_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    event = message.get("event")
    if event == "awaiting_approval":
        jobs.on_awaiting_approval(message["job_id"], int(message["step"]), message["task_token"])
    elif event == "flow_ended":
        jobs.on_flow_ended(message["job_id"], str(message.get("outcome")))
    elif event == "flow_failed":
        jobs.on_flow_failed(message["job_id"], str(message.get("error") or "failed"),
                            str(message.get("cause") or ""))


def _dead_letter_record(record: SQSRecord) -> None:
    message = dead_letter(record, "job_id")
    if message:
        jobs.on_dead_letter(message["job_id"], message.get("task_token"))


# -- a step --------------------------------------------------------------------------------------------

def run_step(job_id: str, index: int, token: str) -> None:
    job = job_store.find(job_id)
    if job is None or job.is_final:
        executions.succeed(token, Outcome.STOP.answer())   # ended while the step was queued
        return
    if job.step(index).status != StepStatus.PENDING:
        log.info("job %s step %d is %s: already handled", job_id, index, job.steps[index].status.value)
        return
    lease = phase_leases.grant(token)

    def claim(j: Job) -> Step:
        step = j.start_step(index, now_iso(), worker_name())
        step.lease = lease
        return step
    try:
        job, step = jobs.mutate(job_id, claim)
    except (Conflict, NotFound):
        latest = job_store.find(job_id)
        if latest is None or latest.is_final:
            executions.succeed(token, Outcome.STOP.answer())
        return
    if step.type == "disableWorkspace":
        _disable_workspace(job, step, index, token)
        return
    try:
        finished = executor.execute(job_phases.work(job, step, lease), "jobs",
                                    f"{job.id}-{step.number}")
    except Exception as exc:  # noqa: BLE001 - a runner that cannot start fails its step
        log.exception("the runner of job %s step %d could not start", job.id, step.number)
        finished = True
        logs.archive(step.id, f"\nError: the runner could not start: {exc}\n")
    if finished:
        job_phases.runner_gone(job.id, step.id, lease.id)


def _disable_workspace(job: Job, step: Step, index: int, token: str) -> None:
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


handle_steps = sqs_handler(_step_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
