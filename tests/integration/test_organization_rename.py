"""Renaming an organization (PATCH /organizations/:org with a new name, as go-tfe's
TestOrganizationsUpdate does): everything of it follows the new name, the old name is free,
and a refused rename changes nothing (app under moto)."""
import pytest

from conftest import make_tgz

ORG_BODY = {"data": {"type": "organizations", "attributes": {"name": "acme", "email": "ops@acme.test"}}}


def _rename(api, org, name):
    return api.patch(f"/api/v2/organizations/{org}", {"data": {"attributes": {"name": name}}})


def _member_token(api, org, email):
    invited = api.post(f"/api/v2/organizations/{org}/organization-memberships",
                       {"data": {"attributes": {"email": email}}})
    user_id = invited.json["data"]["relationships"]["user"]["data"]["id"]
    token = api.post(f"/api/v2/users/{user_id}/authentication-tokens",
                     {"data": {"attributes": {"description": "t"}}})
    return api.as_token(token.json["data"]["attributes"]["token"])


def _state_version(api, workspace):
    import base64
    import hashlib
    import json
    assert api.post(f"/api/v2/workspaces/{workspace}/actions/lock", {}).status_code == 200
    state = json.dumps({"version": 4, "serial": 1, "lineage": "l-1", "outputs": {},
                        "resources": []}).encode()
    resp = api.post(f"/api/v2/workspaces/{workspace}/state-versions", {"data": {"attributes": {
        "serial": 1, "md5": hashlib.md5(state).hexdigest(), "lineage": "l-1",
        "state": base64.b64encode(state).decode()}}})
    assert resp.status_code == 201, resp.body
    assert api.post(f"/api/v2/workspaces/{workspace}/actions/unlock", {}).status_code == 200
    return resp.json["data"]["id"]


@pytest.fixture
def renamed(api, org, workspace):
    """acme with a workspace, a state version, a member, an organization token and a variable
    set, renamed to acme-2."""
    sv = _state_version(api, workspace)
    member = _member_token(api, org, "dev@acme.test")
    org_token = api.as_token(api.post(f"/api/v2/organizations/{org}/authentication-token")
                             .json["data"]["attributes"]["token"])
    varset = api.post(f"/api/v2/organizations/{org}/varsets", {"data": {"attributes": {
        "name": "shared", "global": True}}}).json["data"]["id"]
    resp = _rename(api, org, "acme-2")
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["id"] == "acme-2" and resp.json["data"]["attributes"]["name"] == "acme-2"
    return {"sv": sv, "member": member, "org_token": org_token, "varset": varset,
            "workspace": workspace}


def test_everything_follows_the_new_name(api, renamed):
    ws = renamed["workspace"]
    assert api.get("/api/v2/organizations/acme").status_code == 404
    shown = api.get("/api/v2/organizations/acme-2")
    assert shown.status_code == 200 and shown.json["data"]["links"]["self"] == "/api/v2/organizations/acme-2"
    assert [o["id"] for o in api.get("/api/v2/organizations").json["data"]] == ["acme-2"]
    # its workspaces, found and rendered under the new name
    by_name = api.get("/api/v2/organizations/acme-2/workspaces/prod")
    assert by_name.status_code == 200 and by_name.json["data"]["id"] == ws
    assert by_name.json["data"]["relationships"]["organization"]["data"]["id"] == "acme-2"
    assert by_name.json["data"]["links"]["self-html"] == "/app/acme-2/workspaces/prod"
    assert api.get("/api/v2/organizations/acme/workspaces/prod").status_code == 404
    assert [w["id"] for w in api.get("/api/v2/organizations/acme-2/workspaces").json["data"]] == [ws]
    # its state, by workspace and by the older organization/workspace filter
    current = api.get(f"/api/v2/workspaces/{ws}/current-state-version")
    assert current.json["data"]["id"] == renamed["sv"]
    listed = api.get("/api/v2/state-versions?filter%5Borganization%5D%5Bname%5D=acme-2"
                     "&filter%5Bworkspace%5D%5Bname%5D=prod")
    assert [s["id"] for s in listed.json["data"]] == [renamed["sv"]]
    # its members and its token keep their access
    member = renamed["member"]
    assert [o["id"] for o in member.get("/api/v2/organizations").json["data"]] == ["acme-2"]
    assert member.get(f"/api/v2/workspaces/{ws}").status_code == 200
    memberships = api.get("/api/v2/organizations/acme-2/organization-memberships").json["data"]
    assert {m["relationships"]["organization"]["data"]["id"] for m in memberships} == {"acme-2"}
    assert renamed["org_token"].get("/api/v2/organizations/acme-2").status_code == 200
    assert renamed["org_token"].get(f"/api/v2/workspaces/{ws}").status_code == 200
    token = api.get("/api/v2/organizations/acme-2/authentication-token")
    assert token.status_code == 200
    # its variable sets
    sets = api.get("/api/v2/organizations/acme-2/varsets").json["data"]
    assert [s["id"] for s in sets] == [renamed["varset"]]
    assert sets[0]["relationships"]["organization"]["data"]["id"] == "acme-2"
    # Terrakube paths name it by its new name too
    assert api.get("/api/v1/organization/acme-2/template").status_code == 200
    assert api.get("/api/v1/organization/acme/template").status_code == 404


