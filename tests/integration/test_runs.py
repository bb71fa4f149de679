"""The run engine with real terraform. Each scenario runs twice where it can: the app in-process
under moto (the Step Functions definition of infra/ executed by moto's engine, SQS delivered by
the dev stack's dispatcher in a thread), and end to end through the shared dev stack."""
import base64
import hashlib
import json
import os

from pathlib import Path

import pytest
import requests

from conftest import (Runs, engine_in_process, engine_through_dev_stack, plan_blocked_on, poll, queue_depth,
                      slow_plan_tf)

NULL_TF = 'resource "null_resource" "one" {}\n'
CHANGING_TF = NULL_TF + 'output "stamp" { value = timestamp() }\n'


@pytest.fixture(params=["in-process", pytest.param("dev-stack", marks=pytest.mark.e2e)])
def runs(request) -> Runs:
    """The same scenario against both engines."""
    return engine_in_process(request) if request.param == "in-process" else engine_through_dev_stack(request)


@pytest.fixture
def local_runs(request) -> Runs:
    """Scenarios that change the engine's settings or reach into its queues: in-process only."""
    return engine_in_process(request)


def test_plan_confirm_apply_and_the_next_run_plans_against_the_new_state(runs):
    cv = runs.upload({"main.tf": NULL_TF})
    run_id = runs.create(message="first")
    assert runs.wait(run_id, "planned", "errored") == "planned"
    run = runs.get(run_id)
    a = run["attributes"]
    assert a["has-changes"] is True and a["actions"]["is-confirmable"] and a["actions"]["is-discardable"]
    assert a["actions"]["is-cancelable"] is False
    assert run["relationships"]["configuration-version"]["data"]["id"] == cv
    assert {"plan-queued-at", "planning-at", "planned-at"} <= set(a["status-timestamps"])
    plan = runs.api.get(f"/api/v2/runs/{run_id}/plan").json["data"]
    assert plan == runs.api.get(f"/api/v2/plans/{plan['id']}").json["data"]
    pa = plan["attributes"]
    assert (pa["status"], pa["resource-additions"], pa["resource-destructions"]) == ("finished", 1, 0)
    body = runs.log(pa["log-read-url"]).body.decode()
    assert body.startswith("\x02") and body.endswith("\x03") and "Plan: 1 to add" in body
    assert runs.log(pa["log-read-url"], offset=1, limit=9).body.decode() == body[1:10]
    # the JSON plan is produced right after the run is recorded as planned
    json_out = poll(lambda: runs.api.get(f"/api/v2/plans/{plan['id']}/json-output"),
                    lambda resp: resp.status_code != 404, timeout=30)
    assert json_out.status_code == 307
    plan_json = requests.get(json_out.headers["Location"]).json()
    assert [rc["address"] for rc in plan_json["resource_changes"]] == ["null_resource.one"]

    assert runs.action(run_id, "apply", {"comment": "ship it"}).status_code == 202
    assert runs.wait(run_id, "applied", "errored") == "applied"
    # who applied it, and the comment given with the apply (HCP's comments API)
    applied = runs.get(run_id)
    assert applied["relationships"]["confirmed-by"]["data"]["type"] == "users"
    assert applied["attributes"]["status-timestamps"]["plan-queueable-at"] == applied["attributes"]["created-at"]
    [said] = applied["relationships"]["comments"]["data"]
    shown = runs.api.get(f"/api/v2/comments/{said['id']}").json["data"]
    assert shown["attributes"]["body"] == "ship it"
    more = runs.api.post(f"/api/v2/runs/{run_id}/comments", {"data": {"type": "comments", "attributes": {"body": "done"}}})
    assert more.status_code == 201
    assert [c["attributes"]["body"] for c in runs.api.get(f"/api/v2/runs/{run_id}/comments").json["data"]] == ["ship it", "done"]
    for bad in ("", None, 7, "x" * 5000):
        assert runs.api.post(f"/api/v2/runs/{run_id}/comments", {"data": {"attributes": {"body": bad}}}).status_code == 422
    for missing in (said["id"][:-1] + "9", said["id"] + "0000", "wsc-", run_id):
        assert runs.api.get(f"/api/v2/comments/{missing}").status_code == 404
    apply = runs.api.get(f"/api/v2/runs/{run_id}/apply").json["data"]
    assert (apply["attributes"]["status"], apply["attributes"]["resource-additions"]) == ("finished", 1)
    assert "Apply complete!" in runs.log(apply["attributes"]["log-read-url"]).body.decode()
    sv = runs.api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    assert apply["relationships"]["state-versions"]["data"][0]["id"] == sv["id"]
    state = runs.api.get(f"/api/v2/state-versions/{sv['id']}/download").json
    assert [r["type"] for r in state["resources"]] == ["null_resource"]
    assert runs.action(run_id, "apply").status_code == 409        # already applied

    second = runs.create(message="again, same code")
    assert runs.wait(second, "planned_and_finished", "planned", "errored") == "planned_and_finished"
    assert runs.get(second)["attributes"]["has-changes"] is False
    listed = runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs").json
    assert [r["id"] for r in listed["data"]] == [second, run_id]      # newest first
    counted = runs.api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]["attributes"]
    assert (counted["workspace-kpis-runs-count"], counted["resource-count"]) == (2, 1)
    # HCP's run searches: the message (or id, sender, commit), the VCS sender, the commit
    found = runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs?search%5Bbasic%5D=same%20code").json
    assert [r["id"] for r in found["data"]] == [second] and found["meta"]["pagination"]["total-count"] == 1
    for search in ("search%5Buser%5D=someone", "search%5Bcommit%5D=abc123"):
        assert runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs?{search}").json["data"] == []


