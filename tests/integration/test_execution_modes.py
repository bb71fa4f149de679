"""Execution modes under moto: a workspace in `agent` mode names a pool of its organization
that serves it; an organization's default mode and pool reach the workspaces that defer to it
(setting-overwrites false), now and when the default changes; bad or foreign pools are 422 and
change nothing."""
import pytest


def _pool(api, org, name="pool", scoped=True, allowed=()):
    body = {"data": {"type": "agent-pools", "attributes": {"name": name, "organization-scoped": scoped},
                     "relationships": {"allowed-workspaces": {"data": [
                         {"type": "workspaces", "id": i} for i in allowed]}}}}
    made = api.post(f"/api/v2/organizations/{org}/agent-pools", body)
    assert made.status_code == 201, made.json
    return made.json["data"]["id"]


def _ws(api, org, name, **attrs):
    return api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": name, **attrs}}})


def _mode(doc):
    data = doc["data"]
    pool = data["relationships"]["agent-pool"]["data"]
    return (data["attributes"]["execution-mode"], pool and pool["id"],
            data["attributes"]["setting-overwrites"]["execution-mode"])


def _set_default(api, org, mode, pool=None):
    body = {"data": {"attributes": {"default-execution-mode": mode}}}
    if pool:
        body["data"]["relationships"] = {"default-agent-pool": {"data": {"type": "agent-pools", "id": pool}}}
    return api.patch(f"/api/v2/organizations/{org}", body)


def test_an_agent_mode_workspace_names_a_pool_that_serves_it(api, org):
    pool = _pool(api, org)
    made = _ws(api, org, "private", **{"execution-mode": "agent", "agent-pool-id": pool})
    assert made.status_code == 201, made.json
    assert _mode(made.json) == ("agent", pool, True)
    ws = made.json["data"]["id"]
    assert _mode(api.get(f"/api/v2/workspaces/{ws}").json) == ("agent", pool, True)
    # leaving agent mode drops the pool
    moved = api.patch(f"/api/v2/workspaces/{ws}", {"data": {"attributes": {"execution-mode": "remote"}}})
    assert _mode(moved.json) == ("remote", None, True)
    # the relationship form HCP documents does the same as go-tfe's attribute
    back = api.patch(f"/api/v2/workspaces/{ws}", {"data": {
        "attributes": {"execution-mode": "agent"},
        "relationships": {"agent-pool": {"data": {"type": "agent-pools", "id": pool}}}}})
    assert back.status_code == 200 and _mode(back.json) == ("agent", pool, True)


@pytest.mark.parametrize("attrs, needle", [
    ({"execution-mode": "agent"}, "agent-pool-id is required"),
    ({"execution-mode": "remote", "agent-pool-id": "POOL"}, "must not be specified unless using 'agent'"),
    ({"execution-mode": "agent", "agent-pool-id": "apool-nosuchpool0000"}, "not a pool of this organization"),
    ({"execution-mode": "agent", "agent-pool-id": "RIVAL"}, "not a pool of this organization"),
    ({"execution-mode": "agent", "agent-pool-id": "NARROW"}, "does not serve this workspace"),
    ({"execution-mode": "agent", "agent-pool-id": {"id": "x"}}, "wrong type"),
    ({"setting-overwrites": "yes"}, "setting-overwrites"),
])
def test_bad_execution_settings_are_422_and_store_nothing(api, org, attrs, needle):
    pools = {"POOL": _pool(api, org, "wide"), "NARROW": _pool(api, org, "narrow", scoped=False)}
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    pools["RIVAL"] = _pool(api, "rival", "theirs")
    attrs = {k: pools.get(v, v) if isinstance(v, str) else v for k, v in attrs.items()}
    refused = _ws(api, org, "refused", **attrs)
    assert refused.status_code == 422 and needle in refused.json["errors"][0]["detail"], refused.json
    assert api.get(f"/api/v2/organizations/{org}/workspaces/refused").status_code == 404
    existing = _ws(api, org, "existing").json["data"]["id"]
    changed = api.patch(f"/api/v2/workspaces/{existing}", {"data": {"attributes": attrs}})
    assert changed.status_code == 422
    assert _mode(api.get(f"/api/v2/workspaces/{existing}").json) == ("remote", None, False)


def test_an_organization_default_reaches_the_workspaces_that_defer_to_it(api, org):
    pool = _pool(api, org)
    assert _set_default(api, org, "agent").status_code == 422           # agent needs a pool
    refused = _set_default(api, org, "remote", pool)
    assert refused.status_code == 422 and "must not be specified unless using 'agent'" in refused.json["errors"][0]["detail"]
    set_ = _set_default(api, org, "agent", pool)
    assert set_.status_code == 200, set_.json
    attrs = set_.json["data"]
    assert attrs["attributes"]["default-execution-mode"] == "agent"
    assert attrs["relationships"]["default-agent-pool"]["data"] == {"type": "agent-pools", "id": pool}
    deferring = _ws(api, org, "deferring").json
    assert _mode(deferring) == ("agent", pool, False)
    own = _ws(api, org, "own", **{"execution-mode": "local"}).json
    assert _mode(own) == ("local", None, True)
    # the default changes: the deferring workspace follows, the other keeps its own
    assert _set_default(api, org, "remote").json["data"]["relationships"]["default-agent-pool"]["data"] is None
    assert _mode(api.get(f"/api/v2/workspaces/{deferring['data']['id']}").json) == ("remote", None, False)
    assert _mode(api.get(f"/api/v2/workspaces/{own['data']['id']}").json) == ("local", None, True)
    # turning overwrites off defers again
    _set_default(api, org, "local")
    again = api.patch(f"/api/v2/workspaces/{own['data']['id']}", {"data": {"attributes": {
        "setting-overwrites": {"execution-mode": False, "agent-pool": False}}}})
    assert _mode(again.json) == ("local", None, False)


def test_another_organization_cannot_default_to_our_pool(api, org):
    pool = _pool(api, org)
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    refused = _set_default(api, "rival", "agent", pool)
    assert refused.status_code == 422
    assert api.get("/api/v2/organizations/rival").json["data"]["attributes"]["default-execution-mode"] == "remote"


def test_an_organization_created_with_a_default_mode_gives_it_to_new_workspaces(api):
    made = api.post("/api/v2/organizations", {"data": {"attributes": {
        "name": "laptops", "email": "l@l.l", "default-execution-mode": "local"}}})
    assert made.status_code == 201 and made.json["data"]["attributes"]["default-execution-mode"] == "local"
    assert _mode(_ws(api, "laptops", "one").json) == ("local", None, False)
    refused = api.post("/api/v2/organizations", {"data": {"attributes": {
        "name": "agents", "email": "a@a.a", "default-execution-mode": "agent"}}})
    assert refused.status_code == 422                   # no pool can be named yet
    assert api.get("/api/v2/organizations/agents").status_code == 404