def test_the_old_name_is_free_for_a_new_organization(api, renamed):
    created = api.post("/api/v2/organizations", ORG_BODY)
    assert created.status_code == 201, created.body
    assert api.get("/api/v2/organizations/acme/workspaces").json["data"] == []
    assert api.get("/api/v2/organizations/acme/varsets").json["data"] == []
    assert api.get("/api/v2/organizations/acme/workspaces/prod").status_code == 404
    fresh = api.post("/api/v2/organizations/acme/workspaces",
                     {"data": {"attributes": {"name": "prod"}}})
    assert fresh.status_code == 201 and fresh.json["data"]["id"] != renamed["workspace"]
    # the two stay apart: the renamed one keeps its workspace, its members see only it
    assert api.get("/api/v2/organizations/acme-2/workspaces/prod").json["data"]["id"] == renamed["workspace"]
    assert renamed["member"].get("/api/v2/organizations/acme").status_code == 404
    assert renamed["org_token"].get(f"/api/v2/workspaces/{fresh.json['data']['id']}").status_code == 404
    assert sorted(o["id"] for o in api.get("/api/v2/organizations").json["data"]) == ["acme", "acme-2"]
    # and the renamed one may take its first name back only once it is free again
    assert _rename(api, "acme-2", "acme").status_code == 409
    assert api.delete("/api/v2/organizations/acme").status_code == 204
    back = api.patch("/api/v2/organizations/acme-2", {"data": {"attributes": {
        "name": "acme", "email": "back@acme.test"}}})
    assert back.status_code == 200 and back.json["data"]["id"] == "acme"
    assert api.get("/api/v2/organizations/acme").json["data"]["attributes"]["email"] == "back@acme.test"
    assert api.get("/api/v2/organizations/acme/workspaces/prod").json["data"]["id"] == renamed["workspace"]


@pytest.mark.parametrize("name", ["acme\n", "a.b", "../x", "", "x" * 41, 7, None, "bad name"])
def test_an_invalid_name_is_refused_and_nothing_changes(api, org, name):
    resp = _rename(api, org, name)
    assert resp.status_code == 422, resp.body
    assert resp.json["errors"][0]["source"]["pointer"] == "/data/attributes/name"
    assert api.get(f"/api/v2/organizations/{org}").json["data"]["attributes"]["name"] == org


def test_a_taken_name_is_a_conflict_and_nothing_changes(api, org, workspace):
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "other", "email": "o@o.o"}}})
    resp = api.patch(f"/api/v2/organizations/{org}", {"data": {"attributes": {
        "name": "other", "email": "changed@acme.test"}}})
    assert resp.status_code == 409 and resp.json["errors"][0]["status"] == "409"
    # the same request's other attributes are not applied either
    assert api.get(f"/api/v2/organizations/{org}").json["data"]["attributes"]["email"] == "ops@acme.test"
    assert api.get(f"/api/v2/organizations/{org}/workspaces/prod").json["data"]["id"] == workspace
    assert api.get("/api/v2/organizations/other/workspaces").json["data"] == []


def test_only_its_owners_rename_it(api, org):
    org_token = api.as_token(api.post(f"/api/v2/organizations/{org}/authentication-token")
                             .json["data"]["attributes"]["token"])
    assert _rename(org_token, org, "taken-by-token").status_code == 403
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "other", "email": "o@o.o"}}})
    outsider = _member_token(api, "other", "eve@other.test")
    assert _rename(outsider, org, "taken-by-eve").status_code == 404
    for name in ("taken-by-token", "taken-by-eve"):
        assert api.get(f"/api/v2/organizations/{name}").status_code == 404
    assert api.get(f"/api/v2/organizations/{org}").status_code == 200


def test_runs_and_uploads_of_a_renamed_organization_go_on(api, org, workspace, upload):
    cv = upload(workspace, {"main.tf": 'output "x" { value = 1 }\n'})
    assert _rename(api, org, "acme-2").status_code == 200
    run = api.post("/api/v2/runs", {"data": {"attributes": {"message": "after rename"}, "relationships": {
        "workspace": {"data": {"type": "workspaces", "id": workspace}},
        "configuration-version": {"data": {"type": "configuration-versions", "id": cv}}}}})
    assert run.status_code == 201, run.body
    queue = api.get("/api/v2/organizations/acme-2/runs/queue").json["data"]
    assert run.json["data"]["id"] in [r["id"] for r in queue]
    assert api.get("/api/v2/organizations/acme/runs/queue").status_code == 404
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                       {"data": {"attributes": {"auto-queue-runs": False}}})
    url = created.json["data"]["attributes"]["upload-url"].replace("http://terraless.test", "")
    assert api.as_token(None).put(url, make_tgz({"main.tf": ""}),
                                  headers={"Content-Type": "application/octet-stream"}).status_code == 200


def test_an_organization_older_than_name_claims_is_found_and_renamed(api):
    """Organizations stored before names had claims (a dev stack's journal keeps them)."""
    from chalicelib.storage.models import OrganizationModel
    OrganizationModel(name="legacy", email="l@l.l", created_at="2026-01-01T00:00:00Z").save()
    assert api.get("/api/v2/organizations/legacy").status_code == 200
    assert api.post("/api/v2/organizations", {"data": {"attributes": {
        "name": "legacy", "email": "x@x.x"}}}).status_code == 409
    assert _rename(api, "legacy", "modern").status_code == 200
    assert api.get("/api/v2/organizations/legacy").status_code == 404
    assert api.get("/api/v2/organizations/modern").json["data"]["attributes"]["email"] == "l@l.l"