def test_discard_frees_the_workspace_for_the_next_run(runs):
    runs.upload({"main.tf": CHANGING_TF})
    first = runs.create()
    second = runs.create()
    assert runs.wait(first, "planned") == "planned"
    assert runs.status(second) == "pending"            # one active run per workspace
    assert runs.action(first, "discard", {"comment": "no"}).status_code == 202
    assert runs.status(first) == "discarded"
    assert runs.action(first, "discard").status_code == 409
    assert runs.wait(second, "planned") == "planned"
    runs.action(second, "discard")


def test_three_runs_on_one_workspace_run_one_at_a_time_in_order(runs):
    runs.upload({"main.tf": CHANGING_TF})
    ids = [runs.create(message=f"run {i}") for i in range(3)]
    seen_active = []
    for current, waiting in ((ids[0], ids[1:]), (ids[1], ids[2:]), (ids[2], [])):
        assert runs.wait(current, "planned") == "planned"
        assert all(runs.status(w) == "pending" for w in waiting)
        ws = runs.api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]
        seen_active.append(ws["relationships"]["current-run"]["data"]["id"])
        runs.action(current, "apply")
        assert runs.wait(current, "applied") == "applied"
    assert seen_active == ids
    planned_at = [runs.get(i)["attributes"]["status-timestamps"]["planning-at"] for i in ids]
    applied_at = [runs.get(i)["attributes"]["status-timestamps"]["applied-at"] for i in ids]
    assert planned_at == sorted(planned_at) and applied_at[0] < planned_at[1] and applied_at[1] < planned_at[2]


