"""The Consul-Terraform-Sync Tasks API: CRUD in CTS's shapes, with the service's tokens."""
import pytest

TASK = {"name": "web", "module": "/srv/modules/web", "description": "web servers",
        "condition": {"services": {"names": ["web"]}}, "variables": {"port": "80"},
        "providers": ["null"]}


@pytest.fixture
def cts(api):
    return api


def test_create_show_list_update_delete(cts):
    created = cts.post("/v1/tasks", {"task": TASK})
    assert created.status_code == 201 and created.json["request_id"]
    task = created.json["task"]
    assert task["name"] == "web" and task["enabled"] is True and task["variables"] == {"port": "80"}
    assert cts.get("/v1/tasks/web").json["task"] == task
    assert [t["name"] for t in cts.get("/v1/tasks").json["tasks"]] == ["web"]
    # the task is backed by a workspace of the CTS organization
    ws = cts.get("/api/v2/organizations/cts/workspaces/web")
    assert ws.status_code == 200 and ws.json["data"]["attributes"]["auto-apply"] is True
    disabled = cts.patch("/v1/tasks/web", {"enabled": False})
    assert disabled.status_code == 200 and disabled.json["task"]["enabled"] is False
    assert cts.get("/v1/tasks/web").json["task"]["enabled"] is False
    deleted = cts.delete("/v1/tasks/web")
    assert deleted.status_code == 202 and deleted.json["request_id"]
    missing = cts.get("/v1/tasks/web")
    assert missing.status_code == 404 and "web" in missing.json["error"]["message"]
    assert cts.get("/v1/tasks").json["tasks"] == []
    # a new task of the same name takes over the workspace (and its state)
    assert cts.post("/v1/tasks", {"task": TASK}).status_code == 201
    assert cts.get("/api/v2/organizations/cts/workspaces/web").json["data"]["id"] == ws.json["data"]["id"]


def test_bad_input(cts):
    assert cts.post("/v1/tasks", {"task": TASK}).status_code == 201
    dup = cts.post("/v1/tasks", {"task": TASK})
    assert dup.status_code == 409 and "already exists" in dup.json["error"]["message"]
    for body in ({"task": {**TASK, "name": "x", "module": ""}}, {"task": {**TASK, "name": "y", "bogus": 1}},
                 {"task": {**TASK, "name": "z", "condition": {"schedule": {"cron": "nope"}}}},
                 {"nottask": {}}):
        resp = cts.post("/v1/tasks", body)
        assert resp.status_code == 400 and resp.json["error"]["message"], body
    assert cts.post("/v1/tasks", raw=b"{oops").status_code == 400
    assert cts.patch("/v1/tasks/web", {"enabled": "no"}).status_code == 400
    assert cts.patch("/v1/tasks/web", {"description": "x"}).status_code == 400
    assert cts.patch("/v1/tasks/nope", {"enabled": True}).status_code == 404
    assert cts.delete("/v1/tasks/nope").status_code == 404
    assert cts.post("/v1/tasks?run=sometimes", {"task": {**TASK, "name": "q"}}).status_code == 400
    assert [t["name"] for t in cts.get("/v1/tasks").json["tasks"]] == ["web"]   # nothing harmed


def test_tokens_and_isolation(cts, org):
    assert cts.as_token(None).get("/v1/tasks").status_code == 401
    assert cts.as_token(None).get("/v1/tasks").json["error"]["message"]
    cts.post("/v1/tasks", {"task": TASK})
    # a token of another organization does not see the CTS organization's tasks
    other = cts.post(f"/api/v2/organizations/{org}/authentication-token").json["data"]["attributes"]["token"]
    assert cts.as_token(other).get("/v1/tasks").status_code == 404


