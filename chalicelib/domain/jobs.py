"""Terrakube jobs: TCL flow templates, the job and step status sets, and the moves between them.

A job is one flow run against a workspace. The API, the step workers and the Step Functions
event handler change a job only through the methods here; the repository writes each change
conditionally (version attribute), so a late worker cannot overwrite a cancel or a rejection.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import Enum

import yaml

from .errors import BadRequest, Conflict, Unprocessable


class JobStatus(str, Enum):
    """Terrakube's JobStatus values."""
    PENDING = "pending"
    QUEUE = "queue"
    RUNNING = "running"
    WAITING_APPROVAL = "waitingApproval"
    APPROVED = "approved"
    COMPLETED = "completed"
    NO_CHANGES = "noChanges"
    NOT_EXECUTED = "notExecuted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"


J = JobStatus
JOB_FINAL = frozenset({J.COMPLETED, J.NO_CHANGES, J.NOT_EXECUTED, J.REJECTED, J.CANCELLED, J.FAILED})
# A job holds its workspace from `queue` until it ends.
JOB_ACTIVE = frozenset(set(JobStatus) - JOB_FINAL - {J.PENDING})


class StepStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waitingApproval"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    NOT_EXECUTED = "notExecuted"


STEP_FINAL = frozenset(set(StepStatus) - {StepStatus.PENDING, StepStatus.RUNNING,
                                          StepStatus.WAITING_APPROVAL})

TERRAFORM_STEPS = frozenset({"terraformPlan", "terraformApply", "terraformPlanDestroy",
                             "terraformDestroy"})
PLAN_STEPS = frozenset({"terraformPlan", "terraformPlanDestroy"})
WORKER_STEPS = TERRAFORM_STEPS | {"customScripts", "disableWorkspace"}
STEP_TYPES = WORKER_STEPS | {"approval"}
# Terrakube's command runtimes; GROOVY needs a JVM, which Terraless's workers do not carry.
RUNTIMES = frozenset({"BASH"})


# -- TCL ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    script: str
    priority: int = 100
    before: bool = False
    after: bool = False
    runtime: str = "BASH"

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "priority": self.priority, "before": self.before,
                "after": self.after, "script": self.script}


@dataclass(frozen=True)
class FlowStep:
    number: int
    type: str
    name: str
    commands: tuple[Command, ...] = ()
    ignore_error: bool = False
    team: str | None = None
    env: tuple[tuple[str, str], ...] = ()       # inputsEnv

    def commands_when(self, when: str) -> list[Command]:
        """Terrakube runs `before: true` commands ahead of terraform and `after: true` ones
        after it; on a customScripts step every command runs, in priority order."""
        chosen = [c for c in self.commands
                  if self.type not in TERRAFORM_STEPS or getattr(c, when)]
        return sorted(chosen, key=lambda c: c.priority)


def _fail(reason: str) -> Unprocessable:
    return Unprocessable(f"invalid TCL: {reason}", pointer="/data/attributes/tcl")


def decode_tcl(tcl_b64: str) -> str:
    if not isinstance(tcl_b64, str) or not tcl_b64.strip():
        raise Unprocessable("tcl must be a non-empty base64 string", pointer="/data/attributes/tcl")
    try:
        raw = base64.b64decode(tcl_b64.strip(), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRequest("tcl is not valid base64 (or not UTF-8 once decoded)",
                         pointer="/data/attributes/tcl") from None


def _bool(entry: dict, key: str, where: str) -> bool:
    value = entry.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(f"{where}: {key} must be true or false")
    return value


def _command(entry, where: str) -> Command:
    if not isinstance(entry, dict):
        raise _fail(f"{where} must be a mapping")
    runtime = str(entry.get("runtime") or "BASH").upper()
    if runtime not in RUNTIMES:
        raise _fail(f"{where}: runtime {runtime} is not supported (supported: BASH)")
    script = entry.get("script")
    if not isinstance(script, str) or not script.strip():
        raise _fail(f"{where}: script is required")
    priority = entry.get("priority", 100)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise _fail(f"{where}: priority must be a number")
    return Command(script=script, priority=priority, before=_bool(entry, "before", where),
                   after=_bool(entry, "after", where), runtime=runtime)


def _step(entry, index: int) -> FlowStep:
    where = f"flow[{index}]"
    if not isinstance(entry, dict):
        raise _fail(f"{where} must be a mapping")
    kind = entry.get("type")
    if kind not in STEP_TYPES:
        raise _fail(f"{where}: type {kind!r} is not one of {', '.join(sorted(STEP_TYPES))}")
    number = entry.get("step")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise _fail(f"{where}: step must be a non-negative number (the step order)")
    name = entry.get("name", kind)
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"{where}: name must be a string")
    commands = entry.get("commands") or []
    if not isinstance(commands, list):
        raise _fail(f"{where}: commands must be a list")
    env = entry.get("inputsEnv") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise _fail(f"{where}: inputsEnv must be a mapping of names to values")
    team = entry.get("team")
    if team is not None and not isinstance(team, str):
        raise _fail(f"{where}: team must be a string")
    if kind == "customScripts" and not commands:
        raise _fail(f"{where}: a customScripts step needs commands")
    return FlowStep(number=number, type=kind, name=name.strip(),
                    commands=tuple(_command(c, f"{where}.commands[{i}]") for i, c in enumerate(commands)),
                    ignore_error=_bool(entry, "ignoreError", where), team=team,
                    env=tuple((k, "" if v is None else str(v)) for k, v in env.items()))


