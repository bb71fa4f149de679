"""The run state machine: start one execution per run, complete task tokens."""
from __future__ import annotations

import json
import logging

from botocore.exceptions import ClientError

from ..config import settings
from .clients import client

log = logging.getLogger(__name__)


def state_machine_arn() -> str:
    account = client("sts").get_caller_identity()["Account"]
    return f"arn:aws:states:{settings().region}:{account}:stateMachine:{settings().resource('runs')}"


_arn_cache: dict[int, str] = {}


def _arn() -> str:
    key = id(client("stepfunctions"))
    if key not in _arn_cache:
        _arn_cache[key] = state_machine_arn()
    return _arn_cache[key]


def task_timeout_seconds() -> int:
    """A phase's task: the wait for a worker, then the phase itself. No heartbeat on the task
    (its clock would start at queueing): liveness after pickup is the lease's
    (services/lost_phases.py)."""
    s = settings()
    return s.queue_timeout_seconds + s.phase_timeout_seconds + 300


def start(run_id: str) -> str:
    """Idempotent: the execution is named after the run."""
    s = settings()
    payload = {"run_id": run_id, "task_timeout_seconds": task_timeout_seconds(),
               "confirm_timeout_seconds": s.confirm_timeout_seconds}
    sfn = client("stepfunctions")
    try:
        return sfn.start_execution(stateMachineArn=_arn(), name=run_id,
                                   input=json.dumps(payload))["executionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return _arn().replace(":stateMachine:", ":execution:") + f":{run_id}"
        raise


def stop(run_id: str, cause: str) -> None:
    arn = _arn().replace(":stateMachine:", ":execution:") + f":{run_id}"
    try:
        client("stepfunctions").stop_execution(executionArn=arn, cause=cause[:256])
    except ClientError as exc:
        log.info("stop %s: %s", run_id, exc)


def _complete(call, **kwargs) -> bool:
    """A token whose task already ended (timeout, stop) is not an error for the caller."""
    try:
        call(**kwargs)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            log.info("task token no longer valid: %s", exc.response["Error"]["Code"])
            return False
        raise


def succeed(token: str, output: dict) -> bool:
    return _complete(client("stepfunctions").send_task_success, taskToken=token,
                     output=json.dumps(output))


def fail(token: str, error: str, cause: str) -> bool:
    return _complete(client("stepfunctions").send_task_failure, taskToken=token,
                     error=error[:256], cause=cause[:32768])


# -- Terrakube job flows: state machines compiled at run time, one per distinct definition ----------

_flow_arns: dict[tuple[int, str], str] = {}


def _role_arn() -> str:
    """Job flows assume the run state machine's role (infra/resources.yaml grants it the job
    queues), so the deployment needs no second role wiring."""
    return client("stepfunctions").describe_state_machine(stateMachineArn=_arn())["roleArn"]


def ensure_flow(name: str, definition: dict) -> str:
    """The state machine `name` (named after its definition's hash), created on first use."""
    key = (id(client("stepfunctions")), name)
    if key in _flow_arns:
        return _flow_arns[key]
    sfn = client("stepfunctions")
    arn = _arn().rsplit(":", 1)[0] + f":{name}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "StateMachineDoesNotExist":
            raise
        try:
            arn = sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                           roleArn=_role_arn())["stateMachineArn"]
        except ClientError as again:
            if again.response["Error"]["Code"] != "StateMachineAlreadyExists":
                raise
    _flow_arns[key] = arn
    return arn


def start_flow(flow_arn: str, job_id: str, payload: dict) -> str:
    """Idempotent: the execution is named after the job."""
    sfn = client("stepfunctions")
    try:
        return sfn.start_execution(stateMachineArn=flow_arn, name=job_id,
                                   input=json.dumps(payload))["executionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return flow_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
        raise


def stop_flow(flow_arn: str, job_id: str, cause: str) -> None:
    arn = flow_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
    try:
        client("stepfunctions").stop_execution(executionArn=arn, cause=cause[:256])
    except ClientError as exc:
        log.info("stop %s: %s", job_id, exc)
