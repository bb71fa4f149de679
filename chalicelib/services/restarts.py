"""What a restart of the dev stack settles before the service answers again.

The journal (local/journal.py) brings back every acknowledged write; what was in flight lived
in SQS messages, Step Functions executions and worker processes, none of which survive (by
design: nothing from before the restart may act twice). So, once, at start:

- a run waiting for its workspace (`pending`) waits on; one queued for a plan that never began
  (`plan_queued`) gets a new execution and proceeds;
- every other unfinished run lost its phase or its execution: it ends `errored` with the
  reason RESTARTED, its leases end (a runner from before is refused) and its workspace goes
  to the next waiting run;
- Terrakube jobs likewise: `pending` ones wait on, the others end `failed`;
- a configuration version still `pending` whose archive is stored (its upload event was lost)
  is processed now."""
from __future__ import annotations

import logging

from ..aws import blobs, executions
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound
from ..domain.jobs import JobStatus
from ..domain.runs import RunStatus
from ..storage import configuration_versions as cv_store
from ..storage import jobs as job_store
from ..storage import keys
from ..storage import runs as run_store
from . import configuration_versions, jobs, queue, runs

log = logging.getLogger(__name__)
RESTARTED = "the service restarted while this run was in progress"
JOB_RESTARTED = "the service restarted while this job was in progress"


def _close_leases(run) -> None:
    for phase in (run.plan, run.apply):
        if phase.lease is not None:
            phase.lease.closed = True


def _end_run(run_id: str) -> bool:
    def fail(r):
        _close_leases(r)
        return r.fail(now_iso(), RESTARTED)
    try:
        run, _ = runs.mutate(run_id, fail)
    except (Conflict, NotFound):
        return False
    runs.finished(run)
    return True


def _end_job(job_id: str) -> bool:
    def fail(j):
        for step in j.steps:
            if step.lease is not None:
                step.lease.closed = True
        return j.end(JobStatus.FAILED, now_iso())
    return jobs.end_with(job_id, fail, JOB_RESTARTED) is not None


def reconcile() -> dict:
    done = {"runs_errored": 0, "runs_restarted": 0, "jobs_failed": 0, "uploads_processed": 0}
    waiting: set[str] = set()
    for run in run_store.unfinished_at_start():
        if run.status == RunStatus.PENDING:
            waiting.add(run.workspace_id)
        elif run.status == RunStatus.PLAN_QUEUED:
            executions.start(run.id)            # the plan never began: it just proceeds
            done["runs_restarted"] += 1
        elif _end_run(run.id):
            done["runs_errored"] += 1
    for job in job_store.unfinished_at_start():
        if job.status == JobStatus.PENDING:
            waiting.add(job.workspace_id)
        elif _end_job(job.id):
            done["jobs_failed"] += 1
    for workspace_id in waiting:
        queue.schedule(workspace_id)
    for cv in cv_store.pending_at_start():
        key = keys.cv_archive(cv.id)
        if blobs.head(key) is not None:
            configuration_versions.process_uploaded_object(key, None)
            done["uploads_processed"] += 1
    if any(done.values()):
        log.warning("after the restart: %s", done)
    return done
