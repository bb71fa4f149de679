"""`terraless agent` end to end: real agent processes (the console script) on a dev stack
whose workers' phases are limited to 4 s (TERRALESS_RUNNER_TIME_LIMIT_SECONDS, as a Lambda
function's timeout would), two agents in one pool. Runs and Terrakube jobs of an agent-mode
workspace run on an agent (named in the phase's execution-details), for as long as they need;
a SIGKILLed agent errors its run within the heartbeat and the other takes the next; cancel
reaches the agent's phase; a revoked token stops an agent; SIGTERM stops it gracefully."""
import base64
import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from conftest import (ROOT, launch_dev_stack, make_workspace, plan_blocked_on, poll, release_slow_state, run_attrs,
                      start_run, stop_dev_stack, upload_config)

pytestmark = pytest.mark.e2e
ORG = "agents-e2e"
FUNCTION_LIMIT = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # the second Ctrl-C of a cancel 8 s after the first: a force-cancel (1 s cool-off) comes first
    started = launch_dev_stack(tmp_path_factory.mktemp("terraless-agents"),
                               TERRALESS_RUNNER_TIME_LIMIT_SECONDS=str(FUNCTION_LIMIT),
                               TERRALESS_CANCEL_GRACE_SECONDS="8")
    yield started
    stop_dev_stack(started)


@pytest.fixture(scope="module")
def http(stack):
    client = httpx.Client(base_url=stack.url, headers=stack.headers, timeout=60)
    make_workspace(client, ORG, "bootstrap")
    return client


class Agents:
    def __init__(self, stack, home, pool, token) -> None:
        self.stack, self.home, self.pool, self.token = stack, home, pool, token
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *extra: str, token: str | None = None, **env_extra: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TERRALESS_"))}
        env.update(TERRALESS_AGENT_TOKEN=token or self.token, TERRALESS_HOME=str(self.home / name),
                   TERRALESS_LOG_LEVEL="INFO", **env_extra)
        log = open(self.home / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "chalicelib.cli", "agent", "--url", self.stack.url,
                                 "--name", name, *extra], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _pool(http, name, org=ORG):
    pool = http.post(f"/api/v2/organizations/{org}/agent-pools",
                     json={"data": {"type": "agent-pools", "attributes": {"name": name}}}).json()["data"]["id"]
    made = http.post(f"/api/v2/agent-pools/{pool}/authentication-tokens",
                     json={"data": {"attributes": {"description": name}}}).json()["data"]
    return pool, made["id"], made["attributes"]["token"]


@pytest.fixture(scope="module")
def agents(stack, http, tmp_path_factory):
    pool, _, token = _pool(http, "pool-e2e")
    group = Agents(stack, tmp_path_factory.mktemp("agents"), pool, token)
    group.start("a1")
    group.start("a2")
    poll(lambda: _agent_statuses(http, pool), lambda s: s == {"a1": "idle", "a2": "idle"}, timeout=60)
    yield group
    group.stop_all()


def _agent_statuses(http, pool):
    return {a["attributes"]["name"]: a["attributes"]["status"]
            for a in http.get(f"/api/v2/agent-pools/{pool}/agents").json()["data"]}


def _agent_ws(http, agents, name, files):
    ws = make_workspace(http, ORG, name, **{"execution-mode": "agent", "agent-pool-id": agents.pool,
                                           "auto-apply": True})
    upload_config(http, ws, files)
    return ws


def _wait(http, run, *statuses, timeout=120):
    return poll(lambda: run_attrs(http, run)["status"], lambda s: s in statuses, timeout=timeout)


def _why(http, run):
    """A failed run's error and logs, for the assertion's message."""
    attrs = run_attrs(http, run)
    texts = [httpx.get(http.get(f"/api/v2/runs/{run}/{phase}").json()["data"]["attributes"]["log-read-url"]).text
             for phase in ("plan", "apply")]
    return f"{attrs.get('error-text')}\n" + "\n".join(texts)


def _plan_details(http, run):
    return http.get(f"/api/v2/runs/{run}/plan").json()["data"]["attributes"]["execution-details"]