def parse_flow(tcl_text: str) -> list[FlowStep]:
    """The flow's steps in `step` order. Any defect is a 422 that says where."""
    try:
        document = yaml.safe_load(tcl_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _fail(f"not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(document, dict) or "flow" not in document:
        raise _fail("the template must be a mapping with a flow: list")
    flow = document["flow"]
    if not isinstance(flow, list) or not flow:
        raise _fail("flow must be a non-empty list of steps")
    steps = [_step(entry, i) for i, entry in enumerate(flow)]
    numbers = [s.number for s in steps]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise _fail(f"step numbers must be unique (repeated: {', '.join(map(str, duplicates))})")
    return sorted(steps, key=lambda s: s.number)


def parse_tcl(tcl_b64: str) -> list[FlowStep]:
    return parse_flow(decode_tcl(tcl_b64))


# A job created with Terrakube's `command` and no template runs these flows.
COMMAND_FLOWS = {
    "plan": "flow:\n  - {type: terraformPlan, name: Plan, step: 100}\n",
    "apply": "flow:\n  - {type: terraformPlan, name: Plan, step: 100}\n"
             "  - {type: terraformApply, name: Apply, step: 200}\n",
    "destroy": "flow:\n  - {type: terraformPlanDestroy, name: Plan destroy, step: 100}\n"
               "  - {type: terraformApply, name: Apply, step: 200}\n",
}


def command_tcl(command: str) -> str:
    if command not in COMMAND_FLOWS:
        raise Unprocessable(f"command must be one of {', '.join(COMMAND_FLOWS)}",
                            pointer="/data/attributes/command")
    return base64.b64encode(COMMAND_FLOWS[command].encode()).decode()


# -- jobs -----------------------------------------------------------------------------------------

@dataclass
class Step:
    """One flow entry of one job, with its own status and output (a log id)."""
    id: str
    number: int
    type: str
    name: str
    status: StepStatus = StepStatus.PENDING
    ignore_error: bool = False
    team: str | None = None
    commands: list[dict] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    worker: str | None = None
    approved_by: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in STEP_FINAL

    def flow_step(self) -> FlowStep:
        return FlowStep(number=self.number, type=self.type, name=self.name,
                        commands=tuple(Command(**c) for c in self.commands),
                        ignore_error=self.ignore_error, team=self.team,
                        env=tuple(self.env.items()))

    def to_dict(self) -> dict:
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "Step":
        data = dict(data)
        data["status"] = StepStatus(data.get("status", "pending"))
        data["number"] = int(data["number"])
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @classmethod
    def of(cls, step_id: str, flow_step: FlowStep) -> "Step":
        return cls(id=step_id, number=flow_step.number, type=flow_step.type, name=flow_step.name,
                   ignore_error=flow_step.ignore_error, team=flow_step.team,
                   commands=[c.to_dict() for c in flow_step.commands], env=dict(flow_step.env))


@dataclass
class Job:
    id: str
    workspace_id: str
    org: str
    cv_id: str
    seq: int
    created_at: str
    steps: list[Step]
    org_seq: int = 0                # its number among the organization's jobs
    status: JobStatus = JobStatus.PENDING
    tcl: str | None = None
    template_reference: str | None = None
    created_by: str | None = None
    updated_at: str | None = None
    cancel_requested_at: str | None = None
    approval_token: str | None = None
    approval_step: int | None = None
    has_changes: bool = False
    comments: str | None = None
    via: str = "api"
    delete_requested: bool = False  # DELETE while a step ran: removed once it has ended
    version: int | None = None      # the stored item's version (conditional saves)

    @property
    def is_final(self) -> bool:
        return self.status in JOB_FINAL

    @property
    def command(self) -> str:
        """What the job does, as Terrakube's `command`: its first terraform step."""
        for step in self.steps:
            if step.type in TERRAFORM_STEPS:
                return {"terraformPlan": "plan", "terraformApply": "apply",
                        "terraformPlanDestroy": "plan-destroy",
                        "terraformDestroy": "destroy"}[step.type]
        return self.steps[0].type if self.steps else ""

    def _refuse(self, action: str) -> Conflict:
        return Conflict(f"job {self.id} is {self.status.value}: cannot {action}")

    def _touch(self, at: str) -> None:
        self.updated_at = at

    def step(self, index: int) -> Step:
        if not 0 <= index < len(self.steps):
            raise Conflict(f"job {self.id} has no step {index}")
        return self.steps[index]

    # -- the queue

    def queue(self, at: str) -> None:
        if self.status != J.PENDING:
            raise self._refuse("be queued")
        self.status = J.QUEUE
        self._touch(at)

    # -- steps run by workers

    def start_step(self, index: int, at: str, worker: str) -> Step:
        """A worker claims a step. Only a pending step of a job that is queued, running or
        just approved can start: a duplicate delivery finds it claimed."""
        step = self.step(index)
        if self.status not in (J.QUEUE, J.RUNNING, J.APPROVED) or self.cancel_requested_at:
            raise self._refuse(f"start step {step.number}")
        if step.status != StepStatus.PENDING:
            raise Conflict(f"step {step.number} of job {self.id} is {step.status.value}")
        step.status, step.started_at, step.worker = StepStatus.RUNNING, at, worker
        self.status = J.RUNNING
        self._touch(at)
        return step

    def finish_step(self, index: int, at: str, status: StepStatus, *, error: str | None = None,
                    has_changes: bool | None = None) -> Step:
        """A worker records its step's result. A cancel requested while the step was ending
        still wins: the job ends cancelled with the step's real result kept."""
        step = self.step(index)
        if step.status != StepStatus.RUNNING or self.is_final:
            raise Conflict(f"step {step.number} of job {self.id} is {step.status.value}")
        if status not in (StepStatus.COMPLETED, StepStatus.FAILED):
            raise Conflict(f"a step cannot finish as {status.value}")
        step.status, step.finished_at, step.error = status, at, error
        if has_changes is not None and step.type in PLAN_STEPS:
            self.has_changes = has_changes
        self._touch(at)
        if self.cancel_requested_at:
            self._end(J.CANCELLED, at)
        return step

    def cancel_running_step(self, index: int, at: str) -> None:
        """The worker interrupted its step after a cancel request: the job ends cancelled."""
        step = self.step(index)
        if step.status == StepStatus.RUNNING:
            step.status, step.finished_at = StepStatus.CANCELLED, at
        self._end(J.CANCELLED, at)

    # -- approvals

    def await_approval(self, index: int, token: str, at: str) -> None:
        step = self.step(index)
        if step.type != "approval":
            raise Conflict(f"step {step.number} of job {self.id} is not an approval")
        if self.status not in (J.QUEUE, J.RUNNING, J.APPROVED) or step.status != StepStatus.PENDING:
            raise self._refuse("wait for an approval")
        step.status, step.started_at = StepStatus.WAITING_APPROVAL, at
        self.status, self.approval_token, self.approval_step = J.WAITING_APPROVAL, token, index
        self._touch(at)

    def _approval_step(self, action: str) -> Step:
        if self.status != J.WAITING_APPROVAL or self.approval_step is None:
            raise self._refuse(action)
        return self.steps[self.approval_step]

    def approve(self, at: str, by: str | None) -> str:
        step = self._approval_step("be approved")
        step.status, step.finished_at, step.approved_by = StepStatus.COMPLETED, at, by
        token = self.approval_token
        self.status, self.approval_token, self.approval_step = J.APPROVED, None, None
        self._touch(at)
        return token or ""

    def reject(self, at: str, by: str | None) -> str:
        step = self._approval_step("be rejected")
        step.status, step.finished_at, step.approved_by = StepStatus.REJECTED, at, by
        token = self.approval_token
        self._end(J.REJECTED, at)
        return token or ""

    # -- ending

    def request_cancel(self, at: str) -> bool:
        """True when the job ended at once (nothing running); False when a worker must
        interrupt its step first (it records the cancellation)."""
        if self.is_final:
            raise self._refuse("be cancelled")
        if any(s.status == StepStatus.RUNNING for s in self.steps):
            if self.cancel_requested_at:
                raise Conflict(f"job {self.id} is already being cancelled")
            self.cancel_requested_at = at
            self._touch(at)
            return False
        for step in self.steps:
            if step.status == StepStatus.WAITING_APPROVAL:
                step.status, step.finished_at = StepStatus.CANCELLED, at
        self._end(J.CANCELLED, at)
        return True

    def request_delete(self) -> None:
        if self.is_final:
            raise self._refuse("wait for its end to be deleted")
        self.delete_requested = True

    def end(self, outcome: JobStatus, at: str) -> None:
        """The flow reached its end: completed, noChanges or failed."""
        if outcome not in (J.COMPLETED, J.NO_CHANGES, J.FAILED):
            raise Conflict(f"a flow cannot end as {outcome.value}")
        if self.is_final:
            raise self._refuse(f"end as {outcome.value}")
        self._end(outcome, at)

    def _end(self, outcome: JobStatus, at: str) -> None:
        if self.is_final:
            raise self._refuse(f"end as {outcome.value}")
        for step in self.steps:
            if step.status == StepStatus.PENDING:
                step.status = StepStatus.NOT_EXECUTED
            elif step.status == StepStatus.RUNNING:       # a step lost with its worker
                step.status, step.finished_at = StepStatus.FAILED, at
        self.status, self.approval_token = outcome, None
        self._touch(at)
