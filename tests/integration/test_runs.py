"""The run engine under moto: the Step Functions definition of infra/ executed by moto's
engine, SQS-dispatched workers running the real terraform binary, the API in-process."""
import base64
import hashlib
import json
import pytest
import requests

from conftest import poll, slow_plan_tf

NULL_TF = 'resource "null_resource" "one" {}\n'
CHANGING_TF = NULL_TF + 'output "stamp" { value = timestamp() }\n'


@pytest.fixture
def runs(api, workspace, upload, worker):
    """Helpers bound to one workspace with the background worker running."""
    import itertools
    counter = itertools.count()
    class Runs:
        ws = workspace

        def upload(self, files, **attrs):
            return upload(workspace, files, attrs=attrs or None)

        def create(self, cv=None, expect=201, **attrs):
            # identical bodies within the dedup window are one run (retry safety): vary them
            attrs.setdefault("message", f"test run {next(counter)}")
            rels = {"workspace": {"data": {"type": "workspaces", "id": workspace}}}
            if cv:
                rels["configuration-version"] = {"data": {"type": "configuration-versions", "id": cv}}
            resp = api.post("/api/v2/runs", {"data": {"type": "runs", "attributes": attrs,
                                                      "relationships": rels}})
            assert resp.status_code == expect, resp.body
            return resp.json["data"]["id"] if expect == 201 else resp

        def get(self, run_id):
            return api.get(f"/api/v2/runs/{run_id}").json["data"]

        def status(self, run_id):
            return self.get(run_id)["attributes"]["status"]

        def wait(self, run_id, *statuses, timeout=90):
            return poll(lambda: self.status(run_id), lambda s: s in statuses, timeout=timeout,
                        interval=0.1)

        def action(self, run_id, name, body=None):
            return api.post(f"/api/v2/runs/{run_id}/actions/{name}", body)

        def log(self, url, **params):
            return api.as_token(None).get(url.replace("http://terraless.test", "") +
                                          ("?" + "&".join(f"{k}={v}" for k, v in params.items())
                                           if params else ""))
    return Runs()


def test_plan_confirm_apply_and_the_next_run_plans_against_the_new_state(api, runs):
    cv = runs.upload({"main.tf": NULL_TF})
    run_id = runs.create(message="first")
    assert runs.wait(run_id, "planned", "errored") == "planned"
    run = runs.get(run_id)
    a = run["attributes"]
    assert a["has-changes"] is True and a["actions"]["is-confirmable"] and a["actions"]["is-discardable"]
    assert a["actions"]["is-cancelable"] is False
    assert run["relationships"]["configuration-version"]["data"]["id"] == cv
    assert {"plan-queued-at", "planning-at", "planned-at"} <= set(a["status-timestamps"])
    plan = api.get(f"/api/v2/runs/{run_id}/plan").json["data"]
    assert plan == api.get(f"/api/v2/plans/{plan['id']}").json["data"]
    pa = plan["attributes"]
    assert (pa["status"], pa["resource-additions"], pa["resource-destructions"]) == ("finished", 1, 0)
    body = runs.log(pa["log-read-url"]).body.decode()
    assert body.startswith("\x02") and body.endswith("\x03") and "Plan: 1 to add" in body
    assert runs.log(pa["log-read-url"], offset=1, limit=9).body.decode() == body[1:10]
    # the JSON plan is produced right after the run is recorded as planned
    json_out = poll(lambda: api.get(f"/api/v2/plans/{plan['id']}/json-output"),
                    lambda resp: resp.status_code != 404, timeout=30)
    assert json_out.status_code == 307
    plan_json = requests.get(json_out.headers["Location"]).json()
    assert [rc["address"] for rc in plan_json["resource_changes"]] == ["null_resource.one"]

    assert runs.action(run_id, "apply", {"comment": "ship it"}).status_code == 202
    assert runs.wait(run_id, "applied", "errored") == "applied"
    apply = api.get(f"/api/v2/runs/{run_id}/apply").json["data"]
    assert (apply["attributes"]["status"], apply["attributes"]["resource-additions"]) == ("finished", 1)
    assert "Apply complete!" in runs.log(apply["attributes"]["log-read-url"]).body.decode()
    sv = api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    assert apply["relationships"]["state-versions"]["data"][0]["id"] == sv["id"]
    state = api.get(f"/api/v2/state-versions/{sv['id']}/download").json
    assert [r["type"] for r in state["resources"]] == ["null_resource"]
    assert runs.action(run_id, "apply").status_code == 409        # already applied

    second = runs.create(message="again, same code")
    assert runs.wait(second, "planned_and_finished", "planned", "errored") == "planned_and_finished"
    assert runs.get(second)["attributes"]["has-changes"] is False
    listed = api.get(f"/api/v2/workspaces/{runs.ws}/runs").json
    assert [r["id"] for r in listed["data"]] == [second, run_id]      # newest first


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