def _apply_details(http, run):
    return http.get(f"/api/v2/runs/{run}/apply").json()["data"]["attributes"]["execution-details"]


def test_runs_and_terrakube_jobs_of_an_agent_workspace_run_on_an_agent(http, agents):
    ws = _agent_ws(http, agents, "on-agents", {"main.tf": 'resource "null_resource" "a" {}\n'})
    run = start_run(http, ws, "on an agent")
    assert _wait(http, run, "applied", "errored") == "applied"
    details = _plan_details(http, run)
    assert details["mode"] == "agent" and details["agent-name"] in ("a1", "a2")
    assert details["agent-pool-id"] == agents.pool
    assert _apply_details(http, run)["mode"] == "agent"
    flow = 'flow:\n  - type: "terraformPlan"\n    name: "Plan"\n    step: 100\n'
    job = http.post(f"/api/v1/workspace/{ws}/job", json={"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(flow.encode()).decode()},
        "relationships": {"workspace": {"data": {"type": "workspace", "id": ws}}}}}).json()["data"]["id"]
    done = poll(lambda: http.get(f"/api/v1/workspace/{ws}/job/{job}").json()["data"]["attributes"],
                lambda a: a["status"] in ("completed", "noChanges", "failed"), timeout=120)
    assert done["status"] == "noChanges", done["steps"][0]["output"]     # the run applied it
    # the step reported before its agent logs the runner's end
    poll(lambda: agents.log("a1") + agents.log("a2"), lambda t: f"finished {done['steps'][0]['id']}" in t, timeout=30)
    plan_id = http.get(f"/api/v2/runs/{run}/plan").json()["data"]["id"]
    poll(lambda: agents.log(details["agent-name"]), lambda t: f"finished {plan_id}" in t, timeout=30)




SLOW = 'data "terraform_remote_state" "slow" {{\n  backend = "local"\n  config = {{ path = "{}" }}\n}}\n' \
       'output "ready" {{ value = data.terraform_remote_state.slow.outputs.ready }}\n'


def test_a_phase_longer_than_the_function_limit_completes_on_an_agent(http, agents, slow_state):
    # the same configuration on a workspace of the stack's own workers runs out of time
    remote = make_workspace(http, ORG, "limited", **{"auto-apply": True})
    upload_config(http, remote, {"main.tf": SLOW.format(slow_state)})
    limited = start_run(http, remote, "on a worker")
    assert _wait(http, limited, "errored", "applied", timeout=60) == "errored"
    # now on an agent: the plan blocks for 3x the function's limit, then completes
    ws = _agent_ws(http, agents, "long", {"main.tf": SLOW.format(slow_state)})
    run = start_run(http, ws, "long on an agent")
    _wait(http, run, "planning")
    release_slow_state(slow_state, FUNCTION_LIMIT * 3)
    assert _wait(http, run, "applied", "errored", timeout=120) == "applied"
    assert _plan_details(http, run)["mode"] == "agent"


def test_cancel_reaches_the_phase_on_the_agent(http, agents, slow_state):
    ws = _agent_ws(http, agents, "cancelled", {"main.tf": SLOW.format(slow_state)})
    run = start_run(http, ws, "to cancel")
    _wait(http, run, "planning")
    assert http.post(f"/api/v2/runs/{run}/actions/cancel").status_code == 202
    assert _wait(http, run, "canceled", "errored", timeout=60) == "canceled"
    # both agents are free again
    poll(lambda: _agent_statuses(http, agents.pool), lambda s: set(s.values()) <= {"idle", "busy"}, timeout=30)


