"""Runs: create, read, list, the four actions, and the events the state machine sends back.
Every change goes through chalicelib/domain/runs.py and one versioned, status-conditional write
(storage/runs.py `save`); the workspace queue is services/queue.py."""
from __future__ import annotations

import logging
import time
import warnings
from typing import Callable

from ..aws import blobs, executions
from ..config import settings
from ..domain.access import Principal
from ..domain.clock import now, now_iso
from ..domain.errors import Conflict, NotFound, Unprocessable, flag
from ..domain.ids import new_id
from ..domain.leases import WORKER_LOST
from ..domain.outcomes import Outcome
from ..domain.runs import Run, RunOptions, RunStatus
from ..executor import staging
from ..domain.configuration_versions import CVStatus
from ..storage import base, keys
from ..storage import configuration_versions as cv_store
from ..storage import runs as store
from ..storage import workspaces as workspace_store
from . import configuration_versions, hooks, identity, queue, variables, workspaces

log = logging.getLogger(__name__)
# Powertools wants a Lambda context to bound in-progress records; the window is ours instead.
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")


# -- reading ---------------------------------------------------------------------------------

def get(principal: Principal, run_id: str) -> Run:
    run = store.find(run_id) if run_id.startswith("run-") else None
    if run is None or not principal.can_see_org(run.org):
        raise NotFound(f"run {run_id} not found")
    return run


def get_by_phase(principal: Principal, phase_id: str, kind: str) -> Run:
    prefix = f"{kind}-"
    if not phase_id.startswith(prefix):
        raise NotFound(f"{kind} {phase_id} not found")
    run = store.find("run-" + phase_id[len(prefix):])
    if run is None or not principal.can_see_org(run.org):
        raise NotFound(f"{kind} {phase_id} not found")
    return run


def list_page(principal: Principal, workspace_id: str, page: int, size: int,
              filters: dict[str, set[str]], searches: dict[str, str] | None = None) -> tuple[list[Run], int]:
    """`searches`: HCP's search[user] (the VCS sender), search[commit] (the commit's sha) and
    search[basic] (either, or the run's id or message), read from each run's configuration
    version's ingress attributes (one read per configuration version)."""
    ws = workspaces.get(principal, workspace_id)
    if not filters and not searches:
        return store.page(ws.id, ws.run_seq, page, size), ws.run_seq
    runs = store.filtered(ws.id, filters)
    if "operation" in filters:
        runs = [r for r in runs if r.operation in filters["operation"]]
    if searches:
        ingress = {cv_id: (cv.ingress if cv else None) or {}
                   for cv_id in {r.cv_id for r in runs} for cv in [cv_store.find(cv_id)]}
        runs = [r for r in runs if r.matches_search(ingress[r.cv_id], searches)]
    return runs[(page - 1) * size: page * size], len(runs)



def await_final(principal: Principal, run_id: str, timeout: float) -> Run:
    """For the synchronous CTS calls (run=now, run=inspect): the run once it has ended, read
    with a growing interval (0.1 s to 1 s) so a quick plan answers quickly and a long one costs
    few reads. Conflict when it has not ended within `timeout`."""
    deadline, interval = time.monotonic() + timeout, 0.1
    while True:
        run = get(principal, run_id)
        if run.is_final:
            return run
        if time.monotonic() > deadline:
            raise Conflict(f"run {run_id} did not finish within {timeout:.0f} s")
        time.sleep(interval)
        interval = min(1.0, interval * 1.5)


# -- creating ----------------------------------------------------------------------------------

def _list(attrs: dict, name: str) -> list:
    value = attrs.get(name) or []
    if not isinstance(value, list):
        raise Unprocessable(f"{name} must be a list", pointer=f"/data/attributes/{name}")
    return value


