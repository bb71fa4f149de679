"""The run lifecycle without AWS: every edge of the transition table, what each action does
from each status, auto-apply, cancel and the force-cancel cool-off."""
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.outcomes import Outcome
from chalicelib.domain.runs import (FINAL, LIFECYCLE, PhaseStatus, Run, RunOptions, RunStatus)

S = RunStatus
T = "2026-01-01T00:00:00.000Z"
T2 = "2026-01-01T00:00:05.000Z"

# The HCP Terraform run lifecycle as Terraless implements it (from -> allowed next statuses).
EXPECTED = {
    S.PENDING: {S.PLAN_QUEUED, S.DISCARDED, S.CANCELED, S.ERRORED},
    S.PLAN_QUEUED: {S.PLANNING, S.CANCELED, S.ERRORED, S.FORCE_CANCELED},
    S.PLANNING: {S.PLANNED, S.PLANNED_AND_FINISHED, S.CANCELED, S.ERRORED, S.FORCE_CANCELED},
    S.PLANNED: {S.CONFIRMED, S.APPLY_QUEUED, S.DISCARDED, S.ERRORED},
    S.CONFIRMED: {S.APPLY_QUEUED, S.CANCELED, S.ERRORED, S.FORCE_CANCELED},
    S.APPLY_QUEUED: {S.APPLYING, S.CANCELED, S.ERRORED, S.FORCE_CANCELED},
    S.APPLYING: {S.APPLIED, S.CANCELED, S.ERRORED, S.FORCE_CANCELED},
}


def run(status=S.PENDING, **options) -> Run:
    return Run(id="run-abc", workspace_id="ws-x", org="o", cv_id="cv-x", seq=1, created_at=T,
               options=RunOptions(**options), status=status)


@pytest.mark.parametrize("origin", list(RunStatus))
@pytest.mark.parametrize("target", list(RunStatus))
def test_every_edge_of_the_table(origin, target):
    allowed = target in EXPECTED.get(origin, set())
    assert LIFECYCLE.allows(origin, target) is allowed
    r = run(origin)
    if allowed:
        move = LIFECYCLE.move(r, target, T)
        assert (move.from_status, move.to_status, r.status) == (origin, target, target)
        assert r.status_timestamps[target.value.replace("_", "-") + "-at"] == T
    else:
        with pytest.raises(Conflict):
            LIFECYCLE.move(r, target, T)
        assert r.status == origin and r.status_timestamps == {}


def test_final_statuses_are_the_ones_without_a_way_out():
    assert FINAL == {S.APPLIED, S.PLANNED_AND_FINISHED, S.DISCARDED, S.ERRORED, S.CANCELED,
                     S.FORCE_CANCELED}


def plan_to_planning(r: Run) -> Run:
    r.queue_plan(T)
    r.start_planning(T)
    assert (r.plan.status, r.apply.status) == (PhaseStatus.RUNNING, PhaseStatus.PENDING)
    return r


@pytest.mark.parametrize("options, has_changes, status, outcome, apply_status", [
    ({}, True, S.PLANNED, Outcome.AWAIT_CONFIRMATION, PhaseStatus.PENDING),
    ({}, False, S.PLANNED_AND_FINISHED, Outcome.FINISHED, PhaseStatus.UNREACHABLE),
    ({"plan_only": True}, True, S.PLANNED_AND_FINISHED, Outcome.FINISHED, PhaseStatus.UNREACHABLE),
    ({"auto_apply": True}, True, S.APPLY_QUEUED, Outcome.AUTO_APPLY, PhaseStatus.QUEUED),
    ({"auto_apply": True}, False, S.PLANNED_AND_FINISHED, Outcome.FINISHED, PhaseStatus.UNREACHABLE),
])
def test_finish_plan_decides_what_the_state_machine_does(options, has_changes, status, outcome,
                                                         apply_status):
    r = plan_to_planning(run(**options))
    move, decided = r.finish_plan(T2, has_changes=has_changes, additions=1, changes=0, destructions=0)
    assert (move.from_status, move.to_status, decided) == (S.PLANNING, status, outcome)
    assert (r.plan.status, r.apply.status) == (PhaseStatus.FINISHED, apply_status)
    assert r.plan.additions == 1 and r.has_changes is has_changes


def test_auto_apply_records_planned_and_queues_the_apply_in_one_move():
    r = plan_to_planning(run(auto_apply=True))
    r.finish_plan(T2, has_changes=True, additions=1, changes=0, destructions=0)
    assert {"planned-at", "apply-queued-at"} <= set(r.status_timestamps)


def test_a_speculative_run_never_waits_for_confirmation():
    r = plan_to_planning(run())
    r.speculative = True
    _, decided = r.finish_plan(T2, has_changes=True, additions=1, changes=0, destructions=0)
    assert decided == Outcome.FINISHED and r.status == S.PLANNED_AND_FINISHED