def test_force_cancel_reaches_the_phase_on_the_agent(http, agents, slow_state):
    ws = _agent_ws(http, agents, "forced", {"main.tf": SLOW.format(slow_state)})
    run = start_run(http, ws, "to force-cancel")
    _wait(http, run, "planning")
    ran_on = _plan_details(http, run)["agent-name"]
    with plan_blocked_on(slow_state):     # a Ctrl-C during init would end the run before the cool-off
        assert http.post(f"/api/v2/runs/{run}/actions/cancel").status_code == 202
        poll(lambda: run_attrs(http, run), lambda a: a["actions"]["is-force-cancelable"], timeout=10,
             interval=0.05)
        assert http.post(f"/api/v2/runs/{run}/actions/force-cancel").status_code == 202
        assert run_attrs(http, run)["status"] == "force_canceled"
    # the agent's runner is told its phase is over: the agent is free for the next one
    poll(lambda: _agent_statuses(http, agents.pool)[ran_on], lambda s: s == "idle", timeout=60)
    plan_id = http.get(f"/api/v2/runs/{run}/plan").json()["data"]["id"]
    poll(lambda: agents.log(ran_on), lambda t: f"finished {plan_id}" in t, timeout=30)


def test_a_killed_agent_errors_its_run_and_the_next_run_goes_to_the_other(http, agents):
    ws = _agent_ws(http, agents, "killed", {"main.tf": (
        'resource "null_resource" "slow" {\n  provisioner "local-exec" { command = "sleep 120" }\n}\n')})
    run = start_run(http, ws, "its agent dies")
    _wait(http, run, "applying")
    victim = _apply_details(http, run)["agent-name"]
    survivor = "a2" if victim == "a1" else "a1"
    agents.procs[victim].send_signal(signal.SIGKILL)
    agents.procs[victim].wait(timeout=30)
    # the runner dies with its agent; the heartbeat (10 s in the suite) runs out
    assert _wait(http, run, "errored", "applied", timeout=90) == "errored"
    upload_config(http, ws, {"main.tf": 'resource "null_resource" "next" {}\n'})
    after = start_run(http, ws, "the next one")
    assert _wait(http, after, "applied", "errored", timeout=120) == "applied"
    assert _plan_details(http, after)["agent-name"] == survivor
    agents.start(victim)            # for the tests after this one


def test_an_agent_token_reads_nothing_and_a_revoked_one_stops_its_agent(http, agents, stack):
    pool, token_id, secret = _pool(http, "revocable")
    as_agent = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    for path in (f"/api/v2/organizations/{ORG}/workspaces", f"/api/v2/agent-pools/{pool}",
                 f"/api/v2/organizations/{ORG}/agent-pools", f"/api/v1/organization/{ORG}/workspace",
                 "/v1/tasks", "/api/v2/account/details"):
        assert as_agent.get(path).status_code == 401, path
    proc = agents.start("doomed", token=secret)
    poll(lambda: _agent_statuses(http, pool), lambda s: s.get("doomed") == "idle", timeout=60)
    assert http.delete(f"/api/v2/authentication-tokens/{token_id}").status_code == 204
    assert proc.wait(timeout=60) == 0
    assert "agent token was refused" in agents.log("doomed")


def _tls(stack) -> tuple[str, str]:
    info = json.loads((stack.home / "dev.json").read_text())
    return info["tls_api"], info["tls_cert"]


def test_over_https_an_agent_runs_phases_at_once_single_exits_and_sigterm_stops_one(http, agents, stack, tmp_path):
    pool, _, secret = _pool(http, "over-tls")
    url, ca = _tls(stack)
    tls = ["--url", url, "--ca-file", ca]
    # --max-concurrency 2: two plans blocked at once on one agent
    pair = agents.start("pair", "--max-concurrency", "2", *tls, token=secret)
    fifos = []
    for index in range(2):
        fifo = tmp_path / f"state-{index}.fifo"
        os.mkfifo(fifo, 0o666)
        fifo.chmod(0o666)
        fifos.append(str(fifo))
    group = Agents(stack, agents.home, pool, secret)
    wss = [_agent_ws(http, group, f"tls-{i}", {"main.tf": SLOW.format(fifo)}) for i, fifo in enumerate(fifos)]
    runs = [start_run(http, ws, "two at once") for ws in wss]
    for run in runs:
        _wait(http, run, "planning")
    assert {_plan_details(http, run)["agent-name"] for run in runs} == {"pair"}
    for fifo in fifos:
        release_slow_state(fifo, 0)
    for run in runs:
        assert _wait(http, run, "applied", "errored") == "applied", _why(http, run)
    pair.send_signal(signal.SIGTERM)
    assert pair.wait(timeout=60) == 0
    assert _agent_statuses(http, pool)["pair"] == "exited"
    # --single: one phase, then it ends by itself
    one = agents.start("one-shot", "--single", *tls, token=secret)
    upload_config(http, wss[0], {"main.tf": 'resource "null_resource" "once" {}\n'})
    run = start_run(http, wss[0], "a single phase", **{"plan-only": True})
    assert one.wait(timeout=120) == 0
    assert run_attrs(http, run)["status"] == "planned_and_finished"
    assert _agent_statuses(http, pool)["one-shot"] == "exited"
    assert _plan_details(http, run)["agent-name"] == "one-shot"


