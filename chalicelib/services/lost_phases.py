"""Phases whose worker is lost: claimed, then no heartbeat before the lease's due time.

The state machine's tasks carry no heartbeat of their own (a phase waiting for a worker must
never error for waiting; its only limit there is the generous queue time). Liveness starts at
pickup, with the lease (domain/leases.py): every runner heartbeat renews it. A scheduled sweep
finds the overdue leases (the sparse open_leases index: one Query), fails each one's task with
WORKER_LOST — the state machine's Catch then errors the run or job as before — and closes the
lease, so the lost runner's credential is refused if it ever comes back."""
from __future__ import annotations

import logging
import time

from ..aws import executions
from ..domain.errors import Conflict, NotFound
from ..domain.leases import WORKER_LOST
from ..storage import jobs as job_store
from ..storage import runs as run_store
from . import jobs, runs

log = logging.getLogger(__name__)
CAUSE = "its lease fell due {late} s ago without a heartbeat"


def _run_leases(run) -> list:
    return [(run.plan.id, run.plan.lease), (run.apply.id, run.apply.lease)]


def _job_leases(job) -> list:
    return [(step.id, step.lease) for step in job.steps]


def _sweep_one(subject_id: str, now: float, find, leases_of, mutate) -> int:
    """One run or job: fail the task of each overdue lease, then close the lease."""
    subject = find(subject_id)
    if subject is None:
        return 0
    found = 0
    for phase_id, lease in leases_of(subject):
        if lease is None or not lease.overdue(now):
            continue
        found += 1
        if not subject.is_final:
            log.warning("%s: the worker of %s is lost", subject_id, phase_id)
            executions.fail(lease.task_token, WORKER_LOST, CAUSE.format(late=int(now - lease.due)))

        def close(current, phase_id=phase_id, lease_id=lease.id):
            held = dict(leases_of(current)).get(phase_id)
            if held and held.id == lease_id:      # its task is failed: the lease ends too
                held.closed = True
        try:
            mutate(subject_id, close)
        except (Conflict, NotFound):
            pass    # gone, or changing too fast: the next sweep closes it
    return found


def sweep(now: float | None = None) -> int:
    """Fails the task of every phase whose lease is overdue; returns how many it found."""
    at = time.time() if now is None else now
    found = sum(_sweep_one(run_id, at, run_store.find, _run_leases, runs.mutate)
                for run_id in run_store.overdue_lease_ids(at))
    found += sum(_sweep_one(job_id, at, job_store.find, _job_leases, jobs.mutate)
                 for job_id in job_store.overdue_lease_ids(at))
    return found
