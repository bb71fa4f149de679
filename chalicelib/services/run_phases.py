"""The privileged side of a run's plan and apply: the phase's work description for its runner,
what the runner API serves and stores for it, and the recording of the outcome it reports.

A runner holds nothing but its phase's credential (services/phase_leases.py); every DynamoDB,
S3 and Step Functions call of a phase is made here, including the task token's completion."""
from __future__ import annotations

import json
import logging
import time

from ..aws import blobs, executions
from ..config import settings
from ..domain.clock import now_iso
from ..domain.errors import Conflict, Forbidden, NotFound, Unprocessable
from ..domain.leases import Lease
from ..domain.outcomes import OUT_OF_TIME, Outcome
from ..domain.runs import Phase, PhaseStatus, Run, RunStatus
from ..runner import output
from ..runner.phases import PLAN_FILE
from ..storage import configuration_versions as cv_store
from ..storage import keys
from ..storage import runs as run_store
from ..storage import workspaces as workspace_store
from . import (configuration_versions, logs, phase_leases, phase_variables, runs, sealing,
               state_versions)

log = logging.getLogger(__name__)
MAX_PLAN_JSON_BYTES = 64 * 1024 * 1024


def work(run: Run, phase: Phase, lease: Lease) -> dict:
    """What the runner is told: no secret but its own credential."""
    ws = _workspace(run.workspace_id)
    is_plan = phase.id == run.plan.id
    opts = run.options
    args = ["plan", "-input=false", "-no-color", f"-out={PLAN_FILE}", "-detailed-exitcode"]
    if opts.is_destroy:
        args.append("-destroy")
    if opts.refresh_only:
        args.append("-refresh-only")
    if not opts.refresh:
        args.append("-refresh=false")
    args += [f"-target={a}" for a in opts.target_addrs] + [f"-replace={a}" for a in opts.replace_addrs]
    s = settings()
    return {
        "kind": "run", "subject_id": run.id, "phase_id": phase.id, "engine": ws.engine,
        "credential": phase_leases.credential("run", run.id, phase.id, lease),
        "operation": "plan" if is_plan else "apply",
        "args": args if is_plan else [],
        "plan_args": [] if is_plan else ["apply", "-input=false", "-no-color", "-auto-approve", PLAN_FILE],
        "plan_json": is_plan,
        "working_directory": ws.working_directory or "",
        "heartbeat_seconds": s.heartbeat_seconds, "cancel_grace_seconds": s.cancel_grace_seconds,
        "time_limit_seconds": s.runner_time_limit_seconds,
        "max_unpacked_bytes": s.max_unpacked_bytes, "max_files": s.max_archive_files,
    }


def _workspace(workspace_id: str):
    ws = workspace_store.find(workspace_id)
    if ws is None:
        raise NotFound(f"workspace {workspace_id} no longer exists")
    return ws


# -- the runner API ------------------------------------------------------------------------------

def resolve(claim: phase_leases.Claim) -> tuple[Run, Phase]:
    run = run_store.find(claim.subject_id)
    phase = None if run is None else {run.plan.id: run.plan, run.apply.id: run.apply}.get(claim.phase_id)
    if run is None or phase is None:
        raise NotFound(f"phase {claim.phase_id} not found")
    phase_leases.check(phase.lease, claim)
    return run, phase


def _require(run: Run, phase: Phase, plan: bool, what: str) -> None:
    if (phase.id == run.plan.id) != plan:
        raise Forbidden(f"the {'apply' if plan else 'plan'} phase cannot {what}")


def configuration(run: Run, phase: Phase) -> bytes:
    return configuration_versions.read_archive(cv_store.load(run.cv_id)).read()


def state(run: Run, phase: Phase) -> bytes | None:
    return state_versions.current_state_bytes(_workspace(run.workspace_id))


def variables(run: Run, phase: Phase) -> dict:
    """Resolved when the plan starts; the apply uses what the plan used."""
    snapshot = phase_variables.fixed_or_fix(run.id, _workspace(run.workspace_id),
                                            run.options.variables, start=phase.id == run.plan.id)
    return phase_variables.open_for_runner(snapshot)


def saved_plan(run: Run, phase: Phase) -> bytes:
    _require(run, phase, False, "read a saved plan")
    return sealing.open_blob(blobs.read(keys.run_plan(run.id)), run.id)