def test_auto_apply_destroy_and_plan_only(runs):
    runs.api.patch(f"/api/v2/workspaces/{runs.ws}", {"data": {"attributes": {"auto-apply": True}}})
    runs.upload({"main.tf": NULL_TF})
    auto = runs.create()
    assert runs.wait(auto, "applied", "errored") == "applied"
    assert "confirmed-at" not in runs.get(auto)["attributes"]["status-timestamps"]
    # destroy plans are not auto-applied unless asked
    destroy = runs.create(**{"is-destroy": True})
    assert runs.wait(destroy, "planned") == "planned"
    plan = runs.api.get(f"/api/v2/runs/{destroy}/plan").json["data"]["attributes"]
    assert (plan["resource-additions"], plan["resource-destructions"]) == (0, 1)
    # a plan-only run does not wait for the workspace, which the destroy run holds
    plan_only = runs.create(**{"plan-only": True})
    assert runs.wait(plan_only, "planned_and_finished", "errored") == "planned_and_finished"
    assert runs.get(plan_only)["attributes"]["plan-only"] is True
    runs.action(destroy, "apply")
    assert runs.wait(destroy, "applied") == "applied"
    apply = runs.api.get(f"/api/v2/runs/{destroy}/apply").json["data"]["attributes"]
    assert apply["resource-destructions"] == 1
    sv = runs.api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    assert runs.api.get(f"/api/v2/state-versions/{sv['id']}/download").json["resources"] == []
    ops = runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs?filter%5Boperation%5D=destroy").json["data"]
    assert [r["id"] for r in ops] == [destroy]
    finished = runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs?filter[status]=planned_and_finished,errored").json
    assert [r["id"] for r in finished["data"]] == [plan_only]


def test_variables_and_targets_reach_terraform(runs):
    runs.upload({"main.tf": 'variable "who" {}\nresource "null_resource" "a" {}\n'
                            'resource "null_resource" "b" {}\n'
                            # depends on the target, so the targeted apply records it
                            'output "hello" { value = length(null_resource.a.id) > 0 ? "hi ${var.who}" : "" }\n'})
    run_id = runs.create(**{"variables": [{"key": "who", "value": '"terraless"'}],
                            "target-addrs": ["null_resource.a"], "auto-apply": True})
    assert runs.wait(run_id, "applied", "errored") == "applied", runs.get(run_id)["attributes"]["error-text"]
    sv = runs.api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version?include=outputs").json
    state = runs.api.get(f"/api/v2/state-versions/{sv['data']['id']}/download").json
    assert [r["name"] for r in state["resources"]] == ["a"]
    assert state["outputs"]["hello"]["value"] == "hi terraless"
    assert [o["attributes"]["value"] for o in sv["included"]] == ["hi terraless"]


def test_locked_workspace_keeps_runs_pending_until_unlocked(runs):
    runs.upload({"main.tf": CHANGING_TF})
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock", {"reason": "maintenance"})
    run_id = runs.create()
    for _ in range(10):
        assert runs.status(run_id) == "pending"
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/actions/unlock")
    assert runs.wait(run_id, "planned") == "planned"
    runs.action(run_id, "discard")


def test_cancel_while_planning_interrupts_terraform(runs, slow_state):
    runs.upload({"main.tf": slow_plan_tf(slow_state)})
    run_id = runs.create()
    runs.wait(run_id, "planning")
    # the run holding the workspace locks it, as in HCP: shown locked by the run, neither
    # unlocked nor locked by anyone else meanwhile
    ws = runs.api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]
    assert ws["attributes"]["locked"] is True
    assert ws["relationships"]["locked-by"]["data"] == {"type": "runs", "id": run_id}
    refused = runs.api.post(f"/api/v2/workspaces/{runs.ws}/actions/unlock")
    assert refused.status_code == 409 and "is locked by Run" in refused.json["errors"][0]["detail"]
    assert runs.api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock", {}).status_code == 409
    assert runs.action(run_id, "cancel", {"comment": "too slow"}).status_code == 202
    assert runs.get(run_id)["attributes"]["force-cancel-available-at"].endswith("Z")
    assert runs.action(run_id, "cancel").status_code == 409      # already being canceled
    assert runs.wait(run_id, "canceled", "errored", "planned_and_finished", timeout=30) == "canceled"
    plan = runs.api.get(f"/api/v2/runs/{run_id}/plan").json["data"]["attributes"]
    assert plan["status"] == "canceled"
    assert runs.action(run_id, "force-cancel").status_code == 409
    poll(lambda: runs.api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]["attributes"]["locked"],
         lambda locked: locked is False, timeout=30)                 # the run ended: free again


