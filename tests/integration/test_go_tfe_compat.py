"""Shapes HashiCorp's go-tfe tests expect (found running them against the service)."""
from __future__ import annotations


def test_a_pending_version_shows_its_upload_url_on_read(api, workspace, upload):
    pending = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                       {"data": {"type": "configuration-versions", "attributes": {}}}).json["data"]
    read = api.get(f"/api/v2/configuration-versions/{pending['id']}").json["data"]["attributes"]
    assert read["status"] == "pending" and read["upload-url"].startswith("http")
    done = upload(workspace, {"main.tf": 'resource "null_resource" "a" {}\n'})
    assert "upload-url" not in api.get(f"/api/v2/configuration-versions/{done}").json["data"]["attributes"]


def test_the_organization_token_can_be_read_without_its_secret(api, org):
    assert api.get(f"/api/v2/organizations/{org}/authentication-token").status_code == 404
    created = api.post(f"/api/v2/organizations/{org}/authentication-token").json["data"]
    shown = api.get(f"/api/v2/organizations/{org}/authentication-token")
    assert shown.status_code == 200 and shown.json["data"]["id"] == created["id"]
    assert not shown.json["data"]["attributes"].get("token")
    # an organization token itself cannot read it (user tokens manage organization tokens)
    as_org = api.as_token(created["attributes"]["token"])
    assert as_org.get(f"/api/v2/organizations/{org}/authentication-token").status_code == 403
    # another tenant's organization token sees no such organization
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "other", "email": "o@o.o"}}})
    other = api.post("/api/v2/organizations/other/authentication-token").json["data"]["attributes"]["token"]
    assert api.as_token(other).get(f"/api/v2/organizations/{org}/authentication-token").status_code == 404


def test_workspaces_include_their_organization(api, org, workspace):
    doc = api.get(f"/api/v2/organizations/{org}/workspaces?include=organization").json
    assert [i["id"] for i in doc["included"]] == [org] and doc["included"][0]["type"] == "organizations"
    assert "included" not in api.get(f"/api/v2/organizations/{org}/workspaces").json


def test_operations_false_means_local_execution(api, workspace):
    off = api.patch(f"/api/v2/workspaces/{workspace}", {"data": {"attributes": {"operations": False}}})
    assert off.json["data"]["attributes"]["execution-mode"] == "local"
    assert off.json["data"]["attributes"]["operations"] is False
    on = api.patch(f"/api/v2/workspaces/{workspace}", {"data": {"attributes": {"operations": True}}})
    assert on.json["data"]["attributes"]["execution-mode"] == "remote"
    assert api.patch(f"/api/v2/workspaces/{workspace}",
                     {"data": {"attributes": {"operations": "no"}}}).status_code == 422


def test_cancelling_a_queued_run_shows_force_cancel_available_at(api, workspace, upload):
    cv = upload(workspace, {"main.tf": 'resource "null_resource" "a" {}\n'})
    rels = {"workspace": {"data": {"type": "workspaces", "id": workspace}},
            "configuration-version": {"data": {"id": cv}}}
    first = api.post("/api/v2/runs", {"data": {"attributes": {"message": "holds"}, "relationships": rels}})
    behind = api.post("/api/v2/runs", {"data": {"attributes": {"message": "behind"}, "relationships": rels}})
    run_id = behind.json["data"]["id"]
    assert api.get(f"/api/v2/runs/{run_id}").json["data"]["attributes"]["status"] == "pending"
    assert api.post(f"/api/v2/runs/{run_id}/actions/cancel").status_code == 202
    attrs = api.get(f"/api/v2/runs/{run_id}").json["data"]["attributes"]
    assert attrs["status"] == "canceled" and attrs["force-cancel-available-at"]
    assert attrs["actions"]["is-force-cancelable"] is False
    assert first.status_code == 201