def store_plan(run: Run, phase: Phase, data: bytes) -> None:
    """A saved plan holds every variable's value: it is stored sealed."""
    _require(run, phase, True, "store a plan")
    if run.status != RunStatus.PLANNING:
        raise Conflict(f"run {run.id} is {run.status.value}")
    blobs.put(keys.run_plan(run.id), sealing.seal_blob(data, run.id))


def store_plan_json(run: Run, phase: Phase, data: bytes) -> None:
    _require(run, phase, True, "store a JSON plan")
    if len(data) > MAX_PLAN_JSON_BYTES:
        raise Unprocessable("the JSON plan is too large")
    try:
        document = json.loads(data)
    except ValueError:
        raise Unprocessable("the JSON plan is not JSON") from None
    hidden = phase_variables.sensitive_keys(run.id)
    if hidden and isinstance(document, dict) and isinstance(document.get("variables"), dict):
        # terraform's JSON plan lists every root variable's value; sensitive ones never leave
        for key in hidden & set(document["variables"]):
            document["variables"][key] = {"value": None, "sensitive": True}
        data = json.dumps(document).encode()
    blobs.put(keys.run_plan_json(run.id), data, content_type="application/json")


def store_state(run: Run, phase: Phase, data: bytes) -> str:
    _require(run, phase, False, "store state")
    if run.status != RunStatus.APPLYING:
        raise Conflict(f"run {run.id} is {run.status.value}")
    sv = state_versions.store_state(_workspace(run.workspace_id), data, run_id=run.id,
                                    created_by=run.created_by)

    def remember(r: Run):
        r.state_version_id = sv.id
    runs.mutate(run.id, remember)
    return sv.id


def heartbeat(run: Run, phase: Phase) -> bool:
    """Renews the phase's lease (the heartbeat clock that started at pickup); false once the
    lease is gone (the runner then stops its commands). No SendTaskHeartbeat: the task has no
    heartbeat of its own (aws/executions.task_timeout_seconds)."""
    lease_id, period = phase.lease.id, settings().heartbeat_seconds

    def renew(r: Run):
        lease = {r.plan.id: r.plan, r.apply.id: r.apply}[phase.id].lease
        return lease is not None and lease.renewed(lease_id, time.time(), period)
    try:
        _, kept = runs.mutate(run.id, renew)
    except (Conflict, NotFound):
        return False
    return bool(kept)


def signal(run: Run, phase: Phase) -> str | None:
    if run.status == RunStatus.FORCE_CANCELED:
        return "force_canceled"
    return "canceled" if run.cancel_requested_at else None


def close(run: Run, phase: Phase) -> None:
    _close_lease(run.id, phase.id, phase.lease.id)


def _close_lease(run_id: str, phase_id: str, lease_id: str) -> None:
    def close(r: Run):
        lease = {r.plan.id: r.plan, r.apply.id: r.apply}[phase_id].lease
        if lease and lease.id == lease_id:
            lease.closed = True
    try:
        runs.mutate(run_id, close)
    except (Conflict, NotFound):
        pass


# -- outcomes ------------------------------------------------------------------------------------

def report(run: Run, phase: Phase, facts: dict) -> dict:
    """What the runner saw becomes the run's next status and the state machine's answer."""
    token = phase.lease.task_token
    interrupted = facts.get("interrupted")
    if interrupted is None and phase.status != PhaseStatus.RUNNING:
        raise Conflict(f"{phase.id} has already been reported")
    if interrupted in ("canceled", "force_canceled", "lost"):
        _ended_by_monitor(run, phase, interrupted, token)
    elif interrupted == "out_of_time":
        what = "plan" if phase.id == run.plan.id else "apply"
        _end_errored(run.id, phase.id, OUT_OF_TIME.format(what=what), token,
                     f"\n{OUT_OF_TIME.format(what=what)}\n")
    elif not facts.get("ok"):
        what = "plan" if phase.id == run.plan.id else "apply"
        reason = f"{what} failed: {facts['error']}" if facts.get("error") else f"terraform {what} failed"
        _end_errored(run.id, phase.id, reason, token)
    elif phase.id == run.plan.id:
        _finish_plan(run, phase, int(facts.get("exit_code") or 0), token)
    else:
        _finish_apply(run, phase, token)
    if phase.id != run.plan.id or not facts.get("ok") or interrupted:
        # nothing follows the outcome (only a finished plan still sends its JSON): the
        # credential dies with the report
        _close_lease(run.id, phase.id, phase.lease.id)
    return {"recorded": True}


