"""Compiling a Terrakube flow into an Amazon States Language definition: one Task state per
flow step, in `step` order, each followed by a Choice that encodes what Terrakube does next.

- worker steps (terraform, customScripts, disableWorkspace) go to the job-steps queue with a
  task token (liveness after pickup is the lease's: services/lost_phases.py); the worker answers {"outcome": <domain/outcomes.Outcome>}: done, noChanges, failed or
  stop;
- an approval goes to the job-events queue; the API completes its token on PATCH;
- a plan without changes ends the flow `noChanges`; a failed step ends it `failed` unless the
  step has `ignoreError` (then the flow moves on); "stop" means the job already ended
  (cancelled, rejected) and the execution just finishes;
- a lost worker (its task failed by the sweep) or any other task failure is caught and reported.

Statuses are written by the Python domain (chalicelib/domain/jobs.py), never by the definition.
"""
from __future__ import annotations

import hashlib
import json

from .outcomes import Outcome
from .tcl import PLAN_STEPS, FlowStep


def state_name(index: int, step: FlowStep) -> str:
    return f"Step{index:03d}_{step.type}"


def _flow_ended(events_queue: str, outcome: Outcome) -> dict:
    return {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": events_queue, "MessageBody": {
                "job_id.$": "$.job_id", "event": "flow_ended", "outcome": outcome.value}},
            "ResultPath": None, "Next": "Done"}


def _when(outcome: Outcome, target: str) -> dict:
    return {"Variable": "$.last.outcome", "StringEquals": outcome.value, "Next": target}


def compile_flow(steps: list[FlowStep], *, steps_queue: str, events_queue: str) -> dict:
    states: dict[str, dict] = {}
    names = [state_name(i, s) for i, s in enumerate(steps)]
    for i, step in enumerate(steps):
        following = names[i + 1] if i + 1 < len(steps) else "Completed"
        check = f"{names[i]}_next"
        if step.type == "approval":
            task = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": events_queue, "MessageBody": {
                        "job_id.$": "$.job_id", "event": "awaiting_approval", "step": i,
                        "task_token.$": "$$.Task.Token"}},
                    "TimeoutSecondsPath": "$.approval_timeout_seconds"}
        else:
            task = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": steps_queue, "MessageBody": {
                        "job_id.$": "$.job_id", "step": i, "task_token.$": "$$.Task.Token"}},
                    # no heartbeat here: it would start at queueing (the lease's starts at pickup)
                    "TimeoutSecondsPath": "$.step_timeout_seconds"}
        task.update({"Comment": f"step {step.number}: {step.name}", "ResultPath": "$.last",
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                "Next": "ReportFailure"}],
                     "Next": check})
        states[names[i]] = task
        choices = [_when(Outcome.STOP, "Done")]
        if step.type in PLAN_STEPS:
            choices.append(_when(Outcome.NO_CHANGES, "NoChanges"))
        if not step.ignore_error:
            choices.append(_when(Outcome.FAILED, "StepFailed"))
        states[check] = {"Type": "Choice", "Choices": choices, "Default": following}
    states["Completed"] = _flow_ended(events_queue, Outcome.COMPLETED)
    states["NoChanges"] = _flow_ended(events_queue, Outcome.NO_CHANGES)
    states["StepFailed"] = _flow_ended(events_queue, Outcome.FAILED)
    states["ReportFailure"] = {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": events_queue, "MessageBody": {
            "job_id.$": "$.job_id", "event": "flow_failed", "error.$": "$.error.Error",
            "cause.$": "$.error.Cause"}},
        "Next": "Failed"}
    states["Failed"] = {"Type": "Fail", "Error": "JobFailed"}
    states["Done"] = {"Type": "Succeed"}
    return {"Comment": "Terraless job flow (compiled from TCL)", "StartAt": names[0],
            "States": states}


def definition_name(definition: dict, prefix: str) -> str:
    """Flows with the same compiled definition share one state machine."""
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:20]
    return f"{prefix}-job-flow-{digest}"
