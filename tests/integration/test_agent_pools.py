"""Agent pools and agent tokens (issue 17's API, HCP Terraform's shapes) under moto: create,
list (q, allowed workspace), show, update (scope, allowed and excluded workspaces), delete with
its tokens; another organization, anonymous callers and bad input change nothing; an agent
token authenticates nothing else."""
import pytest


def _pool(api, org, name="pool-a", **extra):
    body = {"data": {"type": "agent-pools", "attributes": {"name": name, **extra.pop("attributes", {})}, **extra}}
    return api.post(f"/api/v2/organizations/{org}/agent-pools", body)


def _ws(api, org, name):
    return api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": name}}}).json["data"]["id"]


def _refs(*ids):
    return {"data": [{"type": "workspaces", "id": i} for i in ids]}


def test_pools_are_created_listed_updated_and_deleted(api, org):
    web, db = _ws(api, org, "web"), _ws(api, org, "db")
    made = _pool(api, org, "private-net", attributes={"organization-scoped": False},
                 relationships={"allowed-workspaces": _refs(web)})
    assert made.status_code == 201, made.json
    pool = made.json["data"]
    assert pool["type"] == "agent-pools" and pool["id"].startswith("apool-")
    assert pool["attributes"] | {"created-at": None} == {"name": "private-net", "organization-scoped": False,
                                                         "agent-count": 0, "created-at": None}
    assert pool["relationships"]["allowed-workspaces"]["data"] == [{"type": "workspaces", "id": web}]
    _pool(api, org, "everywhere", relationships={"excluded-workspaces": _refs(db)})
    listed = api.get(f"/api/v2/organizations/{org}/agent-pools").json
    assert [p["attributes"]["name"] for p in listed["data"]] == ["everywhere", "private-net"]
    assert listed["meta"]["pagination"]["total-count"] == 2
    assert [p["attributes"]["name"] for p in api.get(
        f"/api/v2/organizations/{org}/agent-pools?q=PRIVATE").json["data"]] == ["private-net"]
    by = lambda sort: [p["attributes"]["name"] for p in api.get(  # noqa: E731
        f"/api/v2/organizations/{org}/agent-pools?sort={sort}").json["data"]]
    assert by("created-at") == ["private-net", "everywhere"] and by("-created-at") == ["everywhere", "private-net"]
    assert by("-name") == ["private-net", "everywhere"]
    assert api.get(f"/api/v2/organizations/{org}/agent-pools?sort=size").status_code == 422
    # which pools serve a workspace: the scoped one but where it is excluded, and those allowing it
    serving = lambda name: [p["attributes"]["name"] for p in api.get(  # noqa: E731
        f"/api/v2/organizations/{org}/agent-pools?filter%5Ballowed_workspaces%5D%5Bname%5D={name}").json["data"]]
    assert serving("web") == ["everywhere", "private-net"] and serving("db") == []
    changed = api.patch(f"/api/v2/agent-pools/{pool['id']}", {"data": {"type": "agent-pools", "attributes": {
        "name": "renamed"}, "relationships": {"allowed-workspaces": _refs(web, db)}}})
    assert changed.status_code == 200 and changed.json["data"]["attributes"]["name"] == "renamed"
    assert serving("db") == ["renamed"]
    assert api.get(f"/api/v2/agent-pools/{pool['id']}/agents").json["data"] == []
    assert api.get("/api/v2/agents/agent-nothere").status_code == 404
    assert api.delete(f"/api/v2/agent-pools/{pool['id']}").status_code == 204
    assert api.get(f"/api/v2/agent-pools/{pool['id']}").status_code == 404


