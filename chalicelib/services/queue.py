"""The workspace queue: runs and Terrakube jobs of a workspace take turns in its one slot
(`current_run_id` holds a run id or a job id). The oldest waiting one goes next (two Limit-1
Queries), unless the workspace is locked. Every claim and release is a conditional write, so
`schedule` is safe to call from anywhere, any number of times.

The queue starts what it picks through a starter per kind ("run", "job"), registered where the
app is wired (chalicelib/wiring.py): the run and job services both use the queue, and the queue
imports neither."""
from __future__ import annotations

from typing import Callable

from ..domain.errors import Conflict
from ..storage import jobs as job_store
from ..storage import runs as run_store
from ..storage import workspaces as workspace_store

# kind -> start(holder_id) -> True when it started (False: it can no longer start)
_starters: dict[str, Callable[[str], bool]] = {}


def register_starter(kind: str, start: Callable[[str], bool]) -> None:
    _starters[kind] = start


def kind_of(holder_id: str) -> str:
    return "job" if holder_id.startswith("job-") else "run"


def schedule(workspace_id: str) -> None:
    """Start the oldest waiting run or job if the workspace is free and not locked."""
    for _ in range(20):
        ws = workspace_store.find(workspace_id)
        if ws is None:
            return
        if ws.current_run_id:
            if _holds_workspace(ws.current_run_id):
                return
            release(workspace_id, ws.current_run_id)   # a finished holder: free the slot
            continue
        if ws.locked:
            return
        next_id = _oldest_waiting(workspace_id)
        if next_id is None:
            return
        try:
            workspace_store.claim_slot(workspace_id, next_id)
        except Conflict:
            return      # someone else claimed it (or it was locked meanwhile)
        started = _starters[kind_of(next_id)](next_id)
        if started:
            return
        release(workspace_id, next_id)   # canceled or discarded between the query and the claim
        if started is None:
            return      # it waits for its configuration version (whose hook schedules again)


def _holds_workspace(holder_id: str) -> bool:
    holder = (job_store if kind_of(holder_id) == "job" else run_store).find(holder_id)
    return holder is not None and not holder.is_final


def _oldest_waiting(workspace_id: str) -> str | None:
    """The older of the oldest pending run and the oldest pending job."""
    run_id = run_store.oldest_pending_id(workspace_id)
    job = job_store.oldest_pending(workspace_id)
    if job is None or run_id is None:
        return run_id or (job.id if job else None)
    run = run_store.find(run_id)
    return run_id if run is not None and run.created_at <= job.created_at else job.id


def release(workspace_id: str, holder_id: str) -> None:
    """Free the slot if `holder_id` still holds it; someone else holding it is left alone."""
    try:
        workspace_store.release_slot(workspace_id, holder_id)
    except Conflict:
        pass


def release_and_schedule(workspace_id: str, holder_id: str) -> None:
    release(workspace_id, holder_id)
    schedule(workspace_id)
