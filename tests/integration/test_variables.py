"""Workspace variables, variable sets and Terrakube's variable paths under moto: shapes,
validation, write-only sensitive values sealed at rest, and the tenant boundary."""
import json

import pytest

from conftest import ADMIN_TOKEN


def var_body(key, value="v", category="terraform", **attrs):
    return {"data": {"type": "vars", "attributes": {"key": key, "value": value,
                                                    "category": category, **attrs}}}


@pytest.fixture
def ws_vars(api, workspace):
    return f"/api/v2/workspaces/{workspace}/vars"


def test_create_list_update_delete_in_hcp_shapes(api, workspace, ws_vars):
    created = api.post(ws_vars, var_body("region", "eu-west-1", description="where"))
    assert created.status_code == 201, created.body
    data = created.json["data"]
    assert data["type"] == "vars" and data["id"].startswith("var-")
    a = data["attributes"]
    assert (a["key"], a["value"], a["category"], a["hcl"], a["sensitive"], a["description"]) == \
        ("region", "eu-west-1", "terraform", False, False, "where")
    assert data["relationships"]["configurable"]["data"] == {"id": workspace, "type": "workspaces"}
    first_version = a["version-id"]
    listed = api.get(ws_vars).json["data"]
    assert [v["id"] for v in listed] == [data["id"]]
    # the workspace names its variables (go-tfe reads them there)
    shown = api.get(f"/api/v2/workspaces/{workspace}").json["data"]
    assert shown["relationships"]["vars"]["data"] == [{"type": "vars", "id": data["id"]}]
    updated = api.patch(f"{ws_vars}/{data['id']}", {"data": {"attributes": {"value": "us-east-2"}}})
    assert updated.status_code == 200
    assert updated.json["data"]["attributes"]["value"] == "us-east-2"
    assert updated.json["data"]["attributes"]["version-id"] != first_version
    renamed = api.patch(f"/api/v2/vars/{data['id']}", {"data": {"attributes": {"key": "zone"}}})
    assert renamed.status_code == 200 and renamed.json["data"]["attributes"]["key"] == "zone"
    assert [v["attributes"]["key"] for v in api.get(ws_vars).json["data"]] == ["zone"]
    assert api.delete(f"{ws_vars}/{data['id']}").status_code == 204
    assert api.get(ws_vars).json["data"] == []
    assert api.get(f"/api/v2/workspaces/{workspace}").json["data"]["relationships"]["vars"]["data"] == []
    assert api.delete(f"{ws_vars}/{data['id']}").status_code == 404


def test_the_older_vars_endpoints(api, org, workspace):
    body = var_body("AWS_REGION", "eu-west-1", "env")
    body["data"]["relationships"] = {"workspace": {"data": {"type": "workspaces", "id": workspace}}}
    created = api.post("/api/v2/vars", body)
    assert created.status_code == 201, created.body
    found = api.get(f"/api/v2/vars?filter%5Borganization%5D%5Bname%5D={org}"
                    f"&filter%5Bworkspace%5D%5Bname%5D=prod").json["data"]
    assert [v["attributes"]["key"] for v in found] == ["AWS_REGION"]
    assert api.get("/api/v2/vars").status_code == 422
    assert api.delete(f"/api/v2/vars/{created.json['data']['id']}").status_code == 204


@pytest.mark.parametrize("body, status, needle", [
    (var_body("x", category=None), 422, "category"),
    (var_body("x", category="secret"), 422, "category"),
    (var_body("1x", category="env"), 422, "key"),
    (var_body("has space", category="env"), 422, "key"),
    (var_body("a-b", category="env"), 422, "key"),
    (var_body(""), 422, "key"),
    (var_body("x", "[1, 2", hcl=True), 422, "HCL"),
    (var_body("x", '1)\nsmuggled = (2', hcl=True), 422, "single expression"),
    (var_body("x", "[" * 40 + "]" * 40, hcl=True), 422, "deeper"),
    (var_body("x", {"a": 1}), 422, "value"),
    (var_body("x", sensitive="yes"), 422, "sensitive"),
    (var_body("x", description="d" * 600), 422, "description"),
])
def test_bad_variables_are_refused_and_nothing_is_stored(api, ws_vars, body, status, needle):
    resp = api.post(ws_vars, body)
    assert resp.status_code == status, resp.body
    assert needle.lower() in json.dumps(resp.json["errors"]).lower()
    assert api.get(ws_vars).json["data"] == []