def test_a_task_deleted_while_its_workspace_runs_goes_when_the_run_ends(cts, upload, worker,
                                                                        slow_state):
    from conftest import plan_blocked_on, poll, slow_plan_tf
    from chalicelib.storage.models import TaskModel
    cts.post("/v1/tasks", {"task": TASK})
    ws = cts.get("/api/v2/organizations/cts/workspaces/web").json["data"]["id"]
    upload(ws, {"main.tf": slow_plan_tf(slow_state)})
    run = cts.post("/api/v2/runs", {"data": {"relationships": {"workspace": {"data": {"id": ws}}}}}).json["data"]["id"]
    poll(lambda: cts.get(f"/api/v2/runs/{run}").json["data"]["attributes"]["status"],
         lambda s: s == "planning", timeout=60)
    assert cts.delete("/v1/tasks/web").status_code == 202
    assert cts.get("/v1/tasks/web").status_code == 404                  # marked for deletion
    assert TaskModel.get("cts", "web").deleting is True                   # kept while the run is active
    # cancelled once terraform is blocked reading the FIFO (a Ctrl-C in init ends it before
    # it opens it), then let go (EOF), so the run ends whatever this process's cancel grace
    with plan_blocked_on(slow_state):
        cts.post(f"/api/v2/runs/{run}/actions/cancel")
    poll(lambda: TaskModel.count("cts"), lambda n: n == 0, timeout=30)


def _module(tmp_path):
    module = tmp_path / "modules" / "web"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(
        'variable "services" { type = any }\nvariable "port" { type = string }\n'
        'resource "null_resource" "svc" {\n  triggers = { port = var.port }\n}\n'
        'output "port" { value = var.port }\n')
    return str(module)


def test_inspect_on_create_plans_the_generated_module_and_creates_nothing(cts, worker, tmp_path):
    task = {**TASK, "module": _module(tmp_path)}
    resp = cts.post("/v1/tasks?run=inspect", {"task": task})
    assert resp.status_code == 200, resp.body
    assert resp.json["run"]["changes_present"] is True
    assert "null_resource.svc" in resp.json["run"]["plan"] and "Plan: 1 to add" in resp.json["run"]["plan"]
    assert resp.json["task"]["name"] == "web"
    assert cts.get("/v1/tasks").json["tasks"] == []
    assert cts.get("/v1/tasks/web").status_code == 404
    names = [w["attributes"]["name"] for w in cts.get("/api/v2/organizations/cts/workspaces").json["data"]]
    assert names == []                                   # the scratch workspace is gone


def test_patch_inspect_leaves_the_task_untouched(cts, worker, tmp_path):
    task = {**TASK, "module": _module(tmp_path)}
    assert cts.post("/v1/tasks", {"task": task}).status_code == 201
    before = cts.get("/v1/tasks/web").json["task"]
    resp = cts.patch("/v1/tasks/web?run=inspect", {"enabled": False})
    assert resp.status_code == 200, resp.body
    assert resp.json["inspect"]["changes_present"] is True
    assert "Plan: 1 to add" in resp.json["inspect"]["plan"]
    assert cts.get("/v1/tasks/web").json["task"] == before
    bad = cts.post("/v1/tasks?run=inspect", {"task": {**task, "name": "broken", "module": str(tmp_path / "missing")}})
    assert bad.status_code == 400 and "failed" in bad.json["error"]["message"]


