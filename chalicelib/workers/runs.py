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
from ..executor import staging
from ..services import agents, phase_claims, runs
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
    """Claim the phase, grant its runner a lease, hand the work to the executor — or, on an
    agent-mode workspace, leave it for its pool's agents. Everything the runner does
    afterwards goes through the runner API (services/run_phases.py)."""
    run = phase_claims.waiting_run(run_id, phase, token)
    if run is None:
        return
    pool_id = phase_claims.agent_pool_of(run.workspace_id)
    if pool_id:
        agents.offer(pool_id, "run", run_id, phase, token)
        return
    claimed = phase_claims.claim_run_phase(run_id, phase, token, worker_name())
    if claimed is not None:
        dispatch(claimed)


def dispatch(claimed: phase_claims.Claimed) -> None:
    """The claimed phase to this host's executor; a runner that finished settles its phase."""
    try:
        finished = executor.execute(claimed.work, *claimed.workdir)
    except Exception as exc:  # noqa: BLE001 - a runner that cannot start errors its phase
        phase_claims.could_not_start(claimed, exc)
        return
    if finished:
        claimed.settle()


handle_tasks = sqs_handler(_task_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
