"""The agent protocol under moto, in-process: a run of an agent-mode workspace waits for an
agent of its pool (no worker runs it), an agent takes it with its pool's token and runs the
work it is given; another pool's agent, a user's token, a forged credential and bad input
reach nothing and change nothing."""
import pytest

from conftest import poll

AGENT = "/api/agent/v1"


@pytest.fixture
def pool(api, org):
    made = api.post(f"/api/v2/organizations/{org}/agent-pools", {"data": {"attributes": {"name": "p"}}})
    pool_id = made.json["data"]["id"]
    token = api.post(f"/api/v2/agent-pools/{pool_id}/authentication-tokens",
                     {"data": {"attributes": {"description": "t"}}}).json["data"]["attributes"]["token"]
    return pool_id, token


def _register(api, token, name="box-1"):
    return api.as_token(token).post(f"{AGENT}/agents", {"name": name})


def test_a_run_waits_for_an_agent_which_takes_and_runs_it(api, org, pool, upload, worker):
    from chalicelib.executor import inprocess

    pool_id, token = pool
    ws = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {
        "name": "private", "execution-mode": "agent", "agent-pool-id": pool_id, "auto-apply": True}}}).json["data"]["id"]
    upload(ws, {"main.tf": 'output "where" { value = "agent" }\n'})
    run = api.post("/api/v2/runs", {"data": {"relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}}).json["data"]["id"]
    # the workers leave it queued for the pool
    assert poll(lambda: api.get(f"/api/v2/runs/{run}").json["data"]["attributes"]["status"],
                lambda s: s == "plan_queued", timeout=30) == "plan_queued"
    agent = api.as_token(token)
    agent_id = _register(api, token).json["id"]
    shown = api.get(f"/api/v2/agent-pools/{pool_id}/agents").json["data"]
    assert [(a["id"], a["attributes"]["name"], a["attributes"]["status"]) for a in shown] == [(agent_id, "box-1", "idle")]
    taker = {"plan": agent_id}
    for phase in ("plan", "apply"):
        taken = poll(lambda: agent.get(f"{AGENT}/agents/{taker[phase]}/next?wait=1"), lambda r: r.status_code == 200, timeout=60)
        work = taken.json["work"]
        assert work["operation"] == phase and work["time_limit_seconds"] == 0
        assert api.get(f"/api/v2/agents/{taker[phase]}").json["data"]["attributes"]["status"] == "busy"
        inprocess.execute(work, *taken.json["workdir"])
        assert api.as_token(work["credential"]).post(f"{AGENT}/phases/{work['phase_id']}/done").status_code == 204
        taker.setdefault("apply", _register(api, token, "box-2").json["id"])     # the apply goes to another
    assert poll(lambda: api.get(f"/api/v2/runs/{run}").json["data"]["attributes"]["status"],
                lambda s: s in ("applied", "errored"), timeout=60) == "applied"
    # each phase names the agent that ran it, not the run's last one
    for phase, name in (("plan", "box-1"), ("apply", "box-2")):
        details = api.get(f"/api/v2/runs/{run}/{phase}").json["data"]["attributes"]["execution-details"]
        assert details == {"mode": "agent", "agent-id": taker[phase], "agent-name": name, "agent-pool-id": pool_id}
    assert agent.get(f"{AGENT}/agents/{agent_id}/next?wait=0").status_code == 204      # nothing left


def test_other_callers_reach_no_agent_and_change_nothing(api, org, pool):
    pool_id, token = pool
    agent_id = _register(api, token).json["id"]
    other = api.post(f"/api/v2/organizations/{org}/agent-pools", {"data": {"attributes": {"name": "q"}}}).json["data"]["id"]
    other_token = api.post(f"/api/v2/agent-pools/{other}/authentication-tokens",
                           {"data": {"attributes": {"description": "t"}}}).json["data"]["attributes"]["token"]
    stranger = api.as_token(other_token)
    # another pool's agent token: that agent does not exist for it
    assert stranger.get(f"{AGENT}/agents/{agent_id}/next?wait=0").status_code == 404
    assert stranger.post(f"{AGENT}/agents/{agent_id}/status", {"status": "exited"}).status_code == 404
    # a user's token, no token, a forged credential: 401
    for caller in (api, api.as_token(None), api.as_token("trl1.e30.00")):
        assert caller.post(f"{AGENT}/agents", {"name": "x"}).status_code == 401
        assert caller.get(f"{AGENT}/agents/{agent_id}/next").status_code == 401
    assert api.as_token("trl1.e30.00").post(f"{AGENT}/phases/plan-x/done").status_code == 401
    # another organization sees neither the pool's agents nor an agent
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.as_token(api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"])
    assert rival.get(f"/api/v2/agent-pools/{pool_id}/agents").status_code == 404
    assert rival.get(f"/api/v2/agents/{agent_id}").status_code == 404
    assert api.get(f"/api/v2/agents/{agent_id}").json["data"]["attributes"]["status"] == "idle"


@pytest.mark.parametrize("path, body, status", [
    ("/agents", {"name": "has space"}, 422),
    ("/agents", {"name": "x" * 65}, 422),
    ("/agents", {"name": ["nested"]}, 422),
    ("/agents", ["not", "an", "object"], 422),
    ("/agents", {"name": "x", "pad": "y" * 5000}, 413),
    ("/agents/AGENT/status", {"status": "unknown"}, 422),
    ("/agents/AGENT/next?wait=soon", None, 422),
])
def test_bad_agent_input_is_refused(api, pool, path, body, status):
    _, token = pool
    agent_id = _register(api, token).json["id"]
    agent = api.as_token(token)
    path = AGENT + path.replace("AGENT", agent_id)
    answer = agent.get(path) if body is None else agent.post(path, body)
    assert answer.status_code == status, answer.body
    assert api.get(f"/api/v2/agents/{agent_id}").json["data"]["attributes"]["status"] == "idle"


def test_a_revoked_token_and_a_deleted_pool_end_their_agents(api, pool):
    pool_id, token = pool
    agent_id = _register(api, token).json["id"]
    token_id = api.get(f"/api/v2/agent-pools/{pool_id}/authentication-tokens").json["data"][0]["id"]
    assert api.delete(f"/api/v2/authentication-tokens/{token_id}").status_code == 204
    assert api.as_token(token).get(f"{AGENT}/agents/{agent_id}/next?wait=0").status_code == 401
    assert api.delete(f"/api/v2/agent-pools/{pool_id}").status_code == 204
    assert api.get(f"/api/v2/agents/{agent_id}").status_code == 404


@pytest.mark.parametrize("path", ["/app/..%2Fapi.py", "/app/app.py", "/app/%2e%2e", "/app/" + "x" * 5000])
def test_the_console_serves_its_three_files_and_nothing_else(api, path):
    # the console's route is public: it names its files, so no path reaches another
    assert api.as_token(None).get(path).status_code in (400, 404, 414)
    shown = api.as_token(None).get("/app/app.js")
    assert shown.status_code == 200 and "Content-Security-Policy" in shown.headers