def test_run_now_applies_and_keeps_the_task_only_if_the_run_succeeds(cts, worker, tmp_path):
    task = {**TASK, "module": _module(tmp_path)}
    created = cts.post("/v1/tasks?run=now", {"task": task})
    assert created.status_code == 201, created.body
    ws = cts.get("/api/v2/organizations/cts/workspaces/web").json["data"]["id"]
    sv = cts.get(f"/api/v2/workspaces/{ws}/current-state-version").json["data"]
    state = cts.get(f"/api/v2/state-versions/{sv['id']}/download").json
    [resource] = state["resources"]                                   # the module really ran
    assert (resource["module"], resource["type"]) == ("module.web", "null_resource")
    assert resource["instances"][0]["attributes"]["triggers"] == {"port": "80"}
    runs = cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"]
    assert [r["attributes"]["status"] for r in runs] == ["applied"]
    # a task whose first run fails is not kept
    failing = cts.post("/v1/tasks?run=now", {"task": {**task, "name": "broken",
                                                      "module": str(tmp_path / "missing")}})
    assert failing.status_code == 400 and "errored" in failing.json["error"]["message"]
    assert cts.get("/v1/tasks/broken").status_code == 404
    # PATCH ?run=now re-runs the enabled task: nothing to change now
    again = cts.patch("/v1/tasks/web?run=now", {"enabled": True})
    assert again.status_code == 200 and again.json["task"]["enabled"] is True
    statuses = [r["attributes"]["status"] for r in cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"]]
    assert statuses == ["planned_and_finished", "applied"]


def test_a_schedule_condition_fires_a_run_when_its_cron_time_comes(cts, worker, tmp_path, app_module):
    from datetime import datetime, timedelta, timezone

    from conftest import poll
    from chalicelib.local import schedule
    from chalicelib.services import task_conditions as tasks
    assert {j.name: j.every for j in schedule.jobs(app_module.app, app_module)}["fire_task_schedules"] == 60
    task = {**TASK, "module": _module(tmp_path), "condition": {"schedule": {"cron": "*/5 * * * *"}}}
    assert cts.post("/v1/tasks", {"task": task}).status_code == 201
    ws = cts.get("/api/v2/organizations/cts/workspaces/web").json["data"]["id"]
    assert tasks.fire_due_schedules(datetime.now(timezone.utc)) == []      # not yet due
    later = datetime.now(timezone.utc) + timedelta(minutes=6)
    assert tasks.fire_due_schedules(later) == ["web"]
    assert tasks.fire_due_schedules(later) == []                           # once per cron time
    runs = poll(lambda: cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"],
                lambda r: r and r[0]["attributes"]["status"] in ("applied", "errored"), timeout=60)
    assert runs[0]["attributes"]["status"] == "applied"
    # a disabled task does not fire
    cts.patch("/v1/tasks/web", {"enabled": False})
    assert tasks.fire_due_schedules(later + timedelta(minutes=10)) == []


def _entry(service, node, port, status="passing"):
    return {"Node": {"Node": node, "Address": "10.0.0.1", "Datacenter": "dc1"},
            "Service": {"ID": f"{service}-{port}", "Service": service, "Port": port,
                        "Address": "10.0.0.2", "Tags": ["v1"]},
            "Checks": [{"Status": status}]}


def test_service_events_are_coalesced_by_the_buffer_period_into_one_run(cts, worker, tmp_path):
    from conftest import poll
    module = tmp_path / "svc"
    module.mkdir()
    (module / "main.tf").write_text(
        'variable "services" { type = any }\n'
        'resource "null_resource" "seen" {\n  triggers = { ids = join(",", sort(keys(var.services))) }\n}\n')
    task = {"name": "svc", "module": str(module), "condition": {"services": {"names": ["web"]}},
            "buffer_period": {"enabled": True, "min": "2s", "max": "10s"}}
    assert cts.post("/v1/tasks", {"task": task}).status_code == 201
    ws = cts.get("/api/v2/organizations/cts/workspaces/svc").json["data"]["id"]
    for port in range(8000, 8005):                      # five rapid changes
        resp = cts.post("/v1/watch/service/web", [_entry("web", "n1", p) for p in range(8000, port + 1)])
        assert resp.status_code == 200 and resp.json["tasks"] == ["svc"]
    assert cts.post("/v1/watch/service/db", [_entry("db", "n1", 5432)]).json["tasks"] == []
    runs = poll(lambda: cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"],
                lambda r: r and r[0]["attributes"]["status"] in ("applied", "errored"), timeout=60)
    # the burst is over (no buffer open, no re-check in flight) and it made exactly one run
    from chalicelib.storage.models import TaskModel
    from conftest import queue_depth
    poll(lambda: (TaskModel.get("cts", "svc").buffer_first_at, queue_depth("task-triggers")),
         lambda v: v == (None, 0), timeout=30)
    runs = cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"]
    assert [r["attributes"]["status"] for r in runs] == ["applied"]
    sv = cts.get(f"/api/v2/workspaces/{ws}/current-state-version").json["data"]
    state = cts.get(f"/api/v2/state-versions/{sv['id']}/download").json
    ids = state["resources"][0]["instances"][0]["attributes"]["triggers"]["ids"]
    assert ids == ",".join(sorted(f"web-{p}.n1.dc1" for p in range(8000, 8005)))   # the last data
    assert cts.post("/v1/watch/service/web", {"not": "a list"}).status_code == 400


def test_status_and_events_history(cts, worker, tmp_path):
    from conftest import poll
    good = {**TASK, "module": _module(tmp_path)}
    assert cts.post("/v1/tasks", {"task": {**good, "name": "fresh"}}).status_code == 201
    assert cts.post("/v1/tasks?run=now", {"task": good}).status_code == 201
    status = cts.get("/v1/status/tasks").json
    assert status["web"]["status"] == "successful" and status["fresh"]["status"] == "unknown"
    assert "events" not in status["web"]
    events = cts.get("/v1/status/tasks/web?include=events").json["web"]["events"]
    assert [e["success"] for e in events] == [True] and events[0]["task"]["name"] == "web"
    # break the module: the next runs fail
    (tmp_path / "modules" / "web" / "main.tf").write_text('resource "null_resource" "svc" {\n')
    for expected in ("errored", "critical"):
        assert cts.patch("/v1/tasks/web?run=now", {"enabled": True}).status_code == 400
        poll(lambda: cts.get("/v1/status/tasks/web").json["web"]["status"],
             lambda s: s == expected, timeout=30)
    events = cts.get("/v1/status/tasks/web?include=events").json["web"]["events"]
    assert [e["success"] for e in events] == [False, False, True]          # newest first, all kept
    assert events[0]["error"]["message"]
    assert list(cts.get("/v1/status/tasks?status=critical").json.keys() - {"request_id"}) == ["web"]
    assert cts.get("/v1/status/tasks?status=bogus").status_code == 400
    summary = cts.get("/v1/status").json["task_summary"]
    assert summary["status"] == {"successful": 0, "errored": 0, "critical": 1, "unknown": 1}
    assert summary["enabled"] == {"true": 2, "false": 0}
    assert cts.get("/v1/status/tasks/nope").status_code == 404


def test_consul_kv_condition_runs_with_the_entries_as_module_input(cts, worker, tmp_path):
    import base64

    from conftest import poll
    module = tmp_path / "kv"
    module.mkdir()
    (module / "main.tf").write_text(
        'variable "services" { type = any }\nvariable "consul_kv" { type = map(string) }\n'
        'resource "null_resource" "cfg" {\n  triggers = var.consul_kv\n}\n')
    task = {"name": "cfg", "module": str(module), "buffer_period": {"enabled": False},
            "condition": {"consul-kv": {"path": "app/config", "recurse": True}}}
    assert cts.post("/v1/tasks", {"task": task}).status_code == 201
    ws = cts.get("/api/v2/organizations/cts/workspaces/cfg").json["data"]["id"]
    b64 = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    resp = cts.post("/v1/watch/kv?prefix=app/config", [{"Key": "app/config/color", "Value": b64("blue")},
                                                       {"Key": "app/config/size", "Value": b64("L")}])
    assert resp.status_code == 200 and resp.json["tasks"] == ["cfg"]
    assert cts.post("/v1/watch/kv", {"Key": "other/key", "Value": b64("x")}).json["tasks"] == []
    runs = poll(lambda: cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"],
                lambda r: r and r[0]["attributes"]["status"] in ("applied", "errored"), timeout=60)
    assert runs[0]["attributes"]["status"] == "applied"
    sv = cts.get(f"/api/v2/workspaces/{ws}/current-state-version").json["data"]
    state = cts.get(f"/api/v2/state-versions/{sv['id']}/download").json
    assert state["resources"][0]["instances"][0]["attributes"]["triggers"] == {
        "app/config/color": "blue", "app/config/size": "L"}
    assert cts.post("/v1/watch/kv", [{"nokey": 1}]).status_code == 400


def test_an_unreachable_consul_changes_nothing_and_polls_are_queued_within_the_minute(
        cts, monkeypatch, app_module):
    """CONSUL_HTTP_ADDR pointing at a closed port: the poll reports the errors, stores no
    services and triggers no task (an error is never "no instances")."""
    import socket

    from chalicelib import config
    from chalicelib.local import schedule
    from chalicelib.storage.models import ConsulServiceModel
    from conftest import queue_depth

    tick = {j.name: j for j in schedule.jobs(app_module.app, app_module)}["poll_consul"]
    assert tick.every == 60

    assert cts.post("/v1/tasks", {"task": {**TASK, "condition": {"services": {"names": ["web"]}}}}).status_code == 201
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("CONSUL_HTTP_ADDR", f"127.0.0.1:{closed}")
    monkeypatch.setenv("TERRALESS_CONSUL_POLL_SECONDS", "20")
    config.reset()
    result = tick.handler(tick.event(), None)
    assert result["polled"] is True and result["services"] == [] and result["errors"]
    assert list(ConsulServiceModel.query("cts")) == []
    assert queue_depth("task-triggers") == 2          # the polls at 20 s and 40 s
    ws = cts.get("/api/v2/organizations/cts/workspaces/web").json["data"]["id"]
    assert cts.get(f"/api/v2/workspaces/{ws}/runs").json["data"] == []
    assert cts.get(f"/api/v2/workspaces/{ws}/configuration-versions").json["data"] == []
    monkeypatch.delenv("CONSUL_HTTP_ADDR")
    config.reset()
    assert tick.handler(tick.event(), None) == {"polled": False}


def test_a_throttled_buffer_write_is_retried_never_left_open(cts, tmp_path, monkeypatch):
    """Closing a buffer fails for a reason other than a lost race (here DynamoDB throttling):
    the check must fail (so SQS redelivers it), the buffer stays open, and the next delivery
    fires the task's run. Before, a bare `except` swallowed it and the buffer stayed open with
    no re-check queued: the task never ran again."""
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import UpdateError

    from chalicelib.services import task_conditions
    from chalicelib.storage import tasks as task_store
    from chalicelib.storage.models import TaskModel
    task = {"name": "thr", "module": _module(tmp_path), "condition": {"services": {"names": ["web"]}},
            "buffer_period": {"enabled": True, "min": "1s", "max": "5s"}}
    assert cts.post("/v1/tasks", {"task": task}).status_code == 201
    assert cts.post("/v1/watch/service/web", [_entry("web", "n1", 8000)]).json["tasks"] == ["thr"]
    # the burst has been quiet for longer than `min` (moved back rather than waited for)
    TaskModel("cts", "thr").update(actions=[TaskModel.buffer_first_at.set(1.0),
                                            TaskModel.buffer_last_at.set(1.0)])
    fired = []
    monkeypatch.setattr(task_conditions, "trigger", lambda t: fired.append(t.name))
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                       "Message": "slow down"}}, "UpdateItem")

    def close_throttled(task):
        raise UpdateError("throttled", cause=throttled)
    real_close = task_store.close_buffer
    monkeypatch.setattr(task_store, "close_buffer", close_throttled)
    with pytest.raises(UpdateError):
        task_conditions.check_buffer("cts", "thr")
    assert fired == [] and task_store.find("cts", "thr").buffer_first_at == 1.0   # still open
    monkeypatch.setattr(task_store, "close_buffer", real_close)
    assert task_conditions.check_buffer("cts", "thr") is True                    # the redelivery
    assert fired == ["thr"] and task_store.find("cts", "thr").buffer_first_at is None
    assert task_conditions.check_buffer("cts", "thr") is False                   # once per burst
    assert fired == ["thr"]


def test_a_value_that_looks_like_hcl_reaches_the_module_as_those_characters(cts, worker, tmp_path):
    """Task variables are data (a tfvars JSON file), never HCL: `${file(...)}` is not evaluated
    by the real terraform that applies the task, and a key that would inject HCL is refused."""
    evil = '${file("/etc/hostname")}'
    task = {**TASK, "module": _module(tmp_path), "variables": {"port": evil}}
    created = cts.post("/v1/tasks?run=now", {"task": task})
    assert created.status_code == 201, created.body
    ws = cts.get("/api/v2/organizations/cts/workspaces/web").json["data"]["id"]
    sv = cts.get(f"/api/v2/workspaces/{ws}/current-state-version").json["data"]
    state = cts.get(f"/api/v2/state-versions/{sv['id']}/download").json
    [resource] = state["resources"]
    assert resource["instances"][0]["attributes"]["triggers"] == {"port": evil}
    injected = {**task, "name": "other", "variables": {'port = "1"\n}\nresource "null_resource" "x" {\n  y': "v"}}
    refused = cts.post("/v1/tasks?run=now", {"task": injected})
    assert refused.status_code == 400 and "variable name" in refused.json["error"]["message"]
    assert cts.get("/v1/tasks/other").status_code == 404
