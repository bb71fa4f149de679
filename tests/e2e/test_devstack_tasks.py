"""Consul-Terraform-Sync tasks through the dev stack (real sockets, worker processes, the SQS
delays of buffer periods executed by moto_server): inspect on create, run=now, a burst of service
events coalesced into one run, PATCH inspect, delete while running, bad input."""
import time

import pytest

from conftest import HttpApi, poll, slow_plan_tf

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cts(dev_stack):
    return HttpApi(dev_stack.url, dev_stack.token)


@pytest.fixture
def module(tmp_path):
    path = tmp_path / "module"
    path.mkdir()
    (path / "main.tf").write_text(
        'variable "services" { type = any }\nvariable "port" {\n  type = string\n  default = "80"\n}\n'
        'resource "null_resource" "svc" {\n  triggers = { ids = join(",", sort(keys(var.services))), port = var.port }\n}\n')
    return str(path)


def _entry(port):
    return {"Node": {"Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1"},
            "Service": {"ID": f"web-{port}", "Service": "web", "Port": port}, "Checks": []}


def _runs(cts, name):
    ws = cts.get(f"/api/v2/organizations/cts/workspaces/{name}").json["data"]["id"]
    return cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"]


def test_task_lifecycle_through_the_dev_stack(cts, module, slow_state, tmp_path):
    task = {"name": "e2e-web", "module": module, "condition": {"services": {"names": ["web"]}},
            "buffer_period": {"min": "2s", "max": "10s"}, "variables": {"port": "8080"}}
    inspected = cts.post("/v1/tasks?run=inspect", {"task": task})
    assert inspected.status_code == 200 and inspected.json["run"]["changes_present"] is True
    assert cts.get("/v1/tasks/e2e-web").status_code == 404               # nothing created

    assert cts.post("/v1/tasks?run=now", {"task": task}).status_code == 201
    assert [r["attributes"]["status"] for r in _runs(cts, "e2e-web")] == ["applied"]

    started = time.monotonic()
    for port in range(9000, 9005):                                       # five rapid changes
        assert cts.post("/v1/watch/service/web", [_entry(p) for p in range(9000, port + 1)]).status_code == 200
    runs = poll(lambda: _runs(cts, "e2e-web"), lambda r: len(r) == 2 and r[0]["attributes"]["status"]
                in ("applied", "errored"), timeout=60)
    assert runs[0]["attributes"]["status"] == "applied"
    assert time.monotonic() - started >= 2                               # not before the quiet min
    # the event is recorded just after the run's final status is written: poll for it
    events = poll(lambda: cts.get("/v1/status/tasks/e2e-web?include=events").json["e2e-web"]["events"],
                  lambda e: len(e) >= 2, timeout=30)
    assert [e["success"] for e in events] == [True, True]

    before = cts.get("/v1/tasks/e2e-web").json["task"]
    patched = cts.patch("/v1/tasks/e2e-web?run=inspect", {"enabled": False})
    assert patched.status_code == 200 and patched.json["inspect"]["changes_present"] is False
    assert cts.get("/v1/tasks/e2e-web").json["task"] == before

    # delete while a run holds the workspace: gone once the run ends
    slow = {"name": "e2e-slow", "module": str(tmp_path / "slowmod"), "condition": {"services": {"names": ["slow"]}},
            "buffer_period": {"enabled": False}}
    (tmp_path / "slowmod").mkdir()
    (tmp_path / "slowmod" / "main.tf").write_text('variable "services" { type = any }\n' + slow_plan_tf(slow_state))
    assert cts.post("/v1/tasks", {"task": slow}).status_code == 201
    cts.post("/v1/watch/service/slow", [_entry(1)])
    run = poll(lambda: _runs(cts, "e2e-slow"), lambda r: r and r[0]["attributes"]["status"] == "planning",
               timeout=60)[0]
    assert cts.delete("/v1/tasks/e2e-slow").status_code == 202
    assert cts.get("/v1/tasks/e2e-slow").status_code == 404
    assert "e2e-slow" not in [t["name"] for t in cts.get("/v1/tasks").json["tasks"]]
    cts.post(f"/api/v2/runs/{run['id']}/actions/cancel")
    poll(lambda: cts.get(f"/api/v2/runs/{run['id']}").json["data"]["attributes"]["status"],
         lambda s: s == "canceled", timeout=60)

    bad = cts.post("/v1/tasks", {"task": {**task, "name": "x", "condition": {"schedule": {"cron": "soon"}}}})
    assert bad.status_code == 400 and bad.json["error"]["message"]
    assert cts.post("/v1/tasks", {"task": task}).status_code == 409


def _member_token(cts, org: str, email: str) -> str:
    invited = cts.post(f"/api/v2/organizations/{org}/organization-memberships",
                       {"data": {"type": "organization-memberships", "attributes": {"email": email}}})
    assert invited.status_code == 201, invited.body
    user_id = invited.json["data"]["relationships"]["user"]["data"]["id"]
    token = cts.post(f"/api/v2/users/{user_id}/authentication-tokens",
                     {"data": {"type": "authentication-tokens", "attributes": {"description": email}}})
    assert token.status_code == 201, token.body
    return token.json["data"]["attributes"]["token"]


