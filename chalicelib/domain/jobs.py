"""Terrakube jobs: the job and step status sets, and the moves between them (TCL parsing is in
domain/tcl.py).

A job is one flow run against a workspace. The API, the step workers and the Step Functions
event handler change a job only through the methods here, which move its status through
`LIFECYCLE`; storage writes each change on the status read and the version read, so a late
worker cannot overwrite a cancel or a rejection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .errors import Conflict
from .leases import Lease
from .lifecycle import Lifecycle, WorkspaceItem
from .tcl import (PLAN_STEPS, TERRAFORM_STEPS, Command, FlowStep, command_tcl,  # noqa: F401
                  parse_flow, parse_tcl)


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
_ENDINGS = frozenset({J.COMPLETED, J.NO_CHANGES, J.FAILED, J.CANCELLED})
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    J.PENDING: frozenset({J.QUEUE, J.CANCELLED, J.FAILED}),
    # running -> running: the next worker step of the flow starts
    J.QUEUE: frozenset({J.RUNNING, J.WAITING_APPROVAL}) | _ENDINGS,
    J.RUNNING: frozenset({J.RUNNING, J.WAITING_APPROVAL}) | _ENDINGS,
    J.WAITING_APPROVAL: frozenset({J.APPROVED, J.REJECTED, J.CANCELLED, J.FAILED}),
    J.APPROVED: frozenset({J.RUNNING, J.WAITING_APPROVAL}) | _ENDINGS,
    **{final: frozenset() for final in (J.COMPLETED, J.NO_CHANGES, J.NOT_EXECUTED, J.REJECTED,
                                        J.CANCELLED, J.FAILED)},
}
LIFECYCLE = Lifecycle("job", TRANSITIONS)
JOB_FINAL = LIFECYCLE.final


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
    lease: Lease | None = None      # the runner executing this step (domain/leases.py)

    @property
    def is_final(self) -> bool:
        return self.status in STEP_FINAL

    def flow_step(self) -> FlowStep:
        return FlowStep(number=self.number, type=self.type, name=self.name,
                        commands=tuple(Command(**c) for c in self.commands),
                        ignore_error=self.ignore_error, team=self.team,
                        env=tuple(self.env.items()))

    def to_dict(self) -> dict:
        data = {k: (v.value if isinstance(v, Enum) else v) for k, v in self.__dict__.items()}
        data["lease"] = self.lease.to_dict() if self.lease else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Step":
        data = dict(data)
        data["status"] = StepStatus(data.get("status", "pending"))
        data["number"] = int(data["number"])
        data["lease"] = Lease.from_dict(data.get("lease"))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @classmethod
    def of(cls, step_id: str, flow_step: FlowStep) -> "Step":
        return cls(id=step_id, number=flow_step.number, type=flow_step.type, name=flow_step.name,
                   ignore_error=flow_step.ignore_error, team=flow_step.team,
                   commands=[c.to_dict() for c in flow_step.commands], env=dict(flow_step.env))


@dataclass(kw_only=True)
class Job(WorkspaceItem):
    cv_id: str
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

    def step(self, index: int) -> Step:
        if not 0 <= index < len(self.steps):
            raise Conflict(f"job {self.id} has no step {index}")
        return self.steps[index]

    # -- the queue

    def _move(self, to: JobStatus, at: str):
        move = LIFECYCLE.move(self, to, at)
        self.updated_at = at
        return move

    def queue(self, at: str) -> None:
        self._move(J.QUEUE, at)

    # -- steps run by workers

    def start_step(self, index: int, at: str, worker: str) -> Step:
        """A worker claims a step. Only a pending step of a job that is queued, running or
        just approved can start: a duplicate delivery finds it claimed."""
        step = self.step(index)
        if self.cancel_requested_at:
            raise self._refuse(f"start step {step.number}")
        if step.status != StepStatus.PENDING:
            raise Conflict(f"step {step.number} of job {self.id} is {step.status.value}")
        self._move(J.RUNNING, at)
        step.status, step.started_at, step.worker = StepStatus.RUNNING, at, worker
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
        self.updated_at = at
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
        if step.status != StepStatus.PENDING:
            raise self._refuse("wait for an approval")
        self._move(J.WAITING_APPROVAL, at)
        step.status, step.started_at = StepStatus.WAITING_APPROVAL, at
        self.approval_token, self.approval_step = token, index

    def _approval_step(self, action: str) -> Step:
        if self.status != J.WAITING_APPROVAL or self.approval_step is None:
            raise self._refuse(action)
        return self.steps[self.approval_step]

    def approve(self, at: str, by: str | None) -> str:
        step = self._approval_step("be approved")
        step.status, step.finished_at, step.approved_by = StepStatus.COMPLETED, at, by
        token = self.approval_token
        self._move(J.APPROVED, at)
        self.approval_token, self.approval_step = None, None
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
            self.updated_at = at
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
        self._move(outcome, at)
        for step in self.steps:
            if step.status == StepStatus.PENDING:
                step.status = StepStatus.NOT_EXECUTED
            elif step.status == StepStatus.RUNNING:       # a step lost with its worker
                step.status, step.finished_at = StepStatus.FAILED, at
        self.approval_token = None