def test_force_cancel_after_the_cool_off(local_runs, slow_state):
    """A phase that a cancel cannot end (terraform blocked reading a state file that never
    ends, and the second Ctrl-C far away) is ended by force-cancel once the cool-off passed."""
    import os

    from chalicelib import config
    saved = {k: os.environ.get(k) for k in ("TERRALESS_FORCE_CANCEL_COOLOFF_SECONDS",
                                            "TERRALESS_CANCEL_GRACE_SECONDS")}
    os.environ["TERRALESS_FORCE_CANCEL_COOLOFF_SECONDS"] = "1"
    os.environ["TERRALESS_CANCEL_GRACE_SECONDS"] = "600"   # no second Ctrl-C in this test
    config.reset()
    try:
        _force_cancel_scenario(local_runs, slow_state)
    finally:
        # restored, then forgotten: the next test must not inherit a 600 s grace period
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        config.reset()


def _force_cancel_scenario(local_runs, slow_state):
    local_runs.upload({"main.tf": slow_plan_tf(slow_state)})
    stuck = local_runs.create()
    local_runs.upload({"main.tf": NULL_TF})                # the next run's code plans at once
    queued = local_runs.create()
    local_runs.wait(stuck, "planning")
    with plan_blocked_on(slow_state):        # it reads on, blocked
        assert local_runs.action(stuck, "force-cancel").status_code == 409     # cancel first
        assert local_runs.action(stuck, "cancel").status_code == 202
        poll(lambda: local_runs.get(stuck)["attributes"], lambda a: a["actions"]["is-force-cancelable"],
             timeout=10)
        assert local_runs.status(stuck) == "planning"                          # the cancel did not end it
        assert local_runs.action(stuck, "force-cancel", {"comment": "stuck"}).status_code == 202
        assert local_runs.status(stuck) == "force_canceled"
    ws = local_runs.api.get(f"/api/v2/workspaces/{local_runs.ws}").json["data"]
    assert ws["relationships"]["current-run"]["data"]["id"] == queued   # freed and handed on
    assert local_runs.wait(queued, "planned", "errored") == "planned"
    local_runs.action(queued, "discard")


def test_retried_post_does_not_duplicate_runs(runs):
    runs.upload({"main.tf": CHANGING_TF})
    body = {"data": {"attributes": {"message": "retry me"}, "relationships": {
        "workspace": {"data": {"type": "workspaces", "id": runs.ws}}}}}
    first = runs.api.post("/api/v2/runs", body).json["data"]["id"]
    second = runs.api.post("/api/v2/runs", body).json["data"]["id"]
    assert first == second
    other = runs.create(message="a different run")
    assert other != first
    total = runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs").json["meta"]["pagination"]["total-count"]
    assert total == 2
    runs.wait(first, "planned")
    runs.action(first, "discard")
    runs.wait(other, "planned")
    runs.action(other, "discard")


def test_bad_run_requests(local_runs):
    pending_cv = local_runs.api.post(f"/api/v2/workspaces/{local_runs.ws}/configuration-versions", {"data": {}}).json["data"]["id"]
    resp = local_runs.create(expect=422)                                  # no uploaded version yet
    assert resp.json["errors"][0]["source"]["pointer"] == "/data/relationships/configuration-version"
    assert local_runs.create(cv=pending_cv, expect=422).status_code == 422
    assert local_runs.create(cv="cv-doesnotexist00", expect=422).status_code == 422
    assert local_runs.api.post("/api/v2/runs", {"data": {"attributes": {}}}).status_code == 422
    assert local_runs.api.post("/api/v2/runs", raw=b"{oops").status_code == 400
    cv = local_runs.upload({"main.tf": NULL_TF})
    assert local_runs.create(cv=cv, expect=422, **{"is-destroy": "yes"}).status_code == 422
    assert local_runs.create(cv=cv, expect=422, variables=[{"key": "1bad", "value": "1"}]).status_code == 422
    for action in ("apply", "discard", "cancel", "force-cancel"):
        assert local_runs.action("run-doesnotexist00", action).status_code == 404
    org_token = local_runs.api.post(f"/api/v2/organizations/{local_runs.org}/authentication-token").json["data"]["attributes"]["token"]
    refused = local_runs.api.as_token(org_token).post("/api/v2/runs", {"data": {"relationships": {
        "workspace": {"data": {"id": local_runs.ws}}}}})
    assert refused.status_code == 403
    assert local_runs.api.get(f"/api/v2/workspaces/{local_runs.ws}/runs").json["meta"]["pagination"]["total-count"] == 0