def test_three_runs_on_one_workspace_run_one_at_a_time_in_order(api, runs):
    runs.upload({"main.tf": CHANGING_TF})
    ids = [runs.create(message=f"run {i}") for i in range(3)]
    seen_active = []
    for current, waiting in ((ids[0], ids[1:]), (ids[1], ids[2:]), (ids[2], [])):
        assert runs.wait(current, "planned") == "planned"
        assert all(runs.status(w) == "pending" for w in waiting)
        ws = api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]
        seen_active.append(ws["relationships"]["current-run"]["data"]["id"])
        runs.action(current, "apply")
        assert runs.wait(current, "applied") == "applied"
    assert seen_active == ids
    planned_at = [runs.get(i)["attributes"]["status-timestamps"]["planning-at"] for i in ids]
    applied_at = [runs.get(i)["attributes"]["status-timestamps"]["applied-at"] for i in ids]
    assert planned_at == sorted(planned_at) and applied_at[0] < planned_at[1] and applied_at[1] < planned_at[2]


def test_auto_apply_destroy_and_plan_only(api, runs):
    api.patch(f"/api/v2/workspaces/{runs.ws}", {"data": {"attributes": {"auto-apply": True}}})
    runs.upload({"main.tf": NULL_TF})
    auto = runs.create()
    assert runs.wait(auto, "applied", "errored") == "applied"
    assert "confirmed-at" not in runs.get(auto)["attributes"]["status-timestamps"]
    # destroy plans are not auto-applied unless asked
    destroy = runs.create(**{"is-destroy": True})
    assert runs.wait(destroy, "planned") == "planned"
    plan = api.get(f"/api/v2/runs/{destroy}/plan").json["data"]["attributes"]
    assert (plan["resource-additions"], plan["resource-destructions"]) == (0, 1)
    # a plan-only run does not wait for the workspace, which the destroy run holds
    plan_only = runs.create(**{"plan-only": True})
    assert runs.wait(plan_only, "planned_and_finished", "errored") == "planned_and_finished"
    assert runs.get(plan_only)["attributes"]["plan-only"] is True
    runs.action(destroy, "apply")
    assert runs.wait(destroy, "applied") == "applied"
    apply = api.get(f"/api/v2/runs/{destroy}/apply").json["data"]["attributes"]
    assert apply["resource-destructions"] == 1
    sv = api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    assert api.get(f"/api/v2/state-versions/{sv['id']}/download").json["resources"] == []
    ops = api.get(f"/api/v2/workspaces/{runs.ws}/runs?filter%5Boperation%5D=destroy").json["data"]
    assert [r["id"] for r in ops] == [destroy]
    finished = api.get(f"/api/v2/workspaces/{runs.ws}/runs?filter[status]=planned_and_finished,errored").json
    assert [r["id"] for r in finished["data"]] == [plan_only]


def test_variables_and_targets_reach_terraform(api, runs):
    runs.upload({"main.tf": 'variable "who" {}\nresource "null_resource" "a" {}\n'
                            'resource "null_resource" "b" {}\n'
                            # depends on the target, so the targeted apply records it
                            'output "hello" { value = length(null_resource.a.id) > 0 ? "hi ${var.who}" : "" }\n'})
    run_id = runs.create(**{"variables": [{"key": "who", "value": '"terraless"'}],
                            "target-addrs": ["null_resource.a"], "auto-apply": True})
    assert runs.wait(run_id, "applied", "errored") == "applied", runs.get(run_id)["attributes"]["error-text"]
    sv = api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version?include=outputs").json
    state = api.get(f"/api/v2/state-versions/{sv['data']['id']}/download").json
    assert [r["name"] for r in state["resources"]] == ["a"]
    assert state["outputs"]["hello"]["value"] == "hi terraless"
    assert [o["attributes"]["value"] for o in sv["included"]] == ["hi terraless"]


