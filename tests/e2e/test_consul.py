"""Consul-Terraform-Sync conditions fed by a real Consul (v1.16.1, built from its Go module by
tests/peers) through CONSUL_HTTP_ADDR: a dev stack of its own polls the agent, as a deployed
stack would; services, health changes, new instances, consul-kv and catalog-services with a
regexp each run their task with what Consul says; a hung agent changes nothing and the tasks
follow Consul again once it answers."""
import base64
import json

import httpx
import pytest

from conftest import HttpApi, launch_dev_stack, open_to_runner, poll, stop_dev_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cts(consul_agent, tmp_path_factory):
    # polled every 2 s by the scheduler (no delayed polls within the minute)
    stack = launch_dev_stack(tmp_path_factory.mktemp("consul-stack"), CONSUL_HTTP_ADDR=consul_agent.address,
                             TERRALESS_CONSUL_POLL_SECONDS="0",
                             TERRALESS_SCHEDULE_EVERY="sweep_lost_phases=2,poll_consul=2")
    yield HttpApi(stack.url, stack.token), stack
    stop_dev_stack(stack)


# what the task saw, kept in its workspace's state: the services (id and status) and the kv
MODULE = '''
variable "services" { type = any }
variable "consul_kv" {
  type    = map(string)
  default = {}
}
resource "null_resource" "seen" {
  triggers = {
    services = join(",", sort([for k, s in var.services : "${s.id}=${s.status}"]))
    kv       = jsonencode(var.consul_kv)
  }
}
'''


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    path = open_to_runner(tmp_path_factory.mktemp("ctsmod"))      # the runner user reads it
    (path / "main.tf").write_text(MODULE)
    return str(path)


def _runs(api, name):
    ws = api.get(f"/api/v2/organizations/cts/workspaces/{name}").json["data"]["id"]
    return ws, api.get(f"/api/v2/workspaces/{ws}/runs").json["data"]


def _outputs_after(api, name, count):
    """The task's outputs once its `count`-th run has applied."""
    ws, runs = poll(lambda: _runs(api, name), lambda found: len(found[1]) >= count
                    and found[1][0]["attributes"]["status"] in ("applied", "errored", "planned_and_finished"),
                    timeout=120, interval=0.5)
    assert len(runs) == count, [r["attributes"]["status"] for r in runs]
    if runs[0]["attributes"]["status"] != "applied":
        plan = api.get(f"/api/v2/runs/{runs[0]['id']}/plan").json["data"]["attributes"]
        raise AssertionError(f"{runs[0]['attributes']['error-text']}\n{httpx.get(plan['log-read-url']).text}")
    return _seen(api, ws)


def _seen(api, ws):
    sv = api.get(f"/api/v2/workspaces/{ws}/current-state-version").json["data"]
    state = api.get(f"/api/v2/state-versions/{sv['id']}/download").json
    [seen] = [r for r in state["resources"] if r["type"] == "null_resource"]
    return seen["instances"][0]["attributes"]["triggers"]


def _task(api, name, module, condition):
    made = api.post("/v1/tasks", {"task": {"name": name, "module": module, "condition": condition,
                                           "buffer_period": {"enabled": False}}})
    assert made.status_code == 201, made.json


def _register(agent, service_id, name, port):
    agent.put("/v1/agent/service/register", {"ID": service_id, "Name": name, "Port": port,
                                             "Check": {"CheckID": f"service:{service_id}", "TTL": "600s",
                                                       "Status": "passing"}})


def test_services_health_and_instances_reach_the_task(cts, consul_agent, module):
    api, _ = cts
    # registered first: the task's first run sees the instance (not an empty service before it)
    _register(consul_agent, "web-1", "web", 8080)
    _task(api, "consul-web", module, {"services": {"names": ["web"]}})
    assert _outputs_after(api, "consul-web", 1)["services"] == "web-1=passing"
    consul_agent.put("/v1/agent/check/fail/service:web-1?note=down")            # a health change
    assert _outputs_after(api, "consul-web", 2)["services"] == "web-1=critical"
    _register(consul_agent, "web-2", "web", 8081)                                # a new instance
    assert _outputs_after(api, "consul-web", 3)["services"] == "web-1=critical,web-2=passing"
    consul_agent.put("/v1/agent/service/deregister/web-1")                     # an instance leaves
    assert _outputs_after(api, "consul-web", 4)["services"] == "web-2=passing"


def test_a_kv_change_runs_its_task_with_the_entries(cts, consul_agent, module):
    api, _ = cts
    consul_agent.put("/v1/kv/app/config/color", "blue")
    _task(api, "consul-kv", module, {"consul-kv": {"path": "app/config", "recurse": True}})
    assert json.loads(_outputs_after(api, "consul-kv", 1)["kv"]) == {"app/config/color": "blue"}
    consul_agent.put("/v1/kv/app/config/size", "L")
    assert json.loads(_outputs_after(api, "consul-kv", 2)["kv"]) == {"app/config/color": "blue", "app/config/size": "L"}
    assert base64.b64decode(consul_agent.http.get("/v1/kv/app/config/size").json()[0]["Value"]) == b"L"


def test_catalog_services_by_regexp_sees_a_new_service(cts, consul_agent, module):
    api, _ = cts
    _register(consul_agent, "db-main-1", "db-main", 5432)
    _task(api, "consul-db", module, {"catalog-services": {"regexp": "^db-"}})
    assert _outputs_after(api, "consul-db", 1)["services"] == "db-main-1=passing"
    _register(consul_agent, "db-replica-1", "db-replica", 5433)
    _register(consul_agent, "cache-1", "cache", 6379)                          # not selected
    assert _outputs_after(api, "consul-db", 2)["services"] == "db-main-1=passing,db-replica-1=passing"


def test_a_hung_agent_changes_nothing_and_the_tasks_follow_consul_again(cts, consul_agent, module):
    api, stack = cts
    _register(consul_agent, "api-1", "api", 9000)
    _task(api, "consul-api", module, {"services": {"names": ["api"]}})
    assert _outputs_after(api, "consul-api", 1)["services"] == "api-1=passing"
    log = stack.home / "dev.log"
    errors_before = log.read_text().count("consul poll:")
    consul_agent.pause()
    try:
        # two polls have failed against the stopped agent (each waits out its timeout)
        poll(lambda: log.read_text().count("consul poll:"), lambda n: n >= errors_before + 2,
             timeout=90, interval=1)
        ws, runs = _runs(api, "consul-api")
        assert len(runs) == 1                                      # nothing ran
        assert _seen(api, ws)["services"] == "api-1=passing"
        task = api.get("/v1/tasks/consul-api").json["task"]
        assert task["enabled"] is True
    finally:
        consul_agent.resume()
    _register(consul_agent, "api-2", "api", 9001)
    assert _outputs_after(api, "consul-api", 2)["services"] == "api-1=passing,api-2=passing"