def test_apply_before_planning_is_a_conflict_and_pending_runs_can_be_canceled(runs):
    runs.upload({"main.tf": CHANGING_TF})
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock")
    run_id = runs.create()
    assert runs.action(run_id, "apply").status_code == 409
    assert runs.action(run_id, "cancel").status_code == 202
    a = runs.get(run_id)["attributes"]
    assert a["status"] == "canceled" and a["actions"] == {
        "is-cancelable": False, "is-confirmable": False, "is-discardable": False,
        "is-force-cancelable": False}


def test_upload_with_auto_queue_runs_queues_a_run(runs):
    cv = runs.upload({"main.tf": CHANGING_TF}, **{"auto-queue-runs": True})
    listed = poll(lambda: runs.api.get(f"/api/v2/workspaces/{runs.ws}/runs").json["data"], bool, timeout=10)
    run = listed[0]
    assert run["attributes"]["source"] == "tfe-configuration-version"
    assert run["relationships"]["configuration-version"]["data"]["id"] == cv
    assert runs.wait(run["id"], "planned") == "planned"
    runs.action(run["id"], "discard")


def test_include_and_download_through_the_run(runs):
    cv = runs.upload({"main.tf": CHANGING_TF})
    run_id = runs.create()
    runs.wait(run_id, "planned")
    doc = runs.api.get(f"/api/v2/runs/{run_id}?include=plan%2Capply,created_by,configuration_version").json
    assert {i["type"] for i in doc["included"]} == {"plans", "applies", "users", "configuration-versions"}
    assert runs.api.get(f"/api/v2/runs/{run_id}/configuration-version/download").status_code == 302
    assert runs.api.get(f"/api/v2/runs/{run_id}/configuration-version").json["data"]["id"] == cv
    runs.action(run_id, "discard")


def test_poison_task_message_ends_in_the_dlq_and_errors_its_run(local_runs):
    from chalicelib.aws import queues
    local_runs.upload({"main.tf": CHANGING_TF})
    local_runs.api.post(f"/api/v2/workspaces/{local_runs.ws}/actions/lock")       # keep it out of the engine
    run_id = local_runs.create()
    queues.send("plans", {"run_id": run_id, "phase": "plan"})     # no task token: handler fails
    status = poll(lambda: local_runs.get(run_id)["attributes"], lambda a: a["status"] != "pending", timeout=30)
    assert status["status"] == "errored"
    assert "dead-letter" in status["error-text"]