def test_agent_tokens_belong_to_their_pool_and_authenticate_nothing_else(api, org, workspace):
    pool = _pool(api, org).json["data"]["id"]
    made = api.post(f"/api/v2/agent-pools/{pool}/authentication-tokens",
                    {"data": {"type": "agent-tokens", "attributes": {"description": "runner-1"}}})
    assert made.status_code == 201, made.json
    secret, token_id = made.json["data"]["attributes"]["token"], made.json["data"]["id"]
    listed = api.get(f"/api/v2/agent-pools/{pool}/authentication-tokens").json["data"]
    assert [t["id"] for t in listed] == [token_id] and listed[0]["attributes"]["token"] is None
    shown = api.get(f"/api/v2/authentication-tokens/{token_id}").json["data"]
    assert shown["attributes"]["description"] == "runner-1"
    assert shown["relationships"]["created-by"]["data"] == {"type": "users", "id": "user-siteadmin0000001"}
    agent = api.as_token(secret)
    for path in (f"/api/v2/workspaces/{workspace}", f"/api/v2/organizations/{org}", "/api/v2/account/details",
                 f"/api/v2/agent-pools/{pool}", f"/api/v2/workspaces/{workspace}/current-state-version",
                 f"/api/v2/organizations/{org}/agent-pools"):
        assert agent.get(path).status_code == 401, path
    assert agent.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "x"}}}).status_code == 401
    # a deleted token, and every token of a deleted pool, are gone
    second = api.post(f"/api/v2/agent-pools/{pool}/authentication-tokens",
                      {"data": {"attributes": {"description": "runner-2"}}}).json["data"]["id"]
    assert api.delete(f"/api/v2/authentication-tokens/{token_id}").status_code == 204
    assert api.delete(f"/api/v2/agent-pools/{pool}").status_code == 204
    assert api.get(f"/api/v2/authentication-tokens/{second}").status_code == 404


@pytest.mark.parametrize("body, pointer", [
    ({"data": {"attributes": {}}}, "name"), ({"data": {"attributes": {"name": ""}}}, "name"),
    ({"data": {"attributes": {"name": "x" * 91}}}, "name"), ({"data": {"attributes": {"name": "a\nb"}}}, "name"),
    ({"data": {"attributes": {"name": 7}}}, "name"),
    ({"data": {"attributes": {"name": "p", "organization-scoped": "yes"}}}, "organization-scoped"),
    ({"data": {"attributes": {"name": "p"}, "relationships": {"allowed-workspaces": {"data": [{"type": "workspaces", "id": "ws-nothere"}]}}}}, "allowed-workspaces"),
    ({"data": {"attributes": {"name": "p"}, "relationships": {"allowed-workspaces": {"data": "ws-1"}}}}, "allowed-workspaces"),
])
def test_bad_pools_are_422_and_nothing_is_created(api, org, body, pointer):
    refused = api.post(f"/api/v2/organizations/{org}/agent-pools", body)
    assert refused.status_code == 422, refused.json
    assert pointer in refused.json["errors"][0]["source"]["pointer"]
    assert api.get(f"/api/v2/organizations/{org}/agent-pools").json["data"] == []


def test_another_organization_reaches_no_pool_and_names_no_workspace_of_ours(api, org, workspace):
    pool = _pool(api, org).json["data"]["id"]
    token = api.post(f"/api/v2/agent-pools/{pool}/authentication-tokens",
                     {"data": {"attributes": {"description": "ours"}}}).json["data"]["id"]
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.as_token(api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"])
    assert rival.get(f"/api/v2/agent-pools/{pool}").status_code == 404
    assert rival.patch(f"/api/v2/agent-pools/{pool}", {"data": {"attributes": {"name": "mine"}}}).status_code == 404
    assert rival.delete(f"/api/v2/agent-pools/{pool}").status_code == 404
    assert rival.get(f"/api/v2/agent-pools/{pool}/authentication-tokens").status_code == 404
    assert rival.post(f"/api/v2/agent-pools/{pool}/authentication-tokens",
                      {"data": {"attributes": {"description": "theirs"}}}).status_code == 404
    assert rival.get(f"/api/v2/authentication-tokens/{token}").status_code == 404
    assert rival.get(f"/api/v2/organizations/{org}/agent-pools").status_code == 404
    # their own pool cannot name our workspace
    refused = _pool(rival, "rival", "sneaky", attributes={"organization-scoped": False},
                    relationships={"allowed-workspaces": _refs(workspace)})
    assert refused.status_code == 422
    assert api.as_token(None).get(f"/api/v2/agent-pools/{pool}").status_code == 401
    assert api.get(f"/api/v2/agent-pools/{pool}").json["data"]["attributes"]["name"] == "pool-a"
