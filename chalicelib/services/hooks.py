"""Events between aggregates, so one service does not import another that imports it back.
Subscriptions are made in one place, where the app is wired (chalicelib/wiring.py), never as a
side effect of importing a module:

- `cv_uploaded(cv)`: the runs service queues a run (auto-queue-runs);
- `workspace_unlocked(workspace_id)`: the workspace queue starts what a lock kept waiting;
- `run_finished(run)`: the CTS tasks service records the task's event;
- `workspace_deleted(workspace_id)`: the variables service forgets its variables and sets."""
from __future__ import annotations

from typing import Callable

EVENTS = ("cv_uploaded", "cv_processed", "workspace_unlocked", "run_finished", "workspace_deleted")
_subscribers: dict[str, list[Callable]] = {event: [] for event in EVENTS}


def subscribe(event: str, fn: Callable) -> None:
    if fn not in _subscribers[event]:
        _subscribers[event].append(fn)


def _emit(event: str, *args) -> None:
    for fn in list(_subscribers[event]):
        fn(*args)


def cv_uploaded(cv) -> None:
    _emit("cv_uploaded", cv)


def cv_processed(cv) -> None:
    """Uploaded or errored: runs that waited for it proceed or error."""
    _emit("cv_processed", cv)


def workspace_unlocked(workspace_id: str) -> None:
    _emit("workspace_unlocked", workspace_id)


def run_finished(run) -> None:
    _emit("run_finished", run)


def workspace_deleted(workspace_id: str) -> None:
    _emit("workspace_deleted", workspace_id)