def create(principal: Principal, attrs: dict, workspace_id: str | None, cv_id: str | None,
           *, source: str = "tfe-api") -> Run:
    principal.require_user_or_team("create runs")
    if not isinstance(workspace_id, str) or not workspace_id:
        raise Unprocessable("the workspace relationship is required",
                            pointer="/data/relationships/workspace")
    ws = workspaces.get(principal, workspace_id)
    if cv_id is None:
        cv_id = configuration_versions.latest_for_runs(ws)
        if not cv_id:
            raise Unprocessable("the workspace has no uploaded configuration version",
                                pointer="/data/relationships/configuration-version")
    try:
        cv = configuration_versions.get(principal, cv_id) if isinstance(cv_id, str) else None
    except NotFound:
        cv = None
    if cv is None or cv.org != ws.org:
        raise Unprocessable(f"configuration version {cv_id} not found",
                            pointer="/data/relationships/configuration-version")
    if not (cv.usable_for_runs or configuration_versions.received(cv)):
        raise Unprocessable(f"configuration version {cv.id} is {cv.status.value}, not uploaded",
                            pointer="/data/relationships/configuration-version")
    message = attrs.get("message")
    if message is not None and not isinstance(message, str):
        raise Unprocessable("message must be a string", pointer="/data/attributes/message")
    is_destroy = flag(attrs, "is-destroy", False)
    explicit_auto_apply = attrs.get("auto-apply")
    auto_apply = flag(attrs, "auto-apply", ws.auto_apply and not is_destroy)
    options = RunOptions(
        message=message or RunOptions.message, is_destroy=is_destroy,
        auto_apply=auto_apply if explicit_auto_apply is not None or not is_destroy else False,
        plan_only=flag(attrs, "plan-only", False) or cv.speculative,
        refresh=flag(attrs, "refresh", True), refresh_only=flag(attrs, "refresh-only", False),
        target_addrs=_list(attrs, "target-addrs"), replace_addrs=_list(attrs, "replace-addrs"),
        variables=_list(attrs, "variables")).validate()
    variables.check_run_variables(options.variables)
    stamp = now_iso()

    def build(seq: int) -> Run:
        return Run(id=new_id("run"), workspace_id=ws.id, org=ws.org, cv_id=cv.id, seq=seq,
                   created_at=stamp, options=options, speculative=cv.speculative, source=source,
                   created_by=principal.user_id, status_timestamps={"pending-at": stamp},
                   terraform_version=terraform_version(ws.terraform_version, ws.engine, ws.execution_mode == "agent"))

    run = store.insert(ws, build)
    configuration_versions.count_run(cv.id, +1)
    _proceed(run)
    return store.find(run.id) or run


def _proceed(run: Run) -> None:
    """A new run (or one whose configuration version just finished processing) goes on:
    into the workspace's queue, or straight to its plan when it takes no lock; a run whose
    version is still processing waits (on_cv_processed starts it)."""
    if run.takes_workspace_lock:
        queue.schedule(run.workspace_id)
        return
    cv = cv_store.find(run.cv_id)
    if cv is not None and cv.in_progress:
        return
    try:
        _start(run)     # speculative and plan-only runs do not wait for the workspace
    except Conflict:
        pass            # started already (the version's hook and the creator both try)


def on_cv_processed(cv) -> None:
    """A configuration version finished processing: the runs that waited for it proceed, or
    error with its reason. They are among the workspace's newest runs."""
    for run in store.newest(cv.workspace_id, limit=50):
        if run.cv_id != cv.id or run.status != RunStatus.PENDING:
            continue
        if cv.status == CVStatus.ERRORED:
            try:
                failed, _ = mutate(run.id, lambda r: r.fail(
                    now_iso(), f"configuration version {cv.id} errored: {cv.error_message or ''}".strip()))
            except Conflict:
                continue
            finished(failed)
        else:
            _proceed(run)


def terraform_version(requested: str, engine: str = "terraform", on_agents: bool = False) -> str:
    """The version a run records; a workspace whose engine this service cannot run is refused
    here, before anything is stored — but an agent-mode workspace runs its agents' OpenTofu."""
    if engine == "tofu":
        try:
            return staging.binary_version("tofu")
        except staging.EngineUnavailable as exc:
            if not on_agents:
                raise Unprocessable(f"the workspace's engine is tofu: {exc}") from exc
    if requested not in (None, "", "latest"):
        return requested
    return "latest" if engine == "tofu" else settings().terraform_version or staging.binary_version()