def test_a_tofu_workspace_runs_on_an_agent_that_has_opentofu_where_the_service_has_none(http, agents, tofu_bin):
    # this stack has no OpenTofu: a tofu workspace it would run itself is refused...
    remote = make_workspace(http, ORG, "tofu-here", engine="tofu")
    upload_config(http, remote, {"main.tf": 'resource "null_resource" "t" {}\n'})
    refused = http.post("/api/v2/runs", json={"data": {"relationships": {
        "workspace": {"data": {"type": "workspaces", "id": remote}}}}})
    assert refused.status_code == 422 and "OpenTofu" in refused.text
    # ...one in agent mode runs on its pool's agent, which has OpenTofu
    pool, _, secret = _pool(http, "tofu-pool")
    group = Agents(agents.stack, agents.home, pool, secret)
    group.start("with-tofu", token=secret, TERRALESS_TOFU_BIN=str(tofu_bin))
    try:
        ws = make_workspace(http, ORG, "tofu-on-agent", engine="tofu", **{
            "execution-mode": "agent", "agent-pool-id": pool, "auto-apply": True})
        upload_config(http, ws, {"main.tf": 'resource "null_resource" "t" {}\n'})
        run = start_run(http, ws, "tofu on an agent")
        assert _wait(http, run, "applied", "errored") == "applied", _why(http, run)
        assert _plan_details(http, run)["agent-name"] == "with-tofu"
        plan_log = httpx.get(http.get(f"/api/v2/runs/{run}/plan").json()["data"]["attributes"]["log-read-url"]).text
        assert "OpenTofu v" in plan_log
    finally:
        group.stop_all()


def test_a_cts_task_whose_workspace_is_in_agent_mode_runs_on_an_agent(http, agents, tmp_path):
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text('variable "services" { type = any }\n'
                                    'resource "null_resource" "s" {\n  triggers = { ids = join(",", sort(keys(var.services))) }\n}\n')
    task = {"name": "on-agent", "module": str(module), "condition": {"services": {"names": ["api"]}}}
    assert http.post("/v1/tasks", json={"task": task}).status_code == 201
    ws = http.get("/api/v2/organizations/cts/workspaces/on-agent").json()["data"]["id"]
    pool, _, secret = _pool(http, "cts-pool", org="cts")
    moved = http.patch(f"/api/v2/workspaces/{ws}", json={"data": {"type": "workspaces", "attributes": {
        "execution-mode": "agent", "agent-pool-id": pool}}})
    assert moved.status_code == 200, moved.text
    group = Agents(agents.stack, agents.home, pool, secret)
    group.start("cts-agent", token=secret)
    try:
        instance = {"Node": {"Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1"},
                    "Service": {"ID": "api-1", "Service": "api", "Port": 80}, "Checks": []}
        assert http.post("/v1/watch/service/api", json=[instance]).status_code == 200
        runs = poll(lambda: http.get(f"/api/v2/workspaces/{ws}/runs").json()["data"],
                    lambda r: r and r[0]["attributes"]["status"] in ("applied", "errored"), timeout=120)
        assert runs[0]["attributes"]["status"] == "applied", _why(http, runs[0]["id"])
        assert _plan_details(http, runs[0]["id"])["agent-name"] == "cts-agent"
        events = poll(lambda: http.get("/v1/status/tasks/on-agent?include=events").json()["on-agent"]["events"],
                      lambda e: len(e) >= 1, timeout=30)
        assert events[0]["success"] is True
    finally:
        group.stop_all()

