"""Where the aggregates are connected: hook subscriptions and the workspace queue's starters.
Called once by app.py (the API, the workers and the dev stack all import the app), so nothing
is registered as a side effect of importing a module."""
from __future__ import annotations

from .services import hooks, jobs, queue, runs, signing, tasks, variables


def wire() -> None:
    signing.require_key()
    queue.register_starter("run", runs.start_waiting)
    queue.register_starter("job", jobs.start)
    hooks.subscribe("cv_uploaded", runs.auto_queue)
    hooks.subscribe("cv_processed", runs.on_cv_processed)
    hooks.subscribe("cv_processed", jobs.on_cv_processed)
    hooks.subscribe("workspace_unlocked", queue.schedule)
    hooks.subscribe("run_finished", tasks.record_run_event)
    hooks.subscribe("workspace_deleted", variables.forget_workspace)
