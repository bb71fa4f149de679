"""Terrakube's workspaces (/api/v1/organization/{org}/workspace): the same workspaces as HCP's,
in Terrakube's shape; `iacType` chooses what the phases run (terraform | tofu)."""
import pytest


def _path(org, ws=""):
    return f"/api/v1/organization/{org}/workspace" + (f"/{ws}" if ws else "")


def _body(**attrs):
    return {"data": {"type": "workspace", "attributes": attrs}}


def test_create_show_update_list_delete_with_iac_type(api, org):
    made = api.post(_path(org), _body(name="net", iacType="tofu", terraformVersion="1.12.6",
                                      folder="/infra", executionMode="remote", description="d"))
    assert made.status_code == 201, made.json
    ws = made.json["data"]
    assert ws["type"] == "workspace" and ws["id"].startswith("ws-")
    assert ws["attributes"] == {"name": "net", "description": "d", "iacType": "tofu",
                                "terraformVersion": "1.12.6", "executionMode": "remote",
                                "folder": "/infra", "deleted": False}
    # the same workspace through HCP's API: OpenTofu is its engine
    tfe = api.get(f"/api/v2/workspaces/{ws['id']}").json["data"]["attributes"]
    assert tfe["engine"] == "tofu" and tfe["working-directory"] == "infra"
    changed = api.patch(_path(org, ws["id"]), {"data": {"type": "workspace", "id": ws["id"],
                                                        "attributes": {"iacType": "terraform"}}})
    assert changed.status_code == 200 and changed.json["data"]["attributes"]["iacType"] == "terraform"
    assert api.get(f"/api/v2/workspaces/{ws['id']}").json["data"]["attributes"]["engine"] == "terraform"
    plain = api.post(_path(org), _body(name="plain")).json["data"]
    assert plain["attributes"]["iacType"] == "terraform"       # Terrakube's default
    listed = api.get(_path(org) + "?page%5Bsize%5D=1&page%5Bnumber%5D=2").json
    assert len(listed["data"]) == 1 and listed["meta"]["pagination"]["total-count"] == 2
    assert api.request("DELETE", _path(org, plain["id"])).status_code == 204
    assert api.get(_path(org, plain["id"])).status_code == 404


@pytest.mark.parametrize("attrs, pointer", [
    ({"name": "x", "iacType": "pulumi"}, "engine"),
    ({"name": "x", "iacType": 3}, "engine"),
    ({"name": "bad name"}, "name"),
    ({"name": "x", "terraformVersion": "1.0; rm -rf /"}, "terraform"),
    ({"name": "x", "folder": ["a"]}, "working"),
])
def test_bad_workspaces_are_422_and_nothing_is_created(api, org, attrs, pointer):
    refused = api.post(_path(org), _body(**attrs))
    assert refused.status_code == 422, refused.json
    assert pointer in refused.json["errors"][0]["source"]["pointer"]
    assert api.get(_path(org)).json["data"] == []


def test_a_bad_change_is_422_and_changes_nothing(api, org):
    ws = api.post(_path(org), _body(name="keep", iacType="tofu")).json["data"]["id"]
    refused = api.patch(_path(org, ws), {"data": {"type": "workspace", "attributes": {"iacType": "bash"}}})
    assert refused.status_code == 422
    assert api.get(_path(org, ws)).json["data"]["attributes"]["iacType"] == "tofu"


def test_another_organization_sees_and_changes_nothing(api, org):
    ws = api.post(_path(org), _body(name="mine", iacType="tofu")).json["data"]["id"]
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.as_token(api.post("/api/v2/organizations/rival/authentication-token")
                         .json["data"]["attributes"]["token"])
    assert rival.get(_path(org, ws)).status_code == 404
    assert rival.get(_path(org)).status_code == 404
    assert rival.patch(_path(org, ws), _body(iacType="terraform")).status_code == 404
    assert rival.request("DELETE", _path(org, ws)).status_code == 404
    # naming its own organization with our workspace's id does not reach it either
    assert rival.get(_path("rival", ws)).status_code == 404
    assert rival.patch(_path("rival", ws), _body(iacType="terraform")).status_code == 404
    assert api.as_token(None).get(_path(org, ws)).status_code == 401
    assert api.get(_path(org, ws)).json["data"]["attributes"]["iacType"] == "tofu"