def test_apply_is_one_move_from_planned_to_apply_queued():
    r = plan_to_planning(run())
    r.finish_plan(T, has_changes=True, additions=1, changes=0, destructions=0)
    move = r.confirm(T2, "ship it", "user-1")
    assert (move.from_status, move.to_status) == (S.PLANNED, S.APPLY_QUEUED)
    assert r.status_timestamps["confirmed-at"] == T2 and r.apply.status == PhaseStatus.QUEUED
    assert r.comments == [{"body": "ship it", "by": "user-1", "at": T2}]


@pytest.mark.parametrize("status", sorted(set(RunStatus) - {S.PLANNED}, key=lambda s: s.value))
def test_apply_is_refused_unless_waiting_for_confirmation(status):
    r = run(status)
    with pytest.raises(Conflict):
        r.confirm(T, None, None)
    assert r.status == status and r.comments == []


@pytest.mark.parametrize("status, allowed", [(s, s in (S.PENDING, S.PLANNED)) for s in RunStatus])
def test_discard_only_from_pending_or_planned(status, allowed):
    r = run(status)
    if allowed:
        r.discard(T, None, None)
        assert r.status == S.DISCARDED
        assert {r.plan.status, r.apply.status} <= {PhaseStatus.UNREACHABLE, PhaseStatus.PENDING}
    else:
        with pytest.raises(Conflict):
            r.discard(T, None, None)
        assert r.status == status


@pytest.mark.parametrize("status", [S.PENDING, S.PLAN_QUEUED, S.CONFIRMED, S.APPLY_QUEUED])
def test_cancel_before_a_worker_holds_it_ends_it_at_once(status):
    r = run(status)
    assert r.request_cancel(T, None, None, cooloff_seconds=10).to_status == S.CANCELED
    assert r.status == S.CANCELED and not r.is_force_cancelable(datetime.now(timezone.utc))


@pytest.mark.parametrize("status", [S.PLANNING, S.APPLYING])
def test_cancel_while_running_asks_the_worker_and_arms_force_cancel_after_the_cooloff(status):
    r = run(status)
    assert r.request_cancel(T, "stop", None, cooloff_seconds=10) is None
    assert r.status == status and r.cancel_requested_at == T
    assert r.force_cancel_available_at == "2026-01-01T00:00:10.000Z"
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not r.is_force_cancelable(start + timedelta(seconds=9.9))
    with pytest.raises(Conflict):
        r.force_cancel(T2, start + timedelta(seconds=9.9), None, None)
    with pytest.raises(Conflict):
        r.request_cancel(T2, None, None, cooloff_seconds=10)      # already being canceled
    r.force_cancel(T2, start + timedelta(seconds=10), None, None)
    assert r.status == S.FORCE_CANCELED and r.actions(start)["is-force-cancelable"] is False


def test_the_worker_records_the_cancel_it_carried_out():
    r = run(S.PLANNING)
    r.plan.status = PhaseStatus.RUNNING
    r.request_cancel(T, None, None, cooloff_seconds=10)
    r.mark_canceled(T2)
    assert (r.status, r.plan.status, r.apply.status) == (S.CANCELED, PhaseStatus.CANCELED,
                                                         PhaseStatus.UNREACHABLE)


@pytest.mark.parametrize("status", sorted(FINAL - {S.ERRORED}, key=lambda s: s.value) + [S.ERRORED])
def test_a_final_run_refuses_every_action(status):
    r = run(status)
    now = datetime.now(timezone.utc)
    for action in (lambda: r.queue_plan(T), lambda: r.confirm(T, None, None),
                   lambda: r.discard(T, None, None), lambda: r.fail(T, "x"),
                   lambda: r.request_cancel(T, None, None, cooloff_seconds=1),
                   lambda: r.force_cancel(T, now, None, None)):
        with pytest.raises(Conflict):
            action()
    assert r.status == status
    assert r.actions(now) == {"is-cancelable": False, "is-confirmable": False,
                              "is-discardable": False, "is-force-cancelable": False}


def test_fail_records_the_reason_and_closes_started_phases():
    r = plan_to_planning(run())
    r.fail(T2, "the worker stopped sending heartbeats")
    assert (r.status, r.error_text) == (S.ERRORED, "the worker stopped sending heartbeats")
    assert (r.plan.status, r.apply.status) == (PhaseStatus.ERRORED, PhaseStatus.UNREACHABLE)


def test_run_searches_read_the_run_and_its_configurations_ingress():
    from chalicelib.domain.runs import Run, RunOptions
    run = Run(id="run-abcdefghijklmnop", workspace_id="ws-1", org="o", cv_id="cv-1", seq=1,
              created_at="2026-01-01T00:00:00.000Z", options=RunOptions(message="fix the dns"))
    vcs = {"sender-username": "octocat", "commit-sha": "0123456789abcdef"}
    assert run.matches_search(vcs, {"user": "octocat"}) and not run.matches_search(vcs, {"user": "octo"})
    assert run.matches_search(vcs, {"commit": "0123456"}) and not run.matches_search({}, {"commit": "0123456"})
    assert run.matches_search({}, {"basic": "dns"}) and run.matches_search({}, {"basic": "ghijk"})
    assert run.matches_search(vcs, {"basic": "octocat", "commit": "0123"})
    assert not run.matches_search({}, {"basic": "nothing-like-it"})