def _finish_plan(run: Run, phase: Phase, code: int, token: str) -> None:
    if blobs.head(keys.run_plan(run.id)) is None:
        _end_errored(run.id, phase.id, "plan failed: the runner stored no plan", token)
        return
    text = logs.archive(phase.id)
    # Counts come from terraform's own summary line, so the run is recorded as planned
    # without waiting for `terraform show -json` (which the runner sends after).
    counts = output.plan_counts(text)
    decided: dict[str, Outcome] = {}

    def finish(r: Run):
        if r.cancel_requested_at or r.status == RunStatus.FORCE_CANCELED:
            raise _CancelSeen()
        r.plan.log_archived = True
        move, decided["outcome"] = r.finish_plan(
            now_iso(), has_changes=code == 2, additions=counts[0], changes=counts[1],
            destructions=counts[2])
        return move
    try:
        done, _ = runs.mutate(run.id, finish)
    except _CancelSeen:
        # a cancel landed after terraform finished but before the result was recorded
        _ended_by_monitor(run, phase, "canceled", token)
        return
    executions.succeed(token, decided["outcome"].answer())
    if decided["outcome"] == Outcome.FINISHED:
        runs.finished(done)


def _finish_apply(run: Run, phase: Phase, token: str) -> None:
    added, changed, destroyed = output.apply_counts(logs.archive(phase.id))

    def finish(r: Run):
        r.apply.log_archived = True
        return r.finish_apply(now_iso(), additions=added, changes=changed, destructions=destroyed)
    done, _ = runs.mutate(run.id, finish)
    executions.succeed(token, Outcome.APPLIED.answer())
    runs.finished(done)


class _CancelSeen(Exception):
    pass


_CLOSING = {"canceled": "\nThe run was canceled.\n",
            "force_canceled": "\nThe run was force-canceled.\n",
            "lost": "\nThe run's task was abandoned by the state machine.\n"}


def _ended_by_monitor(run: Run, phase: Phase, seen: str, token: str) -> None:
    """Cancel, force-cancel or a lost task ended terraform: record that."""
    if seen == "canceled":
        _close_phase(run.id, phase.id, _CLOSING[seen], lambda r: r.mark_canceled(now_iso()))
    else:
        logs.archive(phase.id, _CLOSING[seen])  # force-cancel / lost: recorded by who ended it
    executions.succeed(token, Outcome.CANCELED.answer())


def _close_phase(run_id: str, phase_id: str, closing: str, move) -> None:
    """End a phase that did not succeed: the log to S3, then the run's final move and the
    workspace handed on. A run that reached a final status meanwhile is left as it is."""
    logs.archive(phase_id, closing)

    def close(r: Run):
        (r.plan if r.plan.id == phase_id else r.apply).log_archived = True
        return move(r)
    try:
        done, _ = runs.mutate(run_id, close)
    except Conflict:
        return
    runs.finished(done)


def _end_errored(run_id: str, phase_id: str, reason: str, token: str, closing: str = "") -> None:
    detail = output.error_summary(_log_text(phase_id))
    _close_phase(run_id, phase_id, closing,
                 lambda r: r.fail(now_iso(), f"{reason}: {detail}" if detail else reason))
    executions.succeed(token, Outcome.ERRORED.answer())


def _log_text(phase_id: str) -> str:
    return logs.read(phase_id, archived=False, finished=False)[1:]


# -- the privileged side, once the runner is gone ------------------------------------------------

def runner_gone(run_id: str, phase_id: str, lease_id: str) -> None:
    """A runner that exited without reporting (crashed, killed, out of memory) errors its
    phase; either way its credential is good for nothing after this."""
    run = run_store.find(run_id)
    if run is None:
        return
    phase = {run.plan.id: run.plan, run.apply.id: run.apply}.get(phase_id)
    if phase is None or phase.lease is None or phase.lease.id != lease_id:
        return
    if phase.status == PhaseStatus.RUNNING and run.status in (RunStatus.PLANNING, RunStatus.APPLYING):
        log.warning("the runner of %s exited without reporting", phase_id)
        _end_errored(run_id, phase_id, "the runner exited without reporting an outcome",
                     phase.lease.task_token, "\nThe runner exited without reporting an outcome.\n")
    _close_lease(run_id, phase_id, lease_id)