def test_a_key_is_unique_per_category(api, ws_vars):
    assert api.post(ws_vars, var_body("name")).status_code == 201
    assert api.post(ws_vars, var_body("name")).status_code == 409
    assert api.post(ws_vars, var_body("name", category="env")).status_code == 201
    other = api.post(ws_vars, var_body("other")).json["data"]["id"]
    assert api.patch(f"{ws_vars}/{other}", {"data": {"attributes": {"key": "name"}}}).status_code == 409
    keys = sorted((v["attributes"]["category"], v["attributes"]["key"]) for v in api.get(ws_vars).json["data"])
    assert keys == [("env", "name"), ("terraform", "name"), ("terraform", "other")]


def test_hcl_values_that_parse_are_kept(api, ws_vars):
    value = '{\n  a = [1, 2]\n  b = "three"\n}'
    resp = api.post(ws_vars, var_body("obj", value, hcl=True))
    assert resp.status_code == 201, resp.body
    assert resp.json["data"]["attributes"]["value"] == value


def test_sensitive_values_are_write_only_and_sealed_at_rest(api, workspace, ws_vars):
    secret = "s3cr3t-Value-4242"
    created = api.post(ws_vars, var_body("token", secret, sensitive=True))
    assert created.status_code == 201
    var_id = created.json["data"]["id"]
    assert created.json["data"]["attributes"]["value"] is None
    assert api.get(ws_vars).json["data"][0]["attributes"]["value"] is None
    assert api.get(f"{ws_vars}/{var_id}").json["data"]["attributes"]["value"] is None
    back = api.patch(f"{ws_vars}/{var_id}", {"data": {"attributes": {"sensitive": False}}})
    assert back.status_code == 422
    made = api.post(ws_vars, var_body("plain", "later-secret-99"))
    api.patch(f"{ws_vars}/{made.json['data']['id']}", {"data": {"attributes": {"sensitive": True}}})
    assert api.get(f"{ws_vars}/{made.json['data']['id']}").json["data"]["attributes"]["value"] is None
    # nothing in DynamoDB holds either value in clear
    from chalicelib.aws.clients import client
    from chalicelib.config import settings
    items = client("dynamodb").scan(TableName=settings().table("variables"))["Items"]
    assert len(items) == 4            # two variables, the workspace's data key and its bundle
    assert secret not in json.dumps(items) and "later-secret-99" not in json.dumps(items)


def test_a_sealed_value_does_not_open_for_another_variable(api, ws_vars, workspace):
    from chalicelib.services import sealing
    from chalicelib.storage import variables as store
    a = api.post(ws_vars, var_body("a", "alpha-secret", sensitive=True)).json["data"]["id"]
    b = api.post(ws_vars, var_body("b", "beta-secret", sensitive=True)).json["data"]["id"]
    key = sealing.open_owner_key(workspace, store.owner_key(workspace))
    assert sealing.unseal(key, store.find(a).sealed, a) == "alpha-secret"
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(key, store.find(a).sealed, b)
    with pytest.raises(Exception):
        sealing.open_owner_key("ws-someoneelse", store.owner_key(workspace))


def test_another_organization_finds_nothing(api, org, workspace, ws_vars):
    var_id = api.post(ws_vars, var_body("mine")).json["data"]["id"]
    varset = api.post(f"/api/v2/organizations/{org}/varsets",
                      {"data": {"attributes": {"name": "creds", "global": False}}}).json["data"]["id"]
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"]
    other = api.as_token(rival)
    rival_ws = other.post("/api/v2/organizations/rival/workspaces",
                          {"data": {"attributes": {"name": "theirs"}}}).json["data"]["id"]
    assert other.get(ws_vars).status_code == 404
    assert other.post(ws_vars, var_body("planted")).status_code == 404
    assert other.patch(f"/api/v2/vars/{var_id}", {"data": {"attributes": {"value": "x"}}}).status_code == 404
    assert other.delete(f"/api/v2/vars/{var_id}").status_code == 404
    assert other.patch(f"{ws_vars}/{var_id}", {"data": {"attributes": {"value": "x"}}}).status_code == 404
    assert other.get(f"/api/v2/varsets/{varset}").status_code == 404
    assert other.post(f"/api/v2/varsets/{varset}/relationships/vars", var_body("x")).status_code == 404
    assert other.get(f"/api/v2/organizations/{org}/varsets").status_code == 404
    # nor can a set be applied to another organization's workspace, by either side
    assert other.post(f"/api/v2/varsets/{varset}/relationships/workspaces",
                      {"data": [{"type": "workspaces", "id": rival_ws}]}).status_code == 404
    assert api.post(f"/api/v2/varsets/{varset}/relationships/workspaces",
                    {"data": [{"type": "workspaces", "id": rival_ws}]}).status_code == 404
    # another workspace's variable through this workspace's path
    assert api.get(f"/api/v2/workspaces/{rival_ws}/vars/{var_id}").status_code == 404
    assert api.get(ws_vars).json["data"][0]["attributes"]["value"] == "v"