def start_waiting(run_id: str) -> bool | None:
    """The queue's starter: the run got its workspace. False if it can no longer start
    (canceled or discarded between the queue's query and its claim); None if it must wait for
    its configuration version (still processing), and the runs behind it with it."""
    run = store.find(run_id)
    if run is None or run.status != RunStatus.PENDING:
        return False
    cv = cv_store.find(run.cv_id)
    if cv is not None and cv.in_progress:
        return None
    try:
        _start(run)
        return True
    except Conflict:
        return False


def _start(run: Run) -> None:
    move = run.queue_plan(now_iso())
    store.save(run, move)
    executions.start(run.id)


def finished(run: Run) -> None:
    """After any final status: free the workspace and start the next run."""
    configuration_versions.count_run(run.cv_id, -1)
    if run.takes_workspace_lock:
        queue.release_and_schedule(run.workspace_id, run.id)
    hooks.run_finished(run)


def mutate(run_id: str, change: Callable[[Run], object], *, attempts: int = 5):
    """Load, apply a domain change, save (conditional on status and version); a concurrent
    write means reload and decide again."""
    return base.retry_change(
        f"run {run_id}", lambda: store.find(run_id),
        lambda run, result: store.save(run, result if hasattr(result, "from_status") else None),
        change, attempts=attempts)


# -- actions -------------------------------------------------------------------------------------

