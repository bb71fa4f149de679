"""The restart reconciliation (services/restarts.py) under the emulator: what a stopped stack
had in flight is settled once — the run whose phase was lost errors with the restart reason
and its lease ends, the run waiting behind it gets the workspace, a run whose plan never began
keeps its place, and finished runs are left alone."""
from __future__ import annotations

import pytest

from chalicelib import executor
from chalicelib.services import restarts
from chalicelib.storage import runs as run_store
from tests.conftest import poll

NULL_TF = 'resource "null_resource" "one" {}\n'


@pytest.fixture
def silent_runners(monkeypatch):
    monkeypatch.setattr(executor, "execute", lambda work, kind, name: False)


def _run(api, ws, cv, message):
    resp = api.post("/api/v2/runs", {"data": {"attributes": {"message": message},
                    "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}},
                                      "configuration-version": {"data": {"id": cv}}}}})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]["id"]


def test_reconcile_after_a_restart(api, org, workspace, upload, drain, silent_runners):
    cv = upload(workspace, {"main.tf": NULL_TF})
    lost = _run(api, workspace, cv, "its phase was running")
    behind = _run(api, workspace, cv, "waiting for the workspace")

    def status(run_id):
        drain()
        return run_store.find(run_id).status.value
    poll(lambda: status(lost), lambda s: s == "planning", timeout=30)
    assert status(behind) == "pending"
    other = api.post(f"/api/v2/organizations/{org}/workspaces",
                     {"data": {"attributes": {"name": "queued"}}}).json["data"]["id"]
    queued = _run(api, other, upload(other, {"main.tf": NULL_TF}), "queued, never began")
    assert run_store.find(queued).status.value == "plan_queued"

    done = restarts.reconcile()
    assert done["runs_errored"] == 1 and done["runs_restarted"] == 1
    errored = run_store.find(lost)
    assert errored.status.value == "errored" and errored.error_text == restarts.RESTARTED
    assert errored.plan.lease.closed
    # the workspace went to the run behind it; the queued one kept its place
    assert run_store.find(behind).status.value in ("plan_queued", "planning")
    assert run_store.find(queued).status.value in ("plan_queued", "planning")
    # a second reconcile changes nothing that is settled
    again = restarts.reconcile()
    assert again["runs_errored"] == 0
    assert run_store.find(lost).status.value == "errored"