def test_tasks_have_owners_and_organization_tokens_cannot_start_work(cts, module):
    """Two members of the CTS organization: neither sees, changes nor deletes the other's task;
    the organization's token creates no task (a task starts runs) and no member (who could)."""
    cts.get("/v1/tasks")                                     # the CTS organization exists
    alice = cts.as_token(_member_token(cts, "cts", f"alice-{time.time_ns()}@example.test"))
    bob = cts.as_token(_member_token(cts, "cts", f"bob-{time.time_ns()}@example.test"))
    task = {"name": f"owned-{time.time_ns()}", "module": module,
            "condition": {"services": {"names": ["web"]}}}
    assert alice.post("/v1/tasks", {"task": task}).status_code == 201
    name = task["name"]
    assert bob.get(f"/v1/tasks/{name}").status_code == 404
    assert name not in [t["name"] for t in bob.get("/v1/tasks").json["tasks"]]
    assert bob.patch(f"/v1/tasks/{name}", {"enabled": False}).status_code == 404
    assert bob.delete(f"/v1/tasks/{name}").status_code == 404
    assert alice.get(f"/v1/tasks/{name}").json["task"]["enabled"] is True        # untouched

    org_token = cts.post("/api/v2/organizations/cts/authentication-token").json["data"]["attributes"]["token"]
    as_org = cts.as_token(org_token)
    refused = as_org.post("/v1/tasks", {"task": {**task, "name": f"by-org-{time.time_ns()}"}})
    assert refused.status_code == 403 and "organization tokens" in refused.json["error"]["message"]
    assert as_org.post("/api/v2/organizations/cts/organization-memberships", {"data": {
        "type": "organization-memberships", "attributes": {"email": "x@example.test"}}}).status_code == 403
    members = cts.get("/api/v2/organizations/cts/organization-memberships").json["data"]
    assert as_org.delete(f"/api/v2/organization-memberships/{members[0]['id']}").status_code == 403
    assert len(cts.get("/api/v2/organizations/cts/organization-memberships").json["data"]) == len(members)
    assert alice.delete(f"/v1/tasks/{name}").status_code == 202


def test_hcl_injection_through_a_task_is_refused_or_inert(cts, module):
    """A variable name that would add HCL is refused; a value that looks like HCL reaches the
    module as those characters (terraform never evaluates it)."""
    name = f"inject-{time.time_ns()}"
    base = {"name": name, "module": module, "condition": {"services": {"names": ["web"]}}}
    for hostile in ({**base, "variables": {'port = "1"\n}\nresource "null_resource" "x" {\n  y': "v"}},
                    {**base, "providers": ['null" = {}\n}\n}\nresource "null_resource" "x" {\n  z']},
                    {**base, "name": name + "\n"}):
        resp = cts.post("/v1/tasks", {"task": hostile})
        assert resp.status_code == 400 and resp.json["error"]["message"], hostile
    inert = cts.post("/v1/tasks?run=inspect", {"task": {**base, "variables": {
        "port": '${file("/etc/hostname")}'}}})
    assert inert.status_code == 200, inert.body
    assert '${file(\\"/etc/hostname\\")}' in inert.json["run"]["plan"] or \
        '${file("/etc/hostname")}' in inert.json["run"]["plan"]
    assert cts.get(f"/v1/tasks/{name}").status_code == 404


def test_a_task_runs_with_its_workspace_variables(cts, tmp_path):
    """A task's workspace is an ordinary workspace: its env variables reach the task's runs."""
    cts.get("/v1/tasks")                                     # the CTS organization exists
    ws = cts.post("/api/v2/organizations/cts/workspaces", {"data": {"attributes": {"name": "e2e-vars"}}})
    assert ws.status_code == 201, ws.body
    ws_id = ws.json["data"]["id"]
    assert cts.post(f"/api/v2/workspaces/{ws_id}/vars", {"data": {"type": "vars", "attributes": {
        "key": "TASK_ENV", "value": "from-the-task-workspace", "category": "env"}}}).status_code == 201
    module = tmp_path / "envmod"
    module.mkdir()
    (module / "main.tf").write_text(
        'variable "services" { type = any }\nresource "null_resource" "n" {\n'
        '  provisioner "local-exec" { command = "echo task-env=$TASK_ENV" }\n}\n')
    task = {"name": "e2e-vars", "module": str(module), "condition": {"services": {"names": ["vars"]}}}
    assert cts.post("/v1/tasks?run=now", {"task": task}).status_code == 201
    (run,) = _runs(cts, "e2e-vars")
    assert run["attributes"]["status"] == "applied"
    apply = cts.get(f"/api/v2/runs/{run['id']}/apply").json["data"]["attributes"]
    log = cts.as_token(None).get(apply["log-read-url"].replace(cts.base_url, "")).body.decode()
    assert "task-env=from-the-task-workspace" in log
    assert cts.delete("/v1/tasks/e2e-vars").status_code in (202, 204)
