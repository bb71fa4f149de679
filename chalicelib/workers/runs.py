"""Plan and apply tasks handed out by the run state machine, and its events.

A task message carries the run id and a task token. The worker claims the phase with a
conditional write (a duplicate or redelivered message finds the phase already claimed or over
and does nothing), runs terraform in the sandbox (chalicelib/runner), records the outcome
through the domain, and completes the token with the Outcome the state machine branches on."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..aws import blobs, executions
from ..domain.clock import now_iso
from ..domain.errors import Conflict
from ..domain.outcomes import Outcome
from ..domain.runs import Run, RunStatus
from ..runner import output, sandbox, terraform
from ..runner.sandbox import Monitor
from ..services import logs, runs
from ..storage import keys
from ..storage import runs as run_store
from .batch import dead_letter, sqs_handler

log = logging.getLogger(__name__)


def warm() -> None:
    """A worker container's init phase (as Lambda runs module code before the first event):
    create the AWS clients and learn the terraform binary, so the first run does not pay."""
    from ..aws.clients import client  # lazy: only a worker container warms up
    for service in ("s3", "sqs", "stepfunctions", "sts", "dynamodb"):
        client(service)
    terraform.binary_version()
    terraform.cli_config()
    run_store.find("run-warmup")     # opens the table's connection


# -- entry points (one per queue; app.py wires them) -----------------------------------------------

def _task_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    run_task(message["run_id"], message["phase"], message["task_token"])


def _event_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    if message.get("event") == "awaiting_confirmation":
        runs.on_awaiting_confirmation(message["run_id"], message["task_token"])
    elif message.get("event") == "failed":
        runs.on_phase_failed(message["run_id"], str(message.get("error") or "failed"),
                             str(message.get("cause") or ""))


def _dead_letter_record(record: SQSRecord) -> None:
    message = dead_letter(record, "run_id")
    if message:
        runs.on_dead_letter(message["run_id"], message.get("task_token"),
                            message.get("phase", "run"))


# -- a phase -------------------------------------------------------------------------------------

def run_task(run_id: str, phase: str, token: str) -> None:
    run = run_store.find(run_id)
    if run is None or run.is_final:
        executions.succeed(token, Outcome.FINISHED.answer())   # canceled while queued: end it
        return
    queued = RunStatus.PLAN_QUEUED if phase == "plan" else RunStatus.APPLY_QUEUED
    if run.status != queued:
        log.info("run %s is %s: %s task already handled", run_id, run.status.value, phase)
        return
    with sandbox.Heartbeat(token) as beat:
        _run_claimed(run_id, phase, token, beat)


def _run_claimed(run_id: str, phase: str, token: str, beat: sandbox.Heartbeat) -> None:
    def claim(r: Run):
        r.worker = sandbox.worker_name()
        return (r.start_planning if phase == "plan" else r.start_applying)(now_iso())
    try:
        run, _ = runs.mutate(run_id, claim)
    except Conflict:
        return      # another delivery claimed it first
    phase_obj = run.plan if phase == "plan" else run.apply
    writer = logs.LogWriter(phase_obj.id)
    monitor = Monitor(beat, sandbox.cancel_probe(lambda: run_store.find(run_id),
                                                 lambda r: r.status == RunStatus.FORCE_CANCELED))
    with sandbox.fresh_workdir("runs", f"{run_id}-{phase}") as workdir:
        try:
            (_plan if phase == "plan" else _apply)(run, workdir, writer, token, monitor)
        except Exception as exc:  # noqa: BLE001 - any failure of the phase errors the run
            log.exception("%s of %s failed", phase, run_id)
            writer.write(f"\nError: {exc}\n")
            _end_errored(run_id, f"{phase} failed: {exc}", writer, phase_obj.id, token)


def _prepare(run: Run, workdir: Path, writer: logs.LogWriter) -> Path:
    return sandbox.prepare_workdir(run.cv_id, run.workspace_id, run.options.variables, workdir, writer)


def _plan(run: Run, workdir: Path, writer: logs.LogWriter, token: str, monitor: Monitor) -> None:
    timer = sandbox.PhaseTimer(run.id)
    cwd = _prepare(run, workdir, writer)
    timer.mark("prepare")
    if not sandbox.init(cwd, writer, monitor):
        _ended_by_monitor(run.id, monitor, writer, run.plan.id, token)
        return
    timer.mark("init")
    args = ["plan", "-input=false", "-no-color", f"-out={keys.PLAN_FILE}", "-detailed-exitcode"]
    opts = run.options
    if opts.is_destroy:
        args.append("-destroy")
    if opts.refresh_only:
        args.append("-refresh-only")
    if not opts.refresh:
        args.append("-refresh=false")
    args += [f"-target={a}" for a in opts.target_addrs] + [f"-replace={a}" for a in opts.replace_addrs]
    code = sandbox.run(args, cwd, writer, monitor)
    timer.mark("plan")
    if _ended_by_monitor(run.id, monitor, writer, run.plan.id, token):
        return
    if code not in (0, 2):
        _end_errored(run.id, "terraform plan failed", writer, run.plan.id, token)
        return
    # Counts come from terraform's own summary line, so the run is recorded as planned
    # without waiting for `terraform show -json` (which runs after, for json-output).
    counts = output.plan_counts(writer.text())
    blobs.put(keys.run_plan(run.id), (cwd / keys.PLAN_FILE).read_bytes())
    writer.archive()
    timer.mark("store")

    decided: dict[str, Outcome] = {}

    def finish(r: Run):
        _refuse_if_cancel(r)
        r.plan.log_archived = True
        move, decided["outcome"] = r.finish_plan(
            now_iso(), has_changes=code == 2, additions=counts[0], changes=counts[1],
            destructions=counts[2])
        return move
    try:
        done, _ = runs.mutate(run.id, finish)
    except _CancelSeen:
        # a cancel landed after terraform finished but before the result was recorded
        monitor.outcome = monitor.outcome or "canceled"
        _ended_by_monitor(run.id, monitor, writer, run.plan.id, token)
        return
    outcome = decided["outcome"]
    timer.mark("record")
    executions.succeed(token, outcome.answer())
    if outcome == Outcome.FINISHED:
        runs.finished(done)
    _store_plan_json(run.id, cwd)
    timer.mark("json")
    timer.log()


def _store_plan_json(run_id: str, cwd: Path) -> None:
    """The plan in JSON (GET /plans/:id/json-output), produced after the run moved on."""
    # niced: on a shared worker host it must not slow the apply that may already be starting
    shown = terraform.run_once(["show", "-json", keys.PLAN_FILE], cwd, timeout=600, nice=10)
    if shown.returncode == 0:
        blobs.put(keys.run_plan_json(run_id), shown.stdout, content_type="application/json")
    else:
        log.warning("terraform show -json failed for %s: %s", run_id, shown.stderr[-500:])


def _apply(run: Run, workdir: Path, writer: logs.LogWriter, token: str, monitor: Monitor) -> None:
    timer = sandbox.PhaseTimer(run.id)
    cwd = _prepare(run, workdir, writer)
    (cwd / keys.PLAN_FILE).write_bytes(blobs.read(keys.run_plan(run.id)))
    timer.mark("prepare")
    if not sandbox.init(cwd, writer, monitor):
        _ended_by_monitor(run.id, monitor, writer, run.apply.id, token)
        return
    timer.mark("init")
    before = sandbox.state_bytes(cwd)
    code = sandbox.run(["apply", "-input=false", "-no-color", "-auto-approve", keys.PLAN_FILE],
                       cwd, writer, monitor)
    timer.mark("apply")
    sv_id = sandbox.capture_state(run.workspace_id, cwd, before, run_id=run.id,
                                  created_by=run.created_by)
    timer.mark("state")
    if _ended_by_monitor(run.id, monitor, writer, run.apply.id, token, sv_id=sv_id):
        return
    if code != 0:
        _end_errored(run.id, "terraform apply failed", writer, run.apply.id, token, sv_id=sv_id)
        return
    added, changed, destroyed = output.apply_counts(writer.text())
    writer.archive()

    def finish(r: Run):
        r.apply.log_archived = True
        r.state_version_id = sv_id or r.state_version_id
        return r.finish_apply(now_iso(), additions=added, changes=changed, destructions=destroyed)
    done, _ = runs.mutate(run.id, finish)
    timer.mark("record")
    executions.succeed(token, Outcome.APPLIED.answer())
    runs.finished(done)
    timer.mark("finish")
    timer.log()


class _CancelSeen(Exception):
    pass


def _refuse_if_cancel(run: Run) -> None:
    if run.cancel_requested_at or run.status == RunStatus.FORCE_CANCELED:
        raise _CancelSeen()


def _ended_by_monitor(run_id: str, monitor: Monitor, writer: logs.LogWriter, phase_id: str,
                      token: str, sv_id: str | None = None) -> bool:
    """Cancel, force-cancel or a lost task ended terraform: record that and say so."""
    if monitor.outcome is None:
        return False
    writer.write({"canceled": "\nThe run was canceled.\n",
                  "force_canceled": "\nThe run was force-canceled.\n",
                  "lost": "\nThe run's task was abandoned by the state machine.\n"}[monitor.outcome])
    if monitor.outcome == "canceled":
        _close_phase(run_id, phase_id, writer, sv_id, lambda r: r.mark_canceled(now_iso()))
    else:
        writer.archive()    # force-cancel and lost tasks were recorded by whoever ended them
    executions.succeed(token, Outcome.CANCELED.answer())
    return True


def _close_phase(run_id: str, phase_id: str, writer: logs.LogWriter, sv_id: str | None,
                 move) -> None:
    """End a phase that did not succeed: the log to S3, then the run's final move (keeping any
    state version the phase produced) and the workspace handed on. A run that reached a final
    status meanwhile is left as it is."""
    writer.archive()

    def close(r: Run):
        (r.plan if r.plan.id == phase_id else r.apply).log_archived = True
        r.state_version_id = sv_id or r.state_version_id
        return move(r)
    try:
        done, _ = runs.mutate(run_id, close)
    except Conflict:
        return
    runs.finished(done)


def _end_errored(run_id: str, reason: str, writer: logs.LogWriter, phase_id: str, token: str,
                 sv_id: str | None = None) -> None:
    detail = output.error_summary(writer.text())
    _close_phase(run_id, phase_id, writer, sv_id,
                 lambda r: r.fail(now_iso(), f"{reason}: {detail}" if detail else reason))
    executions.succeed(token, Outcome.ERRORED.answer())


handle_tasks = sqs_handler(_task_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
