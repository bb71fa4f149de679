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

from ..services import agents, jobs, phase_claims
from .batch import dead_letter, sqs_handler, worker_name
from .runs import dispatch

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
    """As a run's phase (workers/runs.run_task): claimed and run here, or left for the
    agents of an agent-mode workspace's pool."""
    job = phase_claims.waiting_job(job_id, index, token)
    if job is None:
        return
    pool_id = phase_claims.agent_pool_of(job.workspace_id)
    if pool_id and job.step(index).type != "disableWorkspace":
        agents.offer(pool_id, "job", job_id, str(index), token)
        return
    claimed = phase_claims.claim_job_step(job_id, index, token, worker_name())
    if claimed is not None:
        dispatch(claimed)


handle_steps = sqs_handler(_step_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