def test_an_unknown_workspace_or_set_is_404(api, org):
    assert api.get("/api/v2/workspaces/ws-doesnotexist00/vars").status_code == 404
    assert api.post("/api/v2/workspaces/ws-doesnotexist00/vars", var_body("x")).status_code == 404
    assert api.post("/api/v2/varsets/varset-nothere/relationships/vars", var_body("x")).status_code == 404
    assert api.get("/api/v2/varsets/name%23acme").status_code == 404     # a name claim is no set
    assert api.patch("/api/v2/vars/var-nothere", {"data": {"attributes": {"value": "x"}}}).status_code == 404
    assert api.get("/api/v2/organizations/nope/varsets").status_code == 404


def test_an_organization_token_manages_variables(api, org, workspace, ws_vars):
    token = api.post(f"/api/v2/organizations/{org}/authentication-token").json["data"]["attributes"]["token"]
    assert api.as_token(token).post(ws_vars, var_body("from_org_token")).status_code == 201


def test_variable_sets_crud_and_relationships(api, org, workspace):
    created = api.post(f"/api/v2/organizations/{org}/varsets", {"data": {"type": "varsets", "attributes": {
        "name": "aws creds", "description": "shared", "global": False, "priority": False},
        "relationships": {"workspaces": {"data": [{"type": "workspaces", "id": workspace}]}}}})
    assert created.status_code == 201, created.body
    vs = created.json["data"]
    assert vs["type"] == "varsets" and vs["attributes"]["name"] == "aws creds"
    assert vs["relationships"]["workspaces"]["data"] == [{"id": workspace, "type": "workspaces"}]
    assert api.post(f"/api/v2/organizations/{org}/varsets",
                    {"data": {"attributes": {"name": "aws creds"}}}).status_code == 409
    var = api.post(f"/api/v2/varsets/{vs['id']}/relationships/vars", var_body("AWS_KEY", "k", "env"))
    assert var.status_code == 201, var.body
    assert var.json["data"]["relationships"]["varset"]["data"]["id"] == vs["id"]
    listed = api.get(f"/api/v2/varsets/{vs['id']}/relationships/vars").json["data"]
    assert [v["attributes"]["key"] for v in listed] == ["AWS_KEY"]
    shown = api.get(f"/api/v2/varsets/{vs['id']}").json["data"]
    assert shown["attributes"]["var-count"] == 1 and shown["attributes"]["workspace-count"] == 1
    assert [s["id"] for s in api.get(f"/api/v2/workspaces/{workspace}/varsets").json["data"]] == [vs["id"]]
    assert api.request("DELETE", f"/api/v2/varsets/{vs['id']}/relationships/workspaces",
                       {"data": [{"type": "workspaces", "id": workspace}]}).status_code == 204
    assert api.get(f"/api/v2/workspaces/{workspace}/varsets").json["data"] == []
    patched = api.patch(f"/api/v2/varsets/{vs['id']}", {"data": {"attributes": {"global": True, "name": "all"}}})
    assert patched.status_code == 200 and patched.json["data"]["attributes"]["global"] is True
    # a global set applies to every workspace of the organization
    assert [s["id"] for s in api.get(f"/api/v2/workspaces/{workspace}/varsets").json["data"]] == [vs["id"]]
    page = api.get(f"/api/v2/organizations/{org}/varsets").json
    assert [s["attributes"]["name"] for s in page["data"]] == ["all"]
    assert page["meta"]["pagination"]["total-count"] == 1
    var_id = var.json["data"]["id"]
    assert api.patch(f"/api/v2/varsets/{vs['id']}/relationships/vars/{var_id}",
                     {"data": {"attributes": {"value": "k2"}}}).json["data"]["attributes"]["value"] == "k2"
    assert api.delete(f"/api/v2/varsets/{vs['id']}").status_code == 204
    assert api.get(f"/api/v2/varsets/{vs['id']}").status_code == 404
    assert api.get(f"/api/v2/workspaces/{workspace}/varsets").json["data"] == []


def test_all_vars_applies_precedence(api, org, workspace, ws_vars):
    api.post(ws_vars, var_body("size", "workspace"))
    vs = api.post(f"/api/v2/organizations/{org}/varsets", {"data": {"attributes": {
        "name": "defaults", "global": True}}}).json["data"]["id"]
    api.post(f"/api/v2/varsets/{vs}/relationships/vars", var_body("size", "set"))
    api.post(f"/api/v2/varsets/{vs}/relationships/vars", var_body("color", "set"))
    found = {v["attributes"]["key"]: v["attributes"]["value"]
             for v in api.get(f"/api/v2/workspaces/{workspace}/all-vars").json["data"]}
    assert found == {"size": "workspace", "color": "set"}


