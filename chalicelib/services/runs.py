"""Runs: create, read, list, the four actions, the workspace queue, and the events the state
machine sends back. Every change goes through chalicelib/domain/runs.py and a versioned,
status-conditional write."""
from __future__ import annotations

import logging
import warnings
from typing import Callable

from pynamodb.exceptions import UpdateError

from ..aws import executions
from ..config import settings
from ..domain.access import Principal
from ..domain.clock import now, now_iso
from ..domain.errors import Conflict, NotFound, Unprocessable, flag
from ..domain.ids import new_id
from ..domain.runs import Run, RunOptions, RunStatus
from ..storage import repositories as repo
from ..storage.models import ConfigurationVersionModel, RunModel, WorkspaceModel
from . import configuration_versions, hooks, identity, workspaces

log = logging.getLogger(__name__)
# Powertools wants a Lambda context to bound in-progress records; the window is ours instead.
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")


# -- reading ---------------------------------------------------------------------------------

def get(principal: Principal, run_id: str) -> Run:
    run = repo.find_run(run_id) if run_id.startswith("run-") else None
    if run is None or not principal.can_see_org(run.org):
        raise NotFound(f"run {run_id} not found")
    return run


def get_by_phase(principal: Principal, phase_id: str, kind: str) -> Run:
    prefix = f"{kind}-"
    if not phase_id.startswith(prefix):
        raise NotFound(f"{kind} {phase_id} not found")
    run = repo.find_run("run-" + phase_id[len(prefix):])
    if run is None or not principal.can_see_org(run.org):
        raise NotFound(f"{kind} {phase_id} not found")
    return run


def list_page(principal: Principal, workspace_id: str, page: int, size: int,
              filters: dict[str, set[str]]) -> tuple[list[Run], int]:
    ws = workspaces.get(principal, workspace_id)
    if not filters:
        return repo.run_page(ws.id, int(ws.run_seq or 0), page, size), int(ws.run_seq or 0)
    condition = None
    for field, values in filters.items():
        attr = {"status": RunModel.status, "source": RunModel.source}.get(field)
        if attr is None:
            continue
        clause = attr.is_in(*values)
        condition = clause if condition is None else condition & clause
    runs = repo.runs_filtered(ws.id, condition) if condition is not None else \
        repo.run_page(ws.id, int(ws.run_seq or 0), 1, int(ws.run_seq or 0) or 1)
    if "operation" in filters:
        runs = [r for r in runs if operation(r) in filters["operation"]]
    return runs[(page - 1) * size: page * size], len(runs)


def operation(run: Run) -> str:
    """TFE's filter[operation] values."""
    if run.options.is_destroy:
        return "destroy"
    if run.options.refresh_only:
        return "refresh_only"
    if run.options.plan_only or run.speculative:
        return "plan_only"
    return "plan_and_apply"


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
        cv_id = ws.current_cv_id
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
    if not cv.usable_for_runs:
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
    stamp = now_iso()

    def build(seq: int) -> Run:
        return Run(id=new_id("run"), workspace_id=ws.id, org=ws.org, cv_id=cv.id, seq=seq,
                   created_at=stamp, options=options, speculative=cv.speculative, source=source,
                   created_by=principal.user_id, status_timestamps={"pending-at": stamp},
                   terraform_version=terraform_version(ws.terraform_version))

    run = repo.insert_run(ws, build)
    _count_cv_use(cv.id, +1)
    if run.takes_workspace_lock:
        schedule(ws.id)
    else:
        _start(run)     # speculative and plan-only runs do not wait for the workspace
    return repo.find_run(run.id) or run


def terraform_version(requested: str) -> str:
    from ..workers.terraform import binary_version
    return binary_version() if requested in (None, "", "latest") else requested


def _count_cv_use(cv_id: str, delta: int) -> None:
    try:
        ConfigurationVersionModel(id=cv_id).update(
            actions=[ConfigurationVersionModel.active_runs.add(delta)],
            condition=ConfigurationVersionModel.id.exists())
    except UpdateError:
        log.warning("could not count a run on configuration version %s", cv_id)


