"""Comments on runs (HCP's comments API): kept on the run item, given with apply, discard or
cancel, or added on their own; a comment's id is its run's suffix and its index."""
from __future__ import annotations

from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import NotFound
from ..domain.runs import Run
from ..storage import runs as run_store
from . import runs


def add_comment(principal: Principal, run_id: str, body: object) -> tuple[Run, int]:
    runs.get(principal, run_id)     # another organization's run: 404 before anything else
    principal.require_user_or_team("comment on runs")
    return runs.mutate(run_id, lambda r: r.add_comment(body, principal.user_id, now_iso()))


def comment_of(principal: Principal, comment_id: str) -> tuple[Run, int]:
    """A comment by its id: its run's suffix (16 characters) and its index."""
    rest = comment_id.removeprefix("wsc-")
    index = rest[16:]
    if not comment_id.startswith("wsc-") or not index.isdigit() or len(index) > 3:
        raise NotFound(f"comment {comment_id} not found")
    run = run_store.find(f"run-{rest[:16]}")
    if run is None or not principal.can_see_org(run.org) or int(index) >= len(run.comments):
        raise NotFound(f"comment {comment_id} not found")
    return run, int(index)