def test_state_versions_api(runs):
    def state(serial, lineage="lin-1"):
        raw = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": serial,
                          "lineage": lineage, "outputs": {"x": {"value": serial, "type": "number"}},
                          "resources": []}).encode()
        return {"data": {"type": "state-versions", "attributes": {
            "serial": serial, "lineage": lineage, "md5": hashlib.md5(raw).hexdigest(),
            "state": base64.b64encode(raw).decode()}}}, raw
    base = f"/api/v2/workspaces/{runs.ws}/state-versions"
    body, raw = state(1)
    assert runs.api.post(base, body).status_code == 409                 # the workspace must be locked
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock")
    created = runs.api.post(base, body)
    assert created.status_code == 201 and created.json["data"]["id"].startswith("sv-")
    assert runs.api.get(f"/api/v2/state-versions/{created.json['data']['id']}/download").body == raw
    # the same serial again: taken for the very same state (as HCP and OTF), refused for another
    again = runs.api.post(base, body)
    assert again.status_code == 201 and again.json["data"]["attributes"]["serial"] == 1
    other, _ = state(1)
    other["data"]["attributes"]["state"] = base64.b64encode(raw.replace(b'"value": 1', b'"value": 9')).decode()
    other["data"]["attributes"]["md5"] = hashlib.md5(raw.replace(b'"value": 1', b'"value": 9')).hexdigest()
    assert runs.api.post(base, other).status_code == 409
    assert runs.api.post(base, state(2, "other-lineage")[0]).status_code == 409
    bad = state(3)[0]
    bad["data"]["attributes"]["md5"] = "0" * 32
    assert runs.api.post(base, bad).status_code == 422
    assert runs.api.post(base, state(3)[0]).status_code == 201
    current = runs.api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    assert current["attributes"]["serial"] == 3
    assert runs.api.get(f"{base}?page[size]=1").json["meta"]["pagination"]["total-count"] == 3
    ws_name = runs.api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]["attributes"]["name"]
    listed = runs.api.get(f"/api/v2/state-versions?filter[organization][name]={runs.org}&filter[workspace][name]={ws_name}").json
    assert [sv["attributes"]["serial"] for sv in listed["data"]] == [3, 1, 1]


