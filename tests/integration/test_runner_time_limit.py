"""A phase that would outlive its runner (the runner function's 15 minutes) is stopped in time:
terraform is interrupted, the state it wrote is stored, the run errors with the reason; the
next plan creates only what was not created. Lambda's limit is exercised by the same monitor
through TERRALESS_RUNNER_TIME_LIMIT_SECONDS (the runner function takes it from its context)."""
import json

import pytest

from chalicelib.runner import main as runner_main
from tests.conftest import engine_in_process

TWO_RESOURCES = ('resource "null_resource" "first" {}\n'
                 'resource "null_resource" "slow" {\n  depends_on = [null_resource.first]\n'
                 '  provisioner "local-exec" {\n    command = "sleep 45"\n  }\n}\n')


@pytest.fixture
def limited(monkeypatch, request):
    from chalicelib import config
    monkeypatch.setenv("TERRALESS_RUNNER_TIME_LIMIT_SECONDS", "12")
    monkeypatch.setenv("TERRALESS_CANCEL_GRACE_SECONDS", "2")
    config.reset()
    yield engine_in_process(request)
    config.reset()


def test_an_apply_past_the_time_limit_stores_its_state_and_errors(limited, monkeypatch):
    runs = limited
    runs.upload({"main.tf": TWO_RESOURCES})
    run_id = runs.create(**{"auto-apply": True})
    assert runs.wait(run_id, "errored", "applied", timeout=120) == "errored"
    run = runs.get(run_id)
    assert "ran out of the runner's time limit" in run["attributes"]["error-text"]
    log = runs.log(runs.api.get(f"/api/v2/runs/{run_id}/apply").json["data"]["attributes"]["log-read-url"]).body
    assert b"null_resource.first: Creation complete" in log
    # the state terraform wrote before it stopped is the workspace's
    sv = runs.api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    state = json.loads(runs.api.get(f"/api/v2/state-versions/{sv['id']}/download").body)
    instances = {r["name"]: r["instances"][0] for r in state["resources"]}
    assert "status" not in instances["first"]
    # the interrupted provisioner's resource exists but is tainted: terraform replaces it
    assert set(instances) <= {"first", "slow"} and instances.get("slow", {"status": "tainted"})["status"] == "tainted"
    assert run["attributes"]["status-timestamps"].get("errored-at")

    # without the limit the next plan creates only what the interrupted apply did not finish
    from chalicelib import config
    monkeypatch.delenv("TERRALESS_RUNNER_TIME_LIMIT_SECONDS")
    config.reset()
    again = runs.create(**{"plan-only": True})
    assert runs.wait(again, "planned_and_finished", "errored", timeout=120) == "planned_and_finished"
    plan = runs.api.get(f"/api/v2/runs/{again}/plan").json["data"]["attributes"]
    assert plan["resource-additions"] == 1


@pytest.mark.parametrize("own,remaining_ms,expected", [
    (0, 900_000, 810),          # no limit of its own: the invocation's time, less the stop margin
    (300, 900_000, 300),        # its own when shorter
    (3600, 600_000, 510),       # the invocation's when shorter
    (0, 30_000, 1),             # never zero or negative
])
def test_the_runner_function_limits_a_phase_to_its_invocation(own, remaining_ms, expected):
    assert runner_main.time_limit({"time_limit_seconds": own}, remaining_ms) == expected
