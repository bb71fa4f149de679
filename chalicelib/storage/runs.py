"""Runs in DynamoDB. Access patterns: GetItem by id (plan-X / apply-X map to run-X); page N of
a workspace's runs (by_workspace_seq, seq BETWEEN); the oldest run waiting for its workspace
(pending_by_workspace, sparse on queue_ws, Limit 1); runs whose phase's lease is overdue
(open_leases, sparse)."""
from __future__ import annotations

from ..domain.leases import Lease
from ..domain.lifecycle import Transition
from ..domain.runs import FINAL, Phase, PhaseStatus, Run, RunOptions, RunStatus
from ..domain.workspaces import Workspace
from . import base, paging, workspaces
from .models import RunModel as Model
from .models import WorkspaceModel


def _phase_from(data: dict, default_id: str) -> Phase:
    if not data:
        return Phase(id=default_id)
    return Phase(id=data["id"], status=PhaseStatus(data["status"]),
                 status_timestamps=dict(data.get("status_timestamps") or {}),
                 has_changes=bool(data.get("has_changes")), additions=int(data.get("additions", 0)),
                 changes=int(data.get("changes", 0)), destructions=int(data.get("destructions", 0)),
                 log_archived=bool(data.get("log_archived")),
                 lease=Lease.from_dict(data.get("lease")), worker=data.get("worker"))


def _phase_dict(phase: Phase) -> dict:
    return {"id": phase.id, "status": phase.status.value, "status_timestamps": phase.status_timestamps,
            "has_changes": phase.has_changes, "additions": phase.additions, "changes": phase.changes,
            "destructions": phase.destructions, "log_archived": phase.log_archived,
            "lease": phase.lease.to_dict() if phase.lease else None, "worker": phase.worker}


def _from(item: Model) -> Run:
    suffix = item.id.split("-", 1)[1]
    return Run(id=item.id, workspace_id=item.workspace_id, org=item.org, cv_id=item.cv_id,
               seq=int(item.seq), created_at=item.created_at, options=RunOptions(**base.plain(item.options)),
               speculative=item.speculative, source=item.source, created_by=item.created_by,
               status=RunStatus(item.status), status_timestamps=base.plain(item.status_timestamps),
               plan=_phase_from(base.plain(item.plan), f"plan-{suffix}"),
               apply=_phase_from(base.plain(item.apply), f"apply-{suffix}"),
               has_changes=item.has_changes, error_text=item.error_text,
               cancel_requested_at=item.cancel_requested_at,
               force_cancel_available_at=item.force_cancel_available_at,
               confirm_token=item.confirm_token, terraform_version=item.terraform_version,
               comments=list(item.comments or []), confirmed_by=item.confirmed_by,
               state_version_id=item.state_version_id, version=item.version)


def item_of(run: Run) -> Model:
    waiting = run.status == RunStatus.PENDING and run.takes_workspace_lock
    item = Model(
        id=run.id, workspace_id=run.workspace_id, org=run.org, cv_id=run.cv_id, seq=run.seq,
        queue_ws=run.workspace_id if waiting else None, status=run.status.value,
        status_timestamps=run.status_timestamps, created_at=run.created_at,
        created_by=run.created_by, source=run.source, speculative=run.speculative,
        options=vars(run.options), plan=_phase_dict(run.plan), apply=_phase_dict(run.apply),
        has_changes=run.has_changes, error_text=run.error_text,
        cancel_requested_at=run.cancel_requested_at,
        force_cancel_available_at=run.force_cancel_available_at,
        confirm_token=run.confirm_token, terraform_version=run.terraform_version,
        comments=run.comments, confirmed_by=run.confirmed_by, state_version_id=run.state_version_id,
        **base.lease_index(run.plan.lease, run.apply.lease))
    if run.version is not None:
        item.version = run.version
    return item


def find(run_id: str) -> Run | None:
    return base.find(Model, _from, run_id)


def insert(ws: Workspace, build) -> Run:
    run, item = base.insert_in_sequence(
        [(workspaces.item_of(ws), WorkspaceModel.run_seq)], build, item_of,
        extra_actions=lambda r: (WorkspaceModel.latest_run_id.set(r.id),))
    run.version = item.version
    return run


def save(run: Run, move: Transition | None = None) -> None:
    item = item_of(run)
    base.save(item, Model.status, (move.from_status if move else run.status).value, f"run {run.id}")
    run.version = item.version


def newest(workspace_id: str, limit: int = 50) -> list[Run]:
    """A workspace's newest runs, newest first (one bounded Query)."""
    return [_from(item) for item in Model.by_workspace.query(
        workspace_id, scan_index_forward=False, limit=limit)]


def page(workspace_id: str, total: int, number: int, size: int) -> list[Run]:
    return paging.page_by_seq(Model.by_workspace, workspace_id, Model.seq, total, number, size, _from)


FILTERABLE = {"status": Model.status, "source": Model.source}


def filtered(workspace_id: str, filters: dict[str, set[str]]) -> list[Run]:
    """Filtered listings read the workspace's partition with a filter (cost grows with it)."""
    condition = None
    for name, values in filters.items():
        if name in FILTERABLE:
            clause = FILTERABLE[name].is_in(*values)
            condition = clause if condition is None else condition & clause
    return [_from(i) for i in Model.by_workspace.query(
        workspace_id, filter_condition=condition, scan_index_forward=False)]


def oldest_pending_id(workspace_id: str) -> str | None:
    return base.first(Model.pending.query(workspace_id, limit=1, scan_index_forward=True),
                      lambda item: item.id)


def unfinished_at_start() -> list[Run]:
    return base.unfinished_at_start(Model, _from, FINAL)


def overdue_lease_ids(now: float, limit: int = 100) -> list[str]:
    return base.overdue_lease_ids(Model, now, limit)


def pending_ids(workspace_id: str) -> list[str]:
    return [item.id for item in Model.pending.query(workspace_id)]