# -- the workspace queue ---------------------------------------------------------------------------

def schedule(workspace_id: str) -> None:
    """Start the oldest waiting lock-taking run or Terrakube job if the workspace is free and
    not locked (runs and jobs share the queue). Safe to call from anywhere, any number of
    times: the claim is a conditional write."""
    for _ in range(20):
        try:
            ws = WorkspaceModel.get(workspace_id)
        except WorkspaceModel.DoesNotExist:
            return
        if ws.current_run_id:
            if _holds_workspace(ws.current_run_id):
                return
            _release(workspace_id, ws.current_run_id)   # a finished holder: free the slot
            continue
        if ws.locked:
            return
        next_id = _oldest_waiting(workspace_id)
        if next_id is None:
            return
        try:
            ws.update(actions=[WorkspaceModel.current_run_id.set(next_id)],
                      condition=WorkspaceModel.current_run_id.does_not_exist()
                      & (WorkspaceModel.locked == False))  # noqa: E712
        except UpdateError:
            return      # someone else claimed it (or it was locked meanwhile)
        if next_id.startswith("job-"):
            from . import jobs
            if jobs.start(next_id):
                return
        else:
            run = repo.find_run(next_id)
            if run is not None and run.status == RunStatus.PENDING:
                try:
                    _start(run)
                    return
                except Conflict:
                    pass    # canceled or discarded between the query and the claim
        _release(workspace_id, next_id)


def _holds_workspace(holder_id: str) -> bool:
    if holder_id.startswith("job-"):
        job = repo.find_job(holder_id)
        return job is not None and not job.is_final
    holder = repo.find_run(holder_id)
    return holder is not None and not holder.is_final


def _oldest_waiting(workspace_id: str) -> str | None:
    """The older of the oldest pending run and the oldest pending job (two Limit-1 Queries)."""
    run_id = repo.oldest_pending_run_id(workspace_id)
    job = repo.oldest_pending_job(workspace_id)
    if job is None or run_id is None:
        return run_id or (job.id if job else None)
    run = repo.find_run(run_id)
    return run_id if run is not None and run.created_at <= job.created_at else job.id


def release_and_schedule(workspace_id: str, holder_id: str) -> None:
    _release(workspace_id, holder_id)
    schedule(workspace_id)


def _start(run: Run) -> None:
    move = run.queue_plan(now_iso())
    repo.save_run(run, move)
    executions.start(run.id)


def _release(workspace_id: str, run_id: str) -> None:
    try:
        WorkspaceModel(id=workspace_id).update(
            actions=[WorkspaceModel.current_run_id.remove()],
            condition=WorkspaceModel.current_run_id == run_id)
    except UpdateError:
        pass


def finished(run: Run) -> None:
    """After any final status: free the workspace and start the next run."""
    _count_cv_use(run.cv_id, -1)
    if run.takes_workspace_lock:
        _release(run.workspace_id, run.id)
        schedule(run.workspace_id)
    hooks.run_finished(run)


def mutate(run_id: str, change: Callable[[Run], object], *, attempts: int = 5):
    """Load, apply a domain change, save (conditional on status and version); a concurrent
    write means reload and decide again."""
    return repo.retry_change(
        f"run {run_id}", lambda: repo.find_run(run_id),
        lambda run, result: repo.save_run(run, result if hasattr(result, "from_status") else None),
        repo.StaleRun, change, attempts=attempts)


# -- actions -------------------------------------------------------------------------------------

