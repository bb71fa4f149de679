"""Runs: the HCP Terraform status set, the moves between them, and the actions each status
allows. The API, the workers and the Step Functions event handler all change a run only through
the methods here, which move it through `LIFECYCLE` (domain/lifecycle.py); storage writes each
move on the condition that the stored status is still the move's `from_status` and the version
is the one read."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum

from .errors import Conflict, Unprocessable
from .leases import Lease
from .lifecycle import Lifecycle, Transition, WorkspaceItem, timestamp_key
from .outcomes import Outcome


class RunStatus(str, Enum):
    PENDING = "pending"
    PLAN_QUEUED = "plan_queued"
    PLANNING = "planning"
    PLANNED = "planned"
    PLANNED_AND_FINISHED = "planned_and_finished"
    CONFIRMED = "confirmed"
    APPLY_QUEUED = "apply_queued"
    APPLYING = "applying"
    APPLIED = "applied"
    DISCARDED = "discarded"
    ERRORED = "errored"
    CANCELED = "canceled"
    FORCE_CANCELED = "force_canceled"


S = RunStatus
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.PENDING: frozenset({S.PLAN_QUEUED, S.DISCARDED, S.CANCELED, S.ERRORED}),
    S.PLAN_QUEUED: frozenset({S.PLANNING, S.CANCELED, S.ERRORED, S.FORCE_CANCELED}),
    S.PLANNING: frozenset({S.PLANNED, S.PLANNED_AND_FINISHED, S.CANCELED, S.ERRORED,
                           S.FORCE_CANCELED}),
    # auto-apply goes straight to apply_queued; a person confirms first
    S.PLANNED: frozenset({S.CONFIRMED, S.APPLY_QUEUED, S.DISCARDED, S.ERRORED}),
    S.CONFIRMED: frozenset({S.APPLY_QUEUED, S.CANCELED, S.ERRORED, S.FORCE_CANCELED}),
    S.APPLY_QUEUED: frozenset({S.APPLYING, S.CANCELED, S.ERRORED, S.FORCE_CANCELED}),
    S.APPLYING: frozenset({S.APPLIED, S.CANCELED, S.ERRORED, S.FORCE_CANCELED}),
    S.APPLIED: frozenset(),
    S.PLANNED_AND_FINISHED: frozenset(),
    S.DISCARDED: frozenset(),
    S.ERRORED: frozenset(),
    S.CANCELED: frozenset(),
    S.FORCE_CANCELED: frozenset(),
}
LIFECYCLE = Lifecycle("run", TRANSITIONS)
FINAL = LIFECYCLE.final
CANCELABLE = frozenset({S.PENDING, S.PLAN_QUEUED, S.PLANNING, S.CONFIRMED, S.APPLY_QUEUED,
                        S.APPLYING})
# A worker holds the run in these: cancel asks it to interrupt terraform.
RUNNING = frozenset({S.PLANNING, S.APPLYING})
DISCARDABLE = frozenset({S.PENDING, S.PLANNED})


class PhaseStatus(str, Enum):
    """Plan and apply statuses (pytfe's enum)."""
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    ERRORED = "errored"
    CANCELED = "canceled"
    UNREACHABLE = "unreachable"


PHASE_FINAL = frozenset({PhaseStatus.FINISHED, PhaseStatus.ERRORED, PhaseStatus.CANCELED,
                         PhaseStatus.UNREACHABLE})


@dataclass
class Phase:
    """A run's plan or apply."""
    id: str
    status: PhaseStatus = PhaseStatus.PENDING
    status_timestamps: dict[str, str] = field(default_factory=dict)
    has_changes: bool = False
    additions: int = 0
    changes: int = 0
    destructions: int = 0
    log_archived: bool = False
    lease: Lease | None = None      # the runner executing this phase (domain/leases.py)
    worker: str | None = None       # who ran this phase (a plan's agent may differ from its apply's)

    def move(self, status: PhaseStatus, at: str) -> None:
        self.status = status
        self.status_timestamps = {**self.status_timestamps, timestamp_key(status): at}


@dataclass
class RunOptions:
    message: str = "Queued manually via the Terraform Enterprise API"
    is_destroy: bool = False
    auto_apply: bool = False
    plan_only: bool = False
    refresh: bool = True
    refresh_only: bool = False
    target_addrs: list[str] = field(default_factory=list)
    replace_addrs: list[str] = field(default_factory=list)
    variables: list[dict] = field(default_factory=list)   # [{"key": k, "value": hcl}]

    def validate(self) -> "RunOptions":
        if self.refresh_only and self.is_destroy:
            raise Unprocessable("refresh-only and is-destroy cannot be combined",
                                pointer="/data/attributes/refresh-only")
        if self.refresh_only and not self.refresh:
            raise Unprocessable("refresh-only needs refresh", pointer="/data/attributes/refresh")
        for var in self.variables:
            if not isinstance(var, dict) or not isinstance(var.get("key"), str) \
                    or not isinstance(var.get("value"), str) or not var["key"].isidentifier():
                raise Unprocessable("variables must be [{key: name, value: HCL string}]",
                                    pointer="/data/attributes/variables")
        for name in ("target_addrs", "replace_addrs"):
            values = getattr(self, name)
            if not all(isinstance(v, str) and v and not v.startswith("-") for v in values):
                raise Unprocessable(f"{name.replace('_', '-')} must be resource addresses",
                                    pointer=f"/data/attributes/{name.replace('_', '-')}")
        return self


# a run item stays well under DynamoDB's 400 KB with every comment it may hold
MAX_COMMENT, MAX_COMMENTS = 4096, 50


@dataclass(kw_only=True)
class Run(WorkspaceItem):
    cv_id: str
    options: RunOptions
    speculative: bool = False
    source: str = "tfe-api"
    created_by: str | None = None
    status: RunStatus = RunStatus.PENDING
    status_timestamps: dict[str, str] = field(default_factory=dict)
    plan: Phase = None  # type: ignore[assignment]
    apply: Phase = None  # type: ignore[assignment]
    has_changes: bool = False
    error_text: str | None = None
    cancel_requested_at: str | None = None
    force_cancel_available_at: str | None = None
    confirm_token: str | None = None
    terraform_version: str = "1.0.3"
    comments: list[dict] = field(default_factory=list)
    confirmed_by: str | None = None        # the user who applied it (auto-apply: nobody)
    state_version_id: str | None = None    # the state version its apply produced

    def __post_init__(self) -> None:
        suffix = self.id.split("-", 1)[1]
        # plan-X and apply-X share the run's suffix, so /plans/:id finds its run by key.
        self.plan = self.plan or Phase(id=f"plan-{suffix}")
        self.apply = self.apply or Phase(id=f"apply-{suffix}")

    # -- derived ---------------------------------------------------------------------------
    @property
    def takes_workspace_lock(self) -> bool:
        return not (self.speculative or self.options.plan_only)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def operation(self) -> str:
        """TFE's filter[operation] values."""
        if self.options.is_destroy:
            return "destroy"
        if self.options.refresh_only:
            return "refresh_only"
        return "plan_only" if self.options.plan_only or self.speculative else "plan_and_apply"

    def matches_search(self, ingress: dict, searches: dict[str, str]) -> bool:
        """HCP's run searches against the run and its configuration's ingress attributes:
        `user` the VCS sender, `commit` a commit sha (or its prefix), `basic` any of those,
        the run's id or its message."""
        user, commit = str(ingress.get("sender-username") or ""), str(ingress.get("commit-sha") or "")
        if "user" in searches and searches["user"] != user:
            return False
        if "commit" in searches and not (commit and commit.startswith(searches["commit"])):
            return False
        basic = searches.get("basic")
        return not basic or any(basic in text for text in (self.id, self.options.message or "", user, commit))

    @property
    def plan_json_coming(self) -> bool:
        """The plan finished and its runner still holds the lease: its JSON is on the way."""
        lease = self.plan.lease
        return self.plan.status == PhaseStatus.FINISHED and lease is not None and not lease.closed

    def events(self) -> list[tuple[str, str]]:
        """The run's history as HCP's run events: (action, at) for its creation and each status
        it reached, oldest first (`plan_queued` -> "plan-queued"). OpenTofu's cloud backend
        reads them right after creating a run (to show run warnings)."""
        moves = [(key.removesuffix("-at"), at) for key, at in self.status_timestamps.items()]
        return sorted([("created", self.created_at), *moves], key=lambda event: event[1])

    def actions(self, now: datetime) -> dict[str, bool]:
        return {
            "is-cancelable": self.status in CANCELABLE,
            "is-confirmable": self.status == S.PLANNED,
            "is-discardable": self.status in DISCARDABLE,
            "is-force-cancelable": self.is_force_cancelable(now),
        }

    def is_force_cancelable(self, now: datetime) -> bool:
        if self.status in FINAL or not self.force_cancel_available_at:
            return False
        return now >= datetime.fromisoformat(self.force_cancel_available_at.replace("Z", "+00:00"))

    # -- moves -----------------------------------------------------------------------------
    def _move(self, to: RunStatus, at: str) -> Transition:
        return LIFECYCLE.move(self, to, at)

    def queue_plan(self, at: str) -> Transition:
        move = self._move(S.PLAN_QUEUED, at)
        self.plan.move(PhaseStatus.QUEUED, at)
        return move

    def start_planning(self, at: str) -> Transition:
        move = self._move(S.PLANNING, at)
        self.plan.move(PhaseStatus.RUNNING, at)
        return move

    def finish_plan(self, at: str, *, has_changes: bool, additions: int, changes: int,
                    destructions: int) -> tuple[Transition, Outcome]:
        """Returns the move and what the state machine does next."""
        self.plan.has_changes = self.has_changes = has_changes
        self.plan.additions, self.plan.changes, self.plan.destructions = additions, changes, destructions
        self.plan.move(PhaseStatus.FINISHED, at)
        if not has_changes or self.options.plan_only or self.speculative:
            self.apply.move(PhaseStatus.UNREACHABLE, at)
            return self._move(S.PLANNED_AND_FINISHED, at), Outcome.FINISHED
        if self.options.auto_apply:
            # auto-apply: planned is recorded, then the apply is queued at once (one write)
            move = LIFECYCLE.chain(self, at, S.PLANNED, S.APPLY_QUEUED)
            self.apply.move(PhaseStatus.QUEUED, at)
            return move, Outcome.AUTO_APPLY
        return self._move(S.PLANNED, at), Outcome.AWAIT_CONFIRMATION

    def confirm(self, at: str, comment: str | None, by: str | None) -> Transition:
        """The apply action: confirmed and apply_queued in one move, so one conditional write
        (a crash cannot leave the run confirmed with no apply queued)."""
        if self.status != S.PLANNED:
            raise Conflict(f"run {self.id} is {self.status.value}, not waiting for confirmation")
        self._comment(comment, by, at)
        self.confirmed_by = by
        move = LIFECYCLE.chain(self, at, S.CONFIRMED, S.APPLY_QUEUED)
        self.apply.move(PhaseStatus.QUEUED, at)
        return move

    def start_applying(self, at: str) -> Transition:
        move = self._move(S.APPLYING, at)
        self.apply.move(PhaseStatus.RUNNING, at)
        return move

    def finish_apply(self, at: str, *, additions: int, changes: int, destructions: int) -> Transition:
        self.apply.additions, self.apply.changes, self.apply.destructions = additions, changes, destructions
        self.apply.move(PhaseStatus.FINISHED, at)
        return self._move(S.APPLIED, at)

    def discard(self, at: str, comment: str | None, by: str | None) -> Transition:
        if self.status not in DISCARDABLE:
            raise Conflict(f"run {self.id} is {self.status.value}; only pending runs and runs "
                           "waiting for confirmation can be discarded")
        self._comment(comment, by, at)
        self._close_phases(at, PhaseStatus.UNREACHABLE)
        return self._move(S.DISCARDED, at)

    def request_cancel(self, at: str, comment: str | None, by: str | None, *,
                       cooloff_seconds: int) -> Transition | None:
        """Not running yet: canceled now (returns the move). Running: the worker is asked to
        interrupt terraform (returns None) and force-cancel becomes available after the
        cool-off."""
        if self.status not in CANCELABLE:
            raise Conflict(f"run {self.id} is {self.status.value}; cancel is not allowed")
        self._comment(comment, by, at)
        if self.status in RUNNING and self.cancel_requested_at:
            raise Conflict(f"run {self.id} is already being canceled")
        # go-tfe reads force-cancel-available-at after any cancel, a queued run's included
        moment = datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=cooloff_seconds)
        self.force_cancel_available_at = moment.astimezone(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        if self.status in RUNNING:
            self.cancel_requested_at = at
            return None
        self._close_phases(at, PhaseStatus.CANCELED)
        return self._move(S.CANCELED, at)

    def mark_canceled(self, at: str) -> Transition:
        """The worker interrupted terraform after a cancel request."""
        self._close_phases(at, PhaseStatus.CANCELED)
        return self._move(S.CANCELED, at)

    def force_cancel(self, at: str, now: datetime, comment: str | None, by: str | None) -> Transition:
        if not self.is_force_cancelable(now):
            raise Conflict(f"run {self.id} cannot be force-canceled: it must be canceled first "
                           "and the cool-off period must have passed")
        self._comment(comment, by, at)
        self._close_phases(at, PhaseStatus.CANCELED)
        return self._move(S.FORCE_CANCELED, at)

    def fail(self, at: str, reason: str) -> Transition:
        self.error_text = reason
        self._close_phases(at, PhaseStatus.ERRORED)
        return self._move(S.ERRORED, at)

    def _close_phases(self, at: str, status: PhaseStatus) -> None:
        for phase in (self.plan, self.apply):
            if phase.status not in PHASE_FINAL:
                started = phase.status in (PhaseStatus.RUNNING, PhaseStatus.QUEUED)
                phase.move(status if started else PhaseStatus.UNREACHABLE, at)

    def add_comment(self, body: object, by: str | None, at: str) -> int:
        """A comment on the run (HCP's comments API); its index among the run's comments."""
        if not isinstance(body, str) or not body.strip():
            raise Unprocessable("a comment needs a body", pointer="/data/attributes/body")
        if len(body) > MAX_COMMENT or len(self.comments) >= MAX_COMMENTS:
            raise Unprocessable(f"a comment holds at most {MAX_COMMENT} characters and a run "
                                f"at most {MAX_COMMENTS} comments", pointer="/data/attributes/body")
        self._comment(body, by, at)
        return len(self.comments) - 1

    def _comment(self, comment: str | None, by: str | None, at: str) -> None:
        if comment:
            self.comments = [*self.comments, {"body": str(comment)[:MAX_COMMENT], "by": by, "at": at}]