def test_terraform_sees_a_scrubbed_environment(local_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRALESS_SIGNING_SECRET", "do-not-leak-this")
    out = tmp_path / "env.txt"
    local_runs.upload({"main.tf": 'resource "null_resource" "env" {\n  provisioner "local-exec" {\n'
                            f'    command = "env > {out}"\n  }}\n}}\n'})
    run_id = local_runs.create(**{"auto-apply": True})
    assert local_runs.wait(run_id, "applied", "errored") == "applied"
    names = {line.split("=", 1)[0] for line in out.read_text().splitlines() if "=" in line}
    leaked = {n for n in names if n.startswith(("AWS_", "TERRALESS_", "MOTO"))}
    assert not leaked, leaked
    assert "do-not-leak-this" not in out.read_text()
    assert {"PATH", "HOME", "TF_CLI_CONFIG_FILE"} <= names


def test_no_process_of_a_phase_outlives_it(local_runs, tmp_path):
    """A provisioner leaves a background process behind; the phase's whole process group ends
    with its terraform command (before, it ran on for its full 300 s)."""
    pid_file = tmp_path / "sleeper.pid"
    local_runs.upload({"main.tf": 'resource "null_resource" "bg" {\n  provisioner "local-exec" {\n'
                                  f'    command = "sleep 300 > /dev/null 2>&1 & echo $! > {pid_file}"\n'
                                  '  }\n}\n'})
    run_id = local_runs.create(**{"auto-apply": True})
    assert local_runs.wait(run_id, "applied", "errored") == "applied"
    pid = int(pid_file.read_text())
    poll(lambda: Path(f"/proc/{pid}").exists(), lambda alive: not alive, timeout=15)


@pytest.fixture
def terraform_shim(tmp_path):
    """`use(script)`: the workers run a shell shim as TERRALESS_TERRAFORM_BIN; `$TERRAFORM` in
    the script is the real terraform. Settings are restored afterwards, once the phase's
    runner (in this process, reading settings from its own threads) is done: a read in
    between would cache the shim for the next test."""
    import threading

    from chalicelib import config
    from chalicelib.executor import staging as terraform
    real = terraform.runnable_binary()

    def use(script: str) -> None:
        shim = tmp_path / "terraform"
        shim.write_text("#!/bin/sh\n" + script.replace("$TERRAFORM", real))
        shim.chmod(0o755)
        os.environ["TERRALESS_TERRAFORM_BIN"] = str(shim)
        config.reset()
        terraform.binary.cache_clear()
    try:
        yield use
        poll(lambda: [t for t in threading.enumerate() if t.name == "heartbeat"],
             lambda ts: not ts, timeout=60)
    finally:
        os.environ.pop("TERRALESS_TERRAFORM_BIN", None)
        config.reset()
        terraform.binary.cache_clear()
        assert terraform.binary() != str(tmp_path / "terraform")


def test_terraless_terraform_bin_selects_the_binary(local_runs, tmp_path, terraform_shim):
    calls = tmp_path / "calls.log"
    terraform_shim(f'echo "$1" >> {calls}\nexec $TERRAFORM "$@"\n')
    local_runs.upload({"main.tf": NULL_TF})
    run_id = local_runs.create()
    assert local_runs.wait(run_id, "planned", "errored") == "planned"
    assert {"init", "plan"} <= set(calls.read_text().split())
    local_runs.action(run_id, "discard")


def test_a_cancel_during_terraform_init_cancels_the_run(local_runs, tmp_path, terraform_shim):
    """A cancel can land while terraform init runs (the run is already `planning`): init,
    interrupted, exits non-zero, and that must end the run canceled, not errored as an init
    failure. The shim holds init until it is interrupted, so the cancel always lands there."""
    holding = tmp_path / "init-started"
    terraform_shim(f'if [ "$1" = init ]; then\n  trap "exit 130" INT\n  touch {holding}\n'
                   '  while :; do sleep 0.1; done\nfi\nexec $TERRAFORM "$@"\n')
    local_runs.upload({"main.tf": NULL_TF})
    run_id = local_runs.create()
    poll(holding.exists, bool, timeout=60)
    assert local_runs.action(run_id, "cancel").status_code == 202
    assert local_runs.wait(run_id, "canceled", "errored", timeout=60) == "canceled"
    assert local_runs.get(run_id)["attributes"]["status-timestamps"].get("errored-at") is None


def test_refresh_only_and_replace(runs):
    runs.upload({"main.tf": NULL_TF})
    first = runs.create(**{"auto-apply": True})
    assert runs.wait(first, "applied") == "applied"
    refresh = runs.create(**{"refresh-only": True})
    # terraform 1.0 may report a refresh-only plan as having changes (state metadata): either
    # way it proposes no resource changes
    outcome = runs.wait(refresh, "planned_and_finished", "planned", "errored")
    assert outcome in ("planned_and_finished", "planned")
    assert runs.get(refresh)["attributes"]["refresh-only"] is True
    plan = runs.api.get(f"/api/v2/runs/{refresh}/plan").json["data"]["attributes"]
    assert (plan["resource-additions"], plan["resource-destructions"]) == (0, 0)
    if outcome == "planned":
        runs.action(refresh, "discard")
    replace = runs.create(**{"replace-addrs": ["null_resource.one"]})
    assert runs.wait(replace, "planned", "errored") == "planned"
    plan = runs.api.get(f"/api/v2/runs/{replace}/plan").json["data"]["attributes"]
    assert (plan["resource-additions"], plan["resource-destructions"]) == (1, 1)
    runs.action(replace, "discard")
    assert runs.create(expect=422, **{"refresh-only": True, "is-destroy": True}).status_code == 422


def test_a_redelivered_task_message_does_not_plan_again(local_runs):
    from chalicelib.aws import queues
    local_runs.upload({"main.tf": NULL_TF})
    run_id = local_runs.create()
    assert local_runs.wait(run_id, "planned") == "planned"
    before = local_runs.get(run_id)["attributes"]
    log_url = local_runs.api.get(f"/api/v2/runs/{run_id}/plan").json["data"]["attributes"]["log-read-url"]
    log_before = local_runs.log(log_url).body
    # at-least-once delivery: the same task arrives again (its token long used)
    queues.send("plans", {"run_id": run_id, "phase": "plan", "task_token": "already-used"})
    poll(lambda: queue_depth("plans"), lambda depth: depth == 0, timeout=30)
    assert local_runs.get(run_id)["attributes"] == before
    assert local_runs.log(log_url).body == log_before


def test_run_events_tell_the_run_history_to_its_organization_only(runs):
    runs.upload({"main.tf": NULL_TF})
    run_id = runs.create(**{"plan-only": True})
    runs.wait(run_id, "planned_and_finished")
    events = runs.api.get(f"/api/v2/runs/{run_id}/run-events")
    assert events.status_code == 200
    actions = [e["attributes"]["action"] for e in events.json["data"]]
    assert actions == ["created", "pending", "plan-queued", "planning", "planned-and-finished"]
    stamps = [e["attributes"]["created-at"] for e in events.json["data"]]
    assert stamps == sorted(stamps) and all(e["type"] == "run-events" for e in events.json["data"])
    # the workspace includes its current run when asked (go-tfe's include=current-run)
    listed = runs.api.get(f"/api/v2/workspaces/{runs.ws}?include=current-run").json
    assert [i["id"] for i in listed["included"]] == [run_id]
    # the run names the same events (go-tfe reads them from the run's relationships)
    related = runs.get(run_id)["relationships"]["run-events"]["data"]
    assert [e["id"] for e in related] == [e["id"] for e in events.json["data"]]
    runs.api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = runs.api.as_token(runs.api.post("/api/v2/organizations/rival/authentication-token")
                              .json["data"]["attributes"]["token"])
    assert rival.get(f"/api/v2/runs/{run_id}/run-events").status_code == 404
    assert runs.api.as_token(None).get(f"/api/v2/runs/{run_id}/run-events").status_code == 401
    # comments likewise: another organization neither reads nor writes them
    made = runs.api.post(f"/api/v2/runs/{run_id}/comments", {"data": {"attributes": {"body": "mine"}}}).json["data"]
    assert rival.get(f"/api/v2/comments/{made['id']}").status_code == 404
    assert rival.get(f"/api/v2/runs/{run_id}/comments").status_code == 404
    assert rival.post(f"/api/v2/runs/{run_id}/comments", {"data": {"attributes": {"body": "theirs"}}}).status_code == 404
    assert runs.api.as_token(None).get(f"/api/v2/comments/{made['id']}").status_code == 401
    assert [c["attributes"]["body"] for c in runs.api.get(f"/api/v2/runs/{run_id}/comments").json["data"]] == ["mine"]


def test_a_tofu_workspace_without_opentofu_refuses_runs_and_queues_nothing(local_runs, monkeypatch):
    monkeypatch.delenv("TERRALESS_TOFU_BIN", raising=False)
    from chalicelib import config
    config.reset()
    api, ws = local_runs.api, local_runs.ws
    assert api.patch(f"/api/v2/workspaces/{ws}", {"data": {"attributes": {"engine": "pulumi"}}}).status_code == 422
    assert api.patch(f"/api/v2/workspaces/{ws}", {"data": {"attributes": {"engine": "tofu"}}}).status_code == 200
    local_runs.upload({"main.tf": NULL_TF})
    refused = local_runs.create(expect=422)
    assert "OpenTofu" in refused.json["errors"][0]["detail"]
    assert api.get(f"/api/v2/workspaces/{ws}/runs").json["data"] == []
    # a workspace OpenTofu's CLI creates runs OpenTofu; any other client's, terraform
    org = local_runs.org
    by_tofu = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "t"}}},
                       headers={"User-Agent": "OpenTofu/1.12.6"})
    by_other = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "o"}}},
                        headers={"User-Agent": "Terraform/1.0.3"})
    assert by_tofu.json["data"]["attributes"]["engine"] == "tofu"
    assert by_other.json["data"]["attributes"]["engine"] == "terraform"
    config.reset()