def test_the_bundle_follows_every_change(api, workspace, ws_vars):
    """(Concurrent writers are tested through the dev stack: moto's in-process DynamoDB is not
    safe for concurrent transactions, tests/e2e/test_devstack_variables.py.)"""
    from chalicelib.storage import variables as store
    ids = [api.post(ws_vars, var_body(f"k{i}", f"v{i}")).json["data"]["id"] for i in range(3)]
    api.patch(f"{ws_vars}/{ids[0]}", {"data": {"attributes": {"key": "renamed", "value": "new"}}})
    api.delete(f"{ws_vars}/{ids[1]}")
    bundled, _ = store.owners([workspace])[workspace]
    assert sorted((v.key, v.value) for v in bundled) == [("k2", "v2"), ("renamed", "new")]
    assert bundled == store._query_owner(workspace)[0]


def test_deleting_a_workspace_deletes_its_variables(api, workspace, ws_vars):
    api.post(ws_vars, var_body("gone", "x", sensitive=True))
    assert api.delete(f"/api/v2/workspaces/{workspace}").status_code == 204
    from chalicelib.aws.clients import client
    from chalicelib.config import settings
    assert client("dynamodb").scan(TableName=settings().table("variables"))["Items"] == []


def test_terrakube_variable_paths(api, org, workspace):
    base = f"/api/v1/organization/{org}/workspace/{workspace}/variable"
    created = api.post(base, {"data": {"type": "variable", "attributes": {
        "key": "TF_LOG", "value": "INFO", "category": "ENV", "sensitive": False, "hcl": False,
        "description": "logging"}}})
    assert created.status_code == 201, created.body
    data = created.json["data"]
    assert data["type"] == "variable" and data["attributes"]["category"] == "ENV"
    assert [v["attributes"]["key"] for v in api.get(base).json["data"]] == ["TF_LOG"]
    # the same variable through HCP's API
    hcp = api.get(f"/api/v2/workspaces/{workspace}/vars").json["data"]
    assert hcp[0]["id"] == data["id"] and hcp[0]["attributes"]["category"] == "env"
    assert api.patch(f"{base}/{data['id']}", {"data": {"attributes": {"value": "DEBUG"}}}) \
        .json["data"]["attributes"]["value"] == "DEBUG"
    assert api.get(f"/api/v1/organization/other/workspace/{workspace}/variable").status_code == 404
    assert api.delete(f"{base}/{data['id']}").status_code == 204
    assert api.get(base).json["data"] == []


def test_a_run_refuses_a_smuggling_hcl_variable(api, workspace, upload):
    upload(workspace, {"main.tf": "variable \"x\" {}\n"})
    resp = api.post("/api/v2/runs", {"data": {"attributes": {
        "variables": [{"key": "x", "value": '1)\ny = (2'}]},
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": workspace}}}}})
    assert resp.status_code == 422, resp.body


def test_variables_need_a_token(api, ws_vars):
    assert api.as_token(None).get(ws_vars).status_code == 401
    assert api.as_token("nonsense").post(ws_vars, var_body("x")).status_code == 401
    assert ADMIN_TOKEN


def test_a_variable_changes_category_where_its_key_is_free(api, workspace, ws_vars):
    moved = api.post(ws_vars, var_body("REGION", "eu-west-1")).json["data"]["id"]
    changed = api.patch(f"{ws_vars}/{moved}", {"data": {"attributes": {"category": "env"}}})
    assert changed.status_code == 200 and changed.json["data"]["attributes"]["category"] == "env"
    # the same key in the category it left is free again; moving it back onto a taken slot is not
    again = api.post(ws_vars, var_body("REGION", "us-east-1")).json["data"]["id"]
    refused = api.patch(f"{ws_vars}/{again}", {"data": {"attributes": {"category": "env"}}})
    assert refused.status_code == 409
    assert api.patch(f"{ws_vars}/{moved}", {"data": {"attributes": {"category": "bash"}}}).status_code == 422
    dashed = api.post(ws_vars, var_body("my-var")).json["data"]["id"]
    assert api.patch(f"{ws_vars}/{dashed}", {"data": {"attributes": {"category": "env"}}}).status_code == 422
    shown = {v["id"]: (v["attributes"]["category"], v["attributes"]["value"]) for v in api.get(ws_vars).json["data"]}
    assert shown == {moved: ("env", "eu-west-1"), again: ("terraform", "us-east-1"), dashed: ("terraform", "v")}