def test_locked_workspace_keeps_runs_pending_until_unlocked(api, runs):
    runs.upload({"main.tf": CHANGING_TF})
    api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock", {"reason": "maintenance"})
    run_id = runs.create()
    for _ in range(10):
        assert runs.status(run_id) == "pending"
    api.post(f"/api/v2/workspaces/{runs.ws}/actions/unlock")
    assert runs.wait(run_id, "planned") == "planned"
    runs.action(run_id, "discard")


def test_cancel_while_planning_interrupts_terraform(api, runs, slow_state_url):
    runs.upload({"main.tf": slow_plan_tf(slow_state_url)})
    run_id = runs.create()
    runs.wait(run_id, "planning")
    assert runs.action(run_id, "cancel", {"comment": "too slow"}).status_code == 202
    assert runs.get(run_id)["attributes"]["force-cancel-available-at"].endswith("Z")
    assert runs.action(run_id, "cancel").status_code == 409      # already being canceled
    assert runs.wait(run_id, "canceled", "errored", "planned_and_finished", timeout=30) == "canceled"
    plan = api.get(f"/api/v2/runs/{run_id}/plan").json["data"]["attributes"]
    assert plan["status"] == "canceled"
    assert runs.action(run_id, "force-cancel").status_code == 409


def test_force_cancel_after_the_cool_off(api, runs, monkeypatch):
    from chalicelib import config
    monkeypatch.setenv("TERRALESS_FORCE_CANCEL_COOLOFF_SECONDS", "1")
    monkeypatch.setenv("TERRALESS_CANCEL_GRACE_SECONDS", "600")   # terraform waits for the provisioner
    config.reset()
    runs.upload({"main.tf": 'resource "null_resource" "stubborn" {\n  provisioner "local-exec" {\n'
                            '    command = "trap \'\' INT; sleep 60"\n  }\n}\n'})
    stuck = runs.create(**{"auto-apply": True})
    queued = runs.create()
    runs.wait(stuck, "applying")
    log_url = api.get(f"/api/v2/runs/{stuck}/apply").json["data"]["attributes"]["log-read-url"]
    # the live log shows the provisioner running (and ignoring SIGINT) before we cancel
    poll(lambda: runs.log(log_url).body.decode(), lambda text: "local-exec" in text, timeout=30)
    assert runs.action(stuck, "force-cancel").status_code == 409     # cancel first
    assert runs.action(stuck, "cancel").status_code == 202
    poll(lambda: runs.get(stuck)["attributes"], lambda a: a["actions"]["is-force-cancelable"], timeout=10)
    assert runs.status(stuck) == "applying"                          # SIGINT was ignored
    assert runs.action(stuck, "force-cancel", {"comment": "stuck"}).status_code == 202
    assert runs.status(stuck) == "force_canceled"
    ws = api.get(f"/api/v2/workspaces/{runs.ws}").json["data"]
    assert ws["relationships"]["current-run"]["data"]["id"] == queued   # freed and handed on
    assert runs.wait(queued, "planned", "errored") == "planned"
    runs.action(queued, "discard")
    config.reset()


def test_retried_post_does_not_duplicate_runs(api, runs):
    runs.upload({"main.tf": CHANGING_TF})
    body = {"data": {"attributes": {"message": "retry me"}, "relationships": {
        "workspace": {"data": {"type": "workspaces", "id": runs.ws}}}}}
    first = api.post("/api/v2/runs", body).json["data"]["id"]
    second = api.post("/api/v2/runs", body).json["data"]["id"]
    assert first == second
    other = runs.create(message="a different run")
    assert other != first
    total = api.get(f"/api/v2/workspaces/{runs.ws}/runs").json["meta"]["pagination"]["total-count"]
    assert total == 2
    runs.wait(first, "planned")
    runs.action(first, "discard")
    runs.wait(other, "planned")
    runs.action(other, "discard")