def apply(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("apply runs")
    get(principal, run_id)
    run, _ = mutate(run_id, lambda r: r.confirm(now_iso(), comment, principal.user_id))
    run, _ = mutate(run_id, lambda r: r.queue_apply(now_iso()))
    if run.confirm_token:
        executions.succeed(run.confirm_token, {"decision": "apply"})
    # else: the state machine's token has not arrived yet; its handler completes it on arrival


def discard(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("discard runs")
    get(principal, run_id)
    run, _ = mutate(run_id, lambda r: r.discard(now_iso(), comment, principal.user_id))
    if run.confirm_token:
        executions.succeed(run.confirm_token, {"decision": "discard"})
    finished(run)


def cancel(principal: Principal, run_id: str, comment: str | None) -> None:
    principal.require_user_or_team("cancel runs")
    get(principal, run_id)
    cooloff = settings().force_cancel_cooloff_seconds
    run, move = mutate(run_id, lambda r: r.request_cancel(now_iso(), comment, principal.user_id,
                                                           cooloff_seconds=cooloff))
    if move is not None:   # not running: canceled at once
        if run.confirm_token:
            executions.succeed(run.confirm_token, {"decision": "discard"})
        finished(run)
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
        executions.succeed(token, {"decision": "apply"})
    elif run.status != RunStatus.PLANNED:
        executions.succeed(token, {"decision": "discard"})


def on_phase_failed(run_id: str, error: str, cause: str) -> None:
    """The state machine caught a failure: heartbeat or phase timeout (dead worker), or a task
    failure. The run errors and the workspace is freed."""
    run = repo.find_run(run_id)
    if run is None or run.is_final:
        return
    reason = {"States.Timeout": "the worker stopped sending heartbeats or the phase timed out",
              "States.HeartbeatTimeout": "the worker stopped sending heartbeats"}.get(error, error)
    try:
        run, _ = mutate(run_id, lambda r: r.fail(now_iso(), f"{reason} ({cause or error})".strip()))
    except Conflict:
        return   # it reached a final status meanwhile
    finished(run)


def on_dead_letter(run_id: str, token: str | None, phase: str) -> None:
    """A task message failed repeatedly and reached its DLQ: the run errors with that reason."""
    run = repo.find_run(run_id)
    if run is not None and not run.is_final:
        try:
            run, _ = mutate(run_id, lambda r: r.fail(
                now_iso(), f"the {phase} task failed repeatedly and was moved to the dead-letter queue"))
            finished(run)
        except Conflict:
            pass
    if token:
        executions.fail(token, "DeadLetter", f"{phase} task moved to the dead-letter queue")


@hooks.on_workspace_unlocked
def _unlocked(workspace_id: str) -> None:
    schedule(workspace_id)


@hooks.on_cv_uploaded
def _auto_queue(cv) -> None:
    """auto-queue-runs: an uploaded version queues a run on its workspace."""
    if cv.auto_queue_runs:
        create(identity.system_principal(), {"message": "Triggered by an upload with auto-queue-runs"},
               cv.workspace_id, cv.id, source="tfe-configuration-version")


def active_in_org(org: str) -> list[Run]:
    """The organization's run queue: each workspace's active run and its waiting runs
    (a Query per workspace of the organization)."""
    out: list[Run] = []
    for ws in workspaces.list_all_in_org(org):
        ids = ([ws.current_run_id] if ws.current_run_id else []) + \
            [i.id for i in RunModel.pending.query(ws.id)]
        for run_id in ids:
            run = repo.find_run(run_id)
            if run is not None and not run.is_final:
                out.append(run)
    return out


# -- idempotent creation -------------------------------------------------------------------------

_persistence: list = []


def _idempotency_store():
    if not _persistence:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
        from ..aws.clients import client
        _persistence.append(DynamoDBPersistenceLayer(
            table_name=settings().table("idempotency"), boto3_client=client("dynamodb")))
    return _persistence[0]


def create_idempotent(principal: Principal, attrs: dict, workspace_id, cv_id) -> Run:
    """pytfe retries POST /runs on 429/502/503/504: the same token sending the same body within
    TERRALESS_RUN_DEDUP_SECONDS gets the run the first request created (Powertools idempotency
    records in DynamoDB), never a duplicate."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
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
    run = repo.find_run(result["run_id"])
    if run is None:
        raise NotFound("run not found")
    return run
