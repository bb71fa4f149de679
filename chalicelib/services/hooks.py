"""Extension points between aggregates, so the configuration-version service does not import
the run engine: the runs service subscribes to `cv_uploaded` (auto-queue-runs) and to
`workspace_unlocked` (runs kept pending by a manual lock start)."""
from __future__ import annotations

from typing import Callable

_cv_uploaded: list[Callable] = []


def on_cv_uploaded(fn: Callable) -> Callable:
    _cv_uploaded.append(fn)
    return fn


def cv_uploaded(cv) -> None:
    for fn in list(_cv_uploaded):
        fn(cv)


_workspace_unlocked: list[Callable] = []


def on_workspace_unlocked(fn: Callable) -> Callable:
    _workspace_unlocked.append(fn)
    return fn


def workspace_unlocked(workspace_id: str) -> None:
    for fn in list(_workspace_unlocked):
        fn(workspace_id)


_run_finished: list[Callable] = []


def on_run_finished(fn: Callable) -> Callable:
    _run_finished.append(fn)
    return fn


def run_finished(run) -> None:
    for fn in list(_run_finished):
        fn(run)