def apply(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("apply runs")
    get(principal, run_id)
    run, _ = mutate(run_id, lambda r: r.confirm(now_iso(), comment, principal.user_id))
    if run.confirm_token:
        executions.succeed(run.confirm_token, Outcome.APPLY.answer())
    # else: the state machine's token has not arrived yet; its handler completes it on arrival


def discard(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("discard runs")
    get(principal, run_id)
    run, _ = mutate(run_id, lambda r: r.discard(now_iso(), comment, principal.user_id))
    _ended_before_apply(run)


def _ended_before_apply(run: Run) -> None:
    """Discarded or canceled before an apply: a confirmation the state machine may be waiting
    for is answered `discard`, and the workspace is handed on."""
    if run.confirm_token:
        executions.succeed(run.confirm_token, Outcome.DISCARD.answer())
    finished(run)


def cancel(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("cancel runs")
    get(principal, run_id)
    cooloff = settings().force_cancel_cooloff_seconds
    run, move = mutate(run_id, lambda r: r.request_cancel(now_iso(), comment, principal.user_id,
                                                           cooloff_seconds=cooloff))
    if move is not None:   # not running: canceled at once
        _ended_before_apply(run)
    # running: the worker sees cancel_requested_at, interrupts terraform, records canceled


def force_cancel(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("force-cancel runs")
    get(principal, run_id)
    run, _ = mutate(run_id, lambda r: r.force_cancel(now_iso(), now(), comment, principal.user_id))
    executions.stop(run.id, "force-canceled")
    finished(run)     # the worker, if alive, sees force_canceled and kills terraform


# -- events from the state machine and the dead-letter queues --------------------------------------

def on_awaiting_confirmation(run_id: str, token: str) -> None:
    """Keep the confirmation token; if the run was confirmed/discarded before it arrived,
    complete it now."""
    def keep(run: Run):
        if run.status == RunStatus.PLANNED:
            run.confirm_token = token
        return None
    run, _ = mutate(run_id, keep)
    if run.status in (RunStatus.CONFIRMED, RunStatus.APPLY_QUEUED):
        executions.succeed(token, Outcome.APPLY.answer())
    elif run.status != RunStatus.PLANNED:
        executions.succeed(token, Outcome.DISCARD.answer())


def on_phase_failed(run_id: str, error: str, cause: str) -> None:
    """The state machine caught a failure: heartbeat or phase timeout (dead worker), or a task
    failure. The run errors and the workspace is freed."""
    run = store.find(run_id)
    if run is None or run.is_final:
        return
    reason = {"States.Timeout": "the phase waited for a worker or ran longer than allowed",
              WORKER_LOST: "the worker stopped sending heartbeats"}.get(error, error)
    try:
        run, _ = mutate(run_id, lambda r: r.fail(now_iso(), f"{reason} ({cause or error})".strip()))
    except Conflict:
        return   # it reached a final status meanwhile
    finished(run)


def on_dead_letter(run_id: str, token: str | None, phase: str) -> None:
    """A task message failed repeatedly and reached its DLQ: the run errors with that reason."""
    run = store.find(run_id)
    if run is not None and not run.is_final:
        try:
            run, _ = mutate(run_id, lambda r: r.fail(
                now_iso(), f"the {phase} task failed repeatedly and was moved to the dead-letter queue"))
            finished(run)
        except Conflict:
            pass
    if token:
        executions.fail(token, "DeadLetter", f"{phase} task moved to the dead-letter queue")


def auto_queue(cv) -> None:
    """auto-queue-runs: an uploaded version queues a run on its workspace."""
    if cv.auto_queue_runs:
        create(identity.system_principal(), {"message": "Triggered by an upload with auto-queue-runs"},
               cv.workspace_id, cv.id, source="tfe-configuration-version")


def active_in_org(org: str) -> list[Run]:
    """The organization's run queue: each workspace's active run and its waiting runs
    (a Query per workspace of the organization)."""
    out: list[Run] = []
    for ws in workspace_store.of_org(org):
        ids = ([ws.current_run_id] if ws.current_run_id else []) + store.pending_ids(ws.id)
        for run_id in ids:
            run = store.find(run_id) if run_id.startswith("run-") else None
            if run is not None and not run.is_final:
                out.append(run)
    return out


def plan_json_url(principal: Principal, plan_id: str, wait_seconds: float = 30) -> str:
    """The plan's JSON (terraform show -json), which the runner stores just after the run is
    recorded planned: while it is still coming, it is waited for (go-tfe reads it at once)."""
    run = get_by_phase(principal, plan_id, "plan")
    deadline = time.monotonic() + wait_seconds
    while blobs.head(keys.run_plan_json(run.id)) is None:
        if not run.plan_json_coming or time.monotonic() > deadline:
            raise NotFound(f"plan {plan_id} has no JSON output")
        time.sleep(0.2)
        run = store.find(run.id) or run
    return blobs.presign_get(keys.run_plan_json(run.id), ttl=settings().download_url_ttl)


# -- idempotent creation -------------------------------------------------------------------------

_persistence: dict = {}


def _idempotency_store():
    """One per AWS client: a process whose clients were renewed (another emulator, other
    credentials) must not keep writing through the old one."""
    # lazy: Powertools' idempotency (and its boto3 setup) is needed only by POST /runs
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from ..aws.clients import client  # lazy: with the line above
    ddb = client("dynamodb")
    if id(ddb) not in _persistence:
        _persistence.clear()
        _persistence[id(ddb)] = DynamoDBPersistenceLayer(
            table_name=settings().table("idempotency"), boto3_client=ddb)
    return _persistence[id(ddb)]


def create_idempotent(principal: Principal, attrs: dict, workspace_id, cv_id) -> Run:
    """pytfe retries POST /runs on 429/502/503/504: the same token sending the same body within
    TERRALESS_RUN_DEDUP_SECONDS gets the run the first request created (Powertools idempotency
    records in DynamoDB), never a duplicate."""
    # lazy: Powertools' idempotency is needed only by POST /runs (cold start of other routes)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # lazy: as above
        IdempotencyAlreadyInProgressError)

    window = settings().run_dedup_seconds
    if window <= 0:
        return create(principal, attrs, workspace_id, cv_id)

    @idempotent_function(data_keyword_argument="request", persistence_store=_idempotency_store(),
                         config=IdempotencyConfig(expires_after_seconds=window))
    def _create(request: dict) -> dict:
        return {"run_id": create(principal, attrs, workspace_id, cv_id).id}

    try:
        result = _create(request={"token": principal.token_id, "attributes": attrs,
                                  "workspace": workspace_id, "configuration_version": cv_id})
    except IdempotencyAlreadyInProgressError:
        raise Conflict("an identical run creation is in progress; retry shortly") from None
    run = store.find(result["run_id"])
    if run is None:
        raise NotFound("run not found")
    return run
