"""Plan and apply tasks handed out by the run state machine, and its events.

A task message carries the run id and a task token. The worker claims the phase with a
conditional write (a duplicate or redelivered message finds the phase already claimed or over
and does nothing) and hands it to a runner (chalicelib/executor) with a credential for that
phase alone. The runner reports over the runner API; services/run_phases.py records the
outcome and completes the token with the Outcome the state machine branches on."""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from .. import executor
from ..aws import executions
from ..domain.clock import now_iso
from ..domain.errors import Conflict
from ..domain.outcomes import Outcome
from ..domain.runs import Run, RunStatus
from ..executor import staging
from ..services import logs, phase_leases, run_phases, runs
from ..storage import runs as run_store
from .batch import dead_letter, sqs_handler, worker_name

if TYPE_CHECKING:   # annotations only: Powertools' data classes cost ~110 ms to import
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

log = logging.getLogger(__name__)


def warm() -> None:
    """A worker container's init phase (as Lambda runs module code before the first event):
    create the AWS clients and learn the terraform binary, so the first run does not pay."""
    from ..aws.clients import client  # lazy: only a worker container warms up
    for service in ("s3", "sqs", "stepfunctions", "sts", "dynamodb"):
        client(service)
    staging.tools()
    staging.runner_code()
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
    """Claim the phase, grant its runner a lease, hand the work to the executor. Everything
    the runner does afterwards goes through the runner API (services/run_phases.py)."""
    run = run_store.find(run_id)
    if run is None or run.is_final:
        executions.succeed(token, Outcome.FINISHED.answer())   # canceled while queued: end it
        return
    queued = RunStatus.PLAN_QUEUED if phase == "plan" else RunStatus.APPLY_QUEUED
    if run.status != queued:
        log.info("run %s is %s: %s task already handled", run_id, run.status.value, phase)
        return
    lease = phase_leases.grant(token)

    def claim(r: Run):
        r.worker = worker_name()
        move = (r.start_planning if phase == "plan" else r.start_applying)(now_iso())
        (r.plan if phase == "plan" else r.apply).lease = lease
        return move
    try:
        run, _ = runs.mutate(run_id, claim)
    except Conflict:
        return      # another delivery claimed it first
    phase_obj = run.plan if phase == "plan" else run.apply
    try:
        finished = executor.execute(run_phases.work(run, phase_obj, lease), "runs",
                                    f"{run_id}-{phase}")
    except Exception as exc:  # noqa: BLE001 - a runner that cannot start errors its phase
        log.exception("the runner of %s could not start", phase_obj.id)
        finished = True
        logs.archive(phase_obj.id, f"\nError: the runner could not start: {exc}\n")
    if finished:
        run_phases.runner_gone(run_id, phase_obj.id, lease.id)


handle_tasks = sqs_handler(_task_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