def test_a_declared_serial_is_the_versions_even_if_the_file_says_otherwise(api, workspace):
    import base64
    import hashlib
    import json
    raw = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": 7, "lineage": "l-1",
                      "outputs": {}, "resources": []}).encode()
    assert api.post(f"/api/v2/workspaces/{workspace}/actions/lock", {}).status_code == 200
    body = lambda serial: {"data": {"type": "state-versions", "attributes": {  # noqa: E731
        "serial": serial, "md5": hashlib.md5(raw).hexdigest(), "lineage": "l-1",  # noqa: S324
        "state": base64.b64encode(raw).decode()}}}
    created = api.post(f"/api/v2/workspaces/{workspace}/state-versions", body(1))
    assert created.status_code == 201 and created.json["data"]["attributes"]["serial"] == 1
    assert api.post(f"/api/v2/workspaces/{workspace}/state-versions", body(1)).status_code == 201   # the same state again
    assert api.post(f"/api/v2/workspaces/{workspace}/state-versions", body(0)).status_code == 409   # an older serial
    assert api.post(f"/api/v2/workspaces/{workspace}/state-versions", body("two")).status_code == 422
    assert api.post(f"/api/v2/workspaces/{workspace}/state-versions", body(2)).status_code == 201


def test_outputs_have_hcp_kinds_as_type_and_are_paged(api, workspace):
    # go-tfe decodes `type` into a string ("Invalid type provided" for terraform's list form)
    import base64
    import hashlib
    import json
    outputs = {"s": {"value": "x", "type": "string"}, "l": {"value": ["a"], "type": ["list", "string"]},
               "o": {"value": {"k": 1}, "type": ["object", {"k": "number"}]},
               "t": {"value": [1], "type": ["tuple", ["number"]]},
               "m": {"value": {"k": "v"}, "type": ["map", "string"]}}
    raw = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": 1, "lineage": "l-1",
                      "outputs": outputs, "resources": []}).encode()
    api.post(f"/api/v2/workspaces/{workspace}/actions/lock", {})
    sv = api.post(f"/api/v2/workspaces/{workspace}/state-versions", {"data": {
        "type": "state-versions", "attributes": {"serial": 1, "md5": hashlib.md5(raw).hexdigest(),  # noqa: S324
                                                 "lineage": "l-1", "state": base64.b64encode(raw).decode()}}}).json["data"]["id"]
    listed = api.get(f"/api/v2/state-versions/{sv}/outputs").json
    kinds = {o["attributes"]["name"]: (o["attributes"]["type"], o["attributes"]["detailed-type"])
             for o in listed["data"]}
    assert kinds == {"s": ("string", "string"), "l": ("array", ["list", "string"]),
                     "o": ("object", ["object", {"k": "number"}]), "t": ("array", ["tuple", ["number"]]),
                     "m": ("object", ["map", "string"])}
    far = api.get(f"/api/v2/state-versions/{sv}/outputs?page%5Bnumber%5D=999&page%5Bsize%5D=2").json
    assert far["data"] == [] and far["meta"]["pagination"]["total-count"] == 5
    second = api.get(f"/api/v2/workspaces/{workspace}/current-state-version-outputs?page%5Bnumber%5D=2&page%5Bsize%5D=2").json
    assert len(second["data"]) == 2 and second["meta"]["pagination"]["current-page"] == 2


def test_an_output_is_read_by_its_id_and_only_by_its_organization(api, workspace):
    import base64
    import hashlib
    import json
    raw = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": 1, "lineage": "l-1",
                      "outputs": {"a": {"value": "x", "type": "string"},
                                  "b": {"value": "s3cret", "type": "string", "sensitive": True}},
                      "resources": []}).encode()
    api.post(f"/api/v2/workspaces/{workspace}/actions/lock", {})
    sv = api.post(f"/api/v2/workspaces/{workspace}/state-versions", {"data": {
        "type": "state-versions", "attributes": {"serial": 1, "md5": hashlib.md5(raw).hexdigest(),  # noqa: S324
                                                 "lineage": "l-1", "state": base64.b64encode(raw).decode()}}}).json["data"]
    first, second = (o["id"] for o in sv["relationships"]["outputs"]["data"])
    shown = api.get(f"/api/v2/state-version-outputs/{first}")
    assert shown.status_code == 200 and shown.json["data"]["attributes"]["value"] == "x"
    assert api.get(f"/api/v2/state-version-outputs/{second}").json["data"]["attributes"]["value"] is None
    for missing in (first[:-1] + "9", first[:-1], "wsout-", "sv-" + first[6:], first + "0" * 5):
        assert api.get(f"/api/v2/state-version-outputs/{missing}").status_code == 404, missing
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.as_token(api.post("/api/v2/organizations/rival/authentication-token")
                         .json["data"]["attributes"]["token"])
    assert rival.get(f"/api/v2/state-version-outputs/{first}").status_code == 404
    assert api.as_token(None).get(f"/api/v2/state-version-outputs/{first}").status_code == 401