def test_bad_run_requests(api, runs, org):
    pending_cv = api.post(f"/api/v2/workspaces/{runs.ws}/configuration-versions", {"data": {}}).json["data"]["id"]
    resp = runs.create(expect=422)                                  # no uploaded version yet
    assert resp.json["errors"][0]["source"]["pointer"] == "/data/relationships/configuration-version"
    assert runs.create(cv=pending_cv, expect=422).status_code == 422
    assert runs.create(cv="cv-doesnotexist00", expect=422).status_code == 422
    assert api.post("/api/v2/runs", {"data": {"attributes": {}}}).status_code == 422
    assert api.post("/api/v2/runs", raw=b"{oops").status_code == 400
    cv = runs.upload({"main.tf": NULL_TF})
    assert runs.create(cv=cv, expect=422, **{"is-destroy": "yes"}).status_code == 422
    assert runs.create(cv=cv, expect=422, variables=[{"key": "1bad", "value": "1"}]).status_code == 422
    for action in ("apply", "discard", "cancel", "force-cancel"):
        assert runs.action("run-doesnotexist00", action).status_code == 404
    org_token = api.post(f"/api/v2/organizations/{org}/authentication-token").json["data"]["attributes"]["token"]
    refused = api.as_token(org_token).post("/api/v2/runs", {"data": {"relationships": {
        "workspace": {"data": {"id": runs.ws}}}}})
    assert refused.status_code == 403
    assert api.get(f"/api/v2/workspaces/{runs.ws}/runs").json["meta"]["pagination"]["total-count"] == 0


def test_apply_before_planning_is_a_conflict_and_pending_runs_can_be_canceled(api, runs):
    runs.upload({"main.tf": CHANGING_TF})
    api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock")
    run_id = runs.create()
    assert runs.action(run_id, "apply").status_code == 409
    assert runs.action(run_id, "cancel").status_code == 202
    a = runs.get(run_id)["attributes"]
    assert a["status"] == "canceled" and a["actions"] == {
        "is-cancelable": False, "is-confirmable": False, "is-discardable": False,
        "is-force-cancelable": False}


def test_upload_with_auto_queue_runs_queues_a_run(api, runs):
    cv = runs.upload({"main.tf": CHANGING_TF}, **{"auto-queue-runs": True})
    listed = poll(lambda: api.get(f"/api/v2/workspaces/{runs.ws}/runs").json["data"], bool, timeout=10)
    run = listed[0]
    assert run["attributes"]["source"] == "tfe-configuration-version"
    assert run["relationships"]["configuration-version"]["data"]["id"] == cv
    assert runs.wait(run["id"], "planned") == "planned"
    runs.action(run["id"], "discard")


def test_include_and_download_through_the_run(api, runs):
    cv = runs.upload({"main.tf": CHANGING_TF})
    run_id = runs.create()
    runs.wait(run_id, "planned")
    doc = api.get(f"/api/v2/runs/{run_id}?include=plan%2Capply,created_by,configuration_version").json
    assert {i["type"] for i in doc["included"]} == {"plans", "applies", "users", "configuration-versions"}
    assert api.get(f"/api/v2/runs/{run_id}/configuration-version/download").status_code == 302
    assert api.get(f"/api/v2/runs/{run_id}/configuration-version").json["data"]["id"] == cv
    runs.action(run_id, "discard")


def test_poison_task_message_ends_in_the_dlq_and_errors_its_run(api, runs):
    from chalicelib.aws import queues
    runs.upload({"main.tf": CHANGING_TF})
    api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock")       # keep it out of the engine
    run_id = runs.create()
    queues.send("plans", {"run_id": run_id, "phase": "plan"})     # no task token: handler fails
    status = poll(lambda: runs.get(run_id)["attributes"], lambda a: a["status"] != "pending", timeout=30)
    assert status["status"] == "errored"
    assert "dead-letter" in status["error-text"]


