"""Terrakube job steps handed out by a job's flow execution, and the flow's events.

A step message carries the job id, the step's index and a task token. The worker claims the
step with a conditional write (a duplicate delivery finds it claimed and does nothing), runs it
in the same sandbox as runs (scrubbed environment, terraform in its own process group),
heartbeats, watches for a cancel request, records the step's status and output, and answers
the token with the Outcome the flow branches on: done, noChanges, failed or stop."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..aws import blobs, executions
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound
from ..domain.jobs import Job, Step, StepStatus
from ..domain.outcomes import Outcome
from ..runner import output, sandbox, terraform
from ..runner.sandbox import Monitor
from ..services import jobs, logs
from ..storage import jobs as job_store
from ..storage import keys
from ..storage import workspaces as workspace_store
from .batch import dead_letter, sqs_handler

log = logging.getLogger(__name__)
BASH = "/bin/bash"


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
    with sandbox.Heartbeat(token) as beat:
        try:
            job, step = jobs.mutate(job_id, lambda j: j.start_step(index, now_iso(),
                                                                   sandbox.worker_name()))
        except (Conflict, NotFound):
            latest = job_store.find(job_id)
            if latest is None or latest.is_final:
                executions.succeed(token, Outcome.STOP.answer())
            return
        _run_claimed(job, step, index, token, beat)


def _run_claimed(job: Job, step: Step, index: int, token: str, beat: sandbox.Heartbeat) -> None:
    writer = logs.LogWriter(step.id)
    # a job has no force-cancel: one that is gone (deleted) stops its step at once
    monitor = Monitor(beat, sandbox.cancel_probe(lambda: job_store.find(job.id), lambda j: False))
    has_changes = None
    with sandbox.fresh_workdir("jobs", f"{job.id}-{step.number}") as workdir:
        try:
            status, outcome, has_changes = STEP_RUNNERS[step.type](job, step, workdir, writer, monitor)
            error = None if status == StepStatus.COMPLETED else output.error_summary(writer.text())
        except Exception as exc:  # noqa: BLE001 - any failure of the step fails the step
            log.exception("job %s step %d failed", job.id, step.number)
            writer.write(f"\nError: {exc}\n")
            status, outcome, error = StepStatus.FAILED, Outcome.FAILED, str(exc)
    if monitor.outcome == "lost":
        writer.write("\nThe step's task was abandoned by the flow (heartbeat lost).\n")
        writer.archive()
        return      # the flow caught the timeout and reports it: the job fails there
    if monitor.outcome in ("canceled", "force_canceled"):
        writer.write("\nThe job was cancelled.\n")
        writer.archive()
        try:
            done, _ = jobs.mutate(job.id, lambda j: j.cancel_running_step(index, now_iso()))
            jobs.finished(done)
        except (Conflict, NotFound):
            pass
        executions.succeed(token, Outcome.STOP.answer())
        return
    writer.archive()
    try:
        done, _ = jobs.mutate(job.id, lambda j: j.finish_step(
            index, now_iso(), status, error=error, has_changes=has_changes))
    except (Conflict, NotFound):
        executions.succeed(token, Outcome.STOP.answer())   # the job ended meanwhile
        return
    if done.is_final:       # a cancel arrived as the step ended
        executions.succeed(token, Outcome.STOP.answer())
        jobs.finished(done)
        return
    executions.succeed(token, (outcome if status == StepStatus.COMPLETED else Outcome.FAILED).answer())


# -- step types ----------------------------------------------------------------------------------------

def _scripts(step: Step, when: str, cwd: Path, writer: logs.LogWriter, monitor: Monitor) -> bool:
    """The step's BASH commands for `when` ("before", "after", or all of a customScripts
    step), in priority order; False at the first that fails."""
    env = terraform.script_env(cwd, {**step.env, "workingDirectory": str(cwd)})
    for command in step.flow_step().commands_when(when):
        writer.write(f"\nRunning {command.runtime} command (priority {command.priority})\n")
        code = sandbox.run(["-c", command.script], cwd, writer, monitor, program=BASH, env=env)
        if monitor.outcome is not None:
            return False
        if code != 0:
            writer.write(f"Error: the command exited with status {code}\n")
            return False
    return True


def _workdir(job: Job, step: Step, workdir: Path, writer: logs.LogWriter) -> Path:
    return sandbox.prepare_workdir(job.cv_id, job.workspace_id, [], workdir, writer)


def _terraform_env(step: Step, cwd: Path) -> dict | None:
    return terraform.script_env(cwd, step.env) if step.env else None


FAILED = (StepStatus.FAILED, Outcome.FAILED, None)


def _ready(job: Job, step: Step, workdir: Path, writer: logs.LogWriter, monitor: Monitor) -> Path | None:
    """A terraform step's directory, its `before` scripts run and terraform initialised; None
    if a script failed or the monitor interrupted (_run_claimed records what it saw)."""
    cwd = _workdir(job, step, workdir, writer)
    if not _scripts(step, "before", cwd, writer, monitor) or not sandbox.init(cwd, writer, monitor):
        return None
    return cwd


def _plan(job: Job, step: Step, workdir: Path, writer: logs.LogWriter, monitor: Monitor):
    cwd = _ready(job, step, workdir, writer, monitor)
    if cwd is None:
        return FAILED
    args = ["plan", "-input=false", "-no-color", f"-out={keys.PLAN_FILE}", "-detailed-exitcode"]
    if step.type == "terraformPlanDestroy":
        args.append("-destroy")
    code = sandbox.run(args, cwd, writer, monitor, env=_terraform_env(step, cwd))
    if monitor.outcome is not None or code not in (0, 2):
        return FAILED
    blobs.put(keys.job_plan(job.id), (cwd / keys.PLAN_FILE).read_bytes())
    if not _scripts(step, "after", cwd, writer, monitor):
        return FAILED
    return StepStatus.COMPLETED, Outcome.DONE if code == 2 else Outcome.NO_CHANGES, code == 2


def _apply(job: Job, step: Step, workdir: Path, writer: logs.LogWriter, monitor: Monitor):
    cwd = _ready(job, step, workdir, writer, monitor)
    if cwd is None:
        return FAILED
    before = sandbox.state_bytes(cwd)
    if step.type == "terraformDestroy":
        args = ["destroy", "-input=false", "-no-color", "-auto-approve"]
    elif blobs.head(keys.job_plan(job.id)) is not None:
        (cwd / keys.PLAN_FILE).write_bytes(blobs.read(keys.job_plan(job.id)))
        args = ["apply", "-input=false", "-no-color", "-auto-approve", keys.PLAN_FILE]
    else:
        args = ["apply", "-input=false", "-no-color", "-auto-approve"]
    code = sandbox.run(args, cwd, writer, monitor, env=_terraform_env(step, cwd))
    # a failed or interrupted apply may still have changed real resources: keep its state
    sandbox.capture_state(job.workspace_id, cwd, before, run_id=None, created_by=job.created_by)
    if monitor.outcome is not None or code != 0:
        return FAILED
    if not _scripts(step, "after", cwd, writer, monitor):
        return FAILED
    return StepStatus.COMPLETED, Outcome.DONE, None


def _custom_scripts(job: Job, step: Step, workdir: Path, writer: logs.LogWriter, monitor: Monitor):
    cwd = _workdir(job, step, workdir, writer)
    ok = _scripts(step, "all", cwd, writer, monitor)
    return (StepStatus.COMPLETED, Outcome.DONE, None) if ok else FAILED


def _disable_workspace(job: Job, step: Step, workdir: Path, writer: logs.LogWriter,
                       monitor: Monitor):
    """Terrakube's disableWorkspace: the workspace is locked, so nothing runs on it until
    someone unlocks it."""
    try:
        workspace_store.lock(job.workspace_id, job.id, f"disabled by job {job.id}")
        writer.write(f"Workspace {job.workspace_id} disabled (locked by {job.id}).\n")
    except Conflict:
        writer.write(f"Workspace {job.workspace_id} was already locked.\n")
    return StepStatus.COMPLETED, Outcome.DONE, None


STEP_RUNNERS = {"terraformPlan": _plan, "terraformPlanDestroy": _plan, "terraformApply": _apply,
             "terraformDestroy": _apply, "customScripts": _custom_scripts,
             "disableWorkspace": _disable_workspace}


handle_steps = sqs_handler(_step_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
