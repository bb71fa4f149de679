"""The runner API abused (in-process, under the emulator): with a live phase's credential held
by an attacker — oversized and malformed input, a second outcome, the user API's tokens here
and the runner's credential there, another run's phase. Each fails with the API's own error
shape and status, and the run is left as it was."""
import os

import pytest

from conftest import engine_in_process, poll, slow_plan_tf


@pytest.fixture
def live_phase(request, slow_state):
    """A run whose plan is running (terraform blocked reading a FIFO) and its credential."""
    from chalicelib.services import phase_leases
    from chalicelib.storage import runs as run_store
    engine = engine_in_process(request)
    engine.upload({"main.tf": slow_plan_tf(slow_state)})
    run_id = engine.create()
    engine.wait(run_id, "planning")
    run = poll(lambda: run_store.find(run_id), lambda r: r.plan.lease is not None)
    credential = phase_leases.credential("run", run.id, run.plan.id, run.plan.lease)
    yield engine, run, credential
    engine.action(run_id, "cancel")
    # terraform, blocked opening the FIFO, is let go (EOF) if it still is
    try:
        os.close(os.open(slow_state, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass
    engine.wait(run_id, "canceled", "errored", timeout=60)


def _as(engine, credential):
    return engine.api.as_token(credential)


def _error(resp, status):
    assert resp.status_code == status, resp.body
    assert resp.json["errors"][0]["status"] == str(status)


def test_malformed_and_oversized_input_is_refused(live_phase):
    engine, run, credential = live_phase
    runner = _as(engine, credential)
    base = f"/api/runner/v1/phases/{run.plan.id}"
    assert runner.get(f"{base}/signal").status_code == 200            # the credential is live
    _error(runner.post(f"{base}/logs", {"seq": 0, "text": "x"}), 422)
    _error(runner.post(f"{base}/logs", {"seq": True, "text": "x"}), 422)
    _error(runner.post(f"{base}/logs", {"seq": 1, "text": {"nested": ["x"]}}), 422)
    _error(runner.post(f"{base}/logs", {"seq": 10 ** 12, "text": "x"}), 422)
    _error(runner.post(f"{base}/logs", {"seq": 1, "text": "x" * 300_001}), 413)
    _error(runner.post(f"{base}/outcome", ["not", "an", "object"]), 422)
    _error(runner.request("POST", f"{base}/outcome", raw=b"{not json"), 400)
    _error(runner.put(f"{base}/plan-json", b"not json"), 422)
    # the plan phase may not touch what belongs to the apply
    _error(runner.put(f"{base}/state", b'{"version": 4, "serial": 99, "lineage": "x"}'), 403)
    _error(runner.get(f"{base}/plan"), 403)
    assert engine.status(run.id) == "planning"


def test_tokens_do_not_cross_between_the_apis(live_phase, org):
    engine, run, credential = live_phase
    base = f"/api/runner/v1/phases/{run.plan.id}"
    # a site-admin / user token is no runner credential
    _error(engine.api.get(f"{base}/configuration"), 401)
    _error(engine.api.as_token(None).get(f"{base}/configuration"), 401)
    # nor is an organization token
    org_token = engine.api.post(f"/api/v2/organizations/{org}/authentication-token").json["data"][
        "attributes"]["token"]
    _error(engine.api.as_token(org_token).get(f"{base}/configuration"), 401)
    _error(engine.api.as_token(org_token).post(f"{base}/outcome", {"ok": True}), 401)
    # the one answer that carries sensitive values: its phase's credential only
    _error(engine.api.get(f"{base}/variables"), 401)
    _error(engine.api.as_token(org_token).get(f"{base}/variables"), 401)
    _error(_as(engine, credential).get(f"/api/runner/v1/phases/{run.apply.id}/variables"), 404)
    # the runner's credential is no API token
    _error(_as(engine, credential).get(f"/api/v2/runs/{run.id}"), 401)
    _error(_as(engine, credential).get(f"/api/v2/organizations/{org}"), 401)
    # nor a credential for the same run's other phase, or any other
    _error(_as(engine, credential).get(f"/api/runner/v1/phases/{run.apply.id}/state"), 404)
    _error(_as(engine, credential).get("/api/runner/v1/phases/plan-AAAAAAAAAAAAAAAA/state"), 404)
    assert engine.status(run.id) == "planning"                # none of it changed the run


def test_an_outcome_counts_once_and_closes_nothing_it_should_not(live_phase):
    engine, run, credential = live_phase
    runner = _as(engine, credential)
    base = f"/api/runner/v1/phases/{run.plan.id}"
    # an attacker reporting "errored" for its own running plan ends its own run only
    assert runner.post(f"{base}/outcome", {"ok": False, "error": "x" * 10_000}).status_code == 200
    assert engine.wait(run.id, "errored") == "errored"
    assert len(engine.get(run.id)["attributes"]["error-text"] or "") < 3000
    _error(runner.post(f"{base}/outcome", {"ok": True, "exit_code": 2}), 401)   # lease closed
    _error(runner.get(f"{base}/variables"), 401)                  # nor its variables again
    assert engine.status(run.id) == "errored"
