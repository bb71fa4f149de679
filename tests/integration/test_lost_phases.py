"""Two clocks for a phase (services/lost_phases.py): waiting for a worker has no heartbeat at
all (only the generous queue limit), and a claimed phase whose runner stops heartbeating is
lost once its lease is due: the sweep fails its task, the run errors, the workspace moves on
and the lost runner's credential is refused. Time is the sweep's argument, not a sleep."""
from __future__ import annotations

import time

import pytest

from chalicelib import executor
from chalicelib.services import lost_phases
from chalicelib.storage import runs as run_store
from tests.conftest import poll

NULL_TF = 'resource "null_resource" "one" {}\n'
DAY = 86400


@pytest.fixture
def silent_runners(monkeypatch):
    """The executor hands phases to runners that never call back (a worker lost after the
    claim): what they were given is kept for the test."""
    given: list[dict] = []

    def execute(work, kind, name):
        given.append(work)
        return False            # "still running somewhere"
    monkeypatch.setattr(executor, "execute", execute)
    return given


def _run(api, workspace_id: str, cv: str) -> str:
    resp = api.post("/api/v2/runs", {"data": {"attributes": {"message": f"m{time.time()}"},
                    "relationships": {"workspace": {"data": {"type": "workspaces", "id": workspace_id}},
                                      "configuration-version": {"data": {"id": cv}}}}})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]["id"]


def _status(api, run_id: str) -> dict:
    return api.get(f"/api/v2/runs/{run_id}").json["data"]["attributes"]


def _delivered(api, drain, run_id: str, status: str) -> dict:
    """The emulated state machine sends its messages from its own thread: deliver until the
    run reaches `status`."""
    def read():
        drain()
        return _status(api, run_id)
    return poll(read, lambda a: a["status"] == status, timeout=30)


def test_waiting_never_errors_and_a_silent_claimed_phase_is_lost(api, org, workspace, upload, drain,
                                                                 silent_runners):
    lost = _run(api, workspace, upload(workspace, {"main.tf": NULL_TF}))
    _delivered(api, drain, lost, "planning")
    lease = run_store.find(lost).plan.lease
    credential = silent_runners[0]["credential"]
    beat = api.as_token(credential)
    phase_path = f"/api/runner/v1/phases/{silent_runners[0]['phase_id']}"

    # a heartbeat renews the lease: a sweep at the old due time finds nothing
    poll(lambda: int(time.time()), lambda now: now > lease.beat_by - lease_period(), timeout=5)
    assert beat.post(f"{phase_path}/heartbeat", {}).json == {"accepted": True}
    assert lost_phases.sweep(now=lease.due) == 0
    assert _status(api, lost)["status"] == "planning"

    # another workspace's run waits with no worker at all, far longer than any heartbeat
    other = api.post(f"/api/v2/organizations/{org}/workspaces",
                     {"data": {"attributes": {"name": "waits"}}}).json["data"]["id"]
    waiting = _run(api, other, upload(other, {"main.tf": NULL_TF}))
    assert _status(api, waiting)["status"] == "plan_queued"
    assert lost_phases.sweep(now=time.time() + 10 * DAY) == 1        # the silent one only
    assert _status(api, waiting)["status"] == "plan_queued"

    # the silent phase's task was failed: the run errors with the reason, once
    attrs = _delivered(api, drain, lost, "errored")
    assert "stopped sending heartbeats" in attrs["error-text"]
    assert run_store.find(lost).plan.lease.closed
    # the lost runner, if it ever comes back, is refused
    assert beat.post(f"{phase_path}/heartbeat", {}).status_code == 401
    # the waiting run was claimed in its turn (its lease starts now), not errored
    _delivered(api, drain, waiting, "planning")
    assert lost_phases.sweep() == 0


def lease_period() -> int:
    from chalicelib.config import settings
    return settings().heartbeat_seconds


def test_a_silent_job_step_is_lost_and_the_job_fails(api, workspace, upload, drain, silent_runners):
    import base64

    from chalicelib.storage import jobs as job_store
    upload(workspace, {"main.tf": NULL_TF})
    flow = base64.b64encode(b'flow:\n  - {type: "terraformPlan", name: "Plan", step: 100}\n').decode()
    created = api.post(f"/api/v1/workspace/{workspace}/job", {"data": {"type": "job", "attributes": {
        "tcl": flow}, "relationships": {"workspace": {"data": {"type": "workspace", "id": workspace}}}}})
    assert created.status_code == 201, created.body
    job_id = created.json["data"]["id"]

    def status():
        drain()
        return api.get(f"/api/v1/workspace/{workspace}/job/{job_id}").json["data"]["attributes"]["status"]
    poll(status, lambda s: s == "running", timeout=30)
    assert lost_phases.sweep() == 0                                  # not due yet
    assert lost_phases.sweep(now=time.time() + 10 * DAY) == 1
    assert poll(status, lambda s: s != "running", timeout=30) == "failed"
    assert all(s.lease is None or s.lease.closed for s in job_store.find(job_id).steps)