def test_state_versions_api(api, runs):
    def state(serial, lineage="lin-1"):
        raw = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": serial,
                          "lineage": lineage, "outputs": {"x": {"value": serial, "type": "number"}},
                          "resources": []}).encode()
        return {"data": {"type": "state-versions", "attributes": {
            "serial": serial, "lineage": lineage, "md5": hashlib.md5(raw).hexdigest(),
            "state": base64.b64encode(raw).decode()}}}, raw
    base = f"/api/v2/workspaces/{runs.ws}/state-versions"
    body, raw = state(1)
    assert api.post(base, body).status_code == 409                 # the workspace must be locked
    api.post(f"/api/v2/workspaces/{runs.ws}/actions/lock")
    created = api.post(base, body)
    assert created.status_code == 201 and created.json["data"]["id"].startswith("sv-")
    assert api.get(f"/api/v2/state-versions/{created.json['data']['id']}/download").body == raw
    assert api.post(base, body).status_code == 409                 # serial not greater
    assert api.post(base, state(2, "other-lineage")[0]).status_code == 409
    bad = state(3)[0]
    bad["data"]["attributes"]["md5"] = "0" * 32
    assert api.post(base, bad).status_code == 422
    assert api.post(base, state(3)[0]).status_code == 201
    current = api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    assert current["attributes"]["serial"] == 3
    assert api.get(f"{base}?page[size]=1").json["meta"]["pagination"]["total-count"] == 2
    listed = api.get(f"/api/v2/state-versions?filter[organization][name]=acme&filter[workspace][name]=prod").json
    assert [sv["attributes"]["serial"] for sv in listed["data"]] == [3, 1]


def test_terraform_sees_a_scrubbed_environment(api, runs, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRALESS_SIGNING_SECRET", "do-not-leak-this")
    out = tmp_path / "env.txt"
    runs.upload({"main.tf": 'resource "null_resource" "env" {\n  provisioner "local-exec" {\n'
                            f'    command = "env > {out}"\n  }}\n}}\n'})
    run_id = runs.create(**{"auto-apply": True})
    assert runs.wait(run_id, "applied", "errored") == "applied"
    names = {line.split("=", 1)[0] for line in out.read_text().splitlines() if "=" in line}
    leaked = {n for n in names if n.startswith(("AWS_", "TERRALESS_", "MOTO"))}
    assert not leaked, leaked
    assert "do-not-leak-this" not in out.read_text()
    assert {"PATH", "HOME", "TF_CLI_CONFIG_FILE"} <= names


def test_terraless_terraform_bin_selects_the_binary(api, runs, tmp_path, monkeypatch):
    from chalicelib import config
    from chalicelib.workers import terraform
    calls = tmp_path / "calls.log"
    shim = tmp_path / "terraform"
    shim.write_text(f'#!/bin/sh\necho "$1" >> {calls}\nexec {terraform.binary()} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("TERRALESS_TERRAFORM_BIN", str(shim))
    config.reset()
    terraform.binary.cache_clear()
    try:
        runs.upload({"main.tf": NULL_TF})
        run_id = runs.create()
        assert runs.wait(run_id, "planned", "errored") == "planned"
        assert {"init", "plan"} <= set(calls.read_text().split())
        runs.action(run_id, "discard")
    finally:
        monkeypatch.delenv("TERRALESS_TERRAFORM_BIN")
        config.reset()
        terraform.binary.cache_clear()


def test_refresh_only_and_replace(api, runs):
    runs.upload({"main.tf": NULL_TF})
    first = runs.create(**{"auto-apply": True})
    assert runs.wait(first, "applied") == "applied"
    refresh = runs.create(**{"refresh-only": True})
    # terraform 1.0 may report a refresh-only plan as having changes (state metadata): either
    # way it proposes no resource changes
    outcome = runs.wait(refresh, "planned_and_finished", "planned", "errored")
    assert outcome in ("planned_and_finished", "planned")
    assert runs.get(refresh)["attributes"]["refresh-only"] is True
    plan = api.get(f"/api/v2/runs/{refresh}/plan").json["data"]["attributes"]
    assert (plan["resource-additions"], plan["resource-destructions"]) == (0, 0)
    if outcome == "planned":
        runs.action(refresh, "discard")
    replace = runs.create(**{"replace-addrs": ["null_resource.one"]})
    assert runs.wait(replace, "planned", "errored") == "planned"
    plan = api.get(f"/api/v2/runs/{replace}/plan").json["data"]["attributes"]
    assert (plan["resource-additions"], plan["resource-destructions"]) == (1, 1)
    runs.action(replace, "discard")
    assert runs.create(expect=422, **{"refresh-only": True, "is-destroy": True}).status_code == 422
