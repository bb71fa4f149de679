"""Workspaces: CRUD, lookup by name, list/search/pagination, lock, bad input."""


def test_create_show_update_delete(api, org):
    created = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"type": "workspaces",
                       "attributes": {"name": "web", "auto-apply": True, "unknown-attr": 1,
                                      "terraform-version": "1.0.3"}}})
    assert created.status_code == 201
    data = created.json["data"]
    assert data["type"] == "workspaces" and data["id"].startswith("ws-")
    assert data["links"]["self"] == f"/api/v2/organizations/{org}/workspaces/web"   # HCP's form
    a = data["attributes"]
    assert a["auto-apply"] is True and a["terraform-version"] == "1.0.3"
    assert a["trigger-prefixes"] == [] and a["tag-names"] == [] and a["locked"] is False
    by_name = api.get(f"/api/v2/organizations/{org}/workspaces/web")
    assert by_name.json["data"]["id"] == data["id"]
    upd = api.patch(f"/api/v2/workspaces/{data['id']}", {"data": {"attributes": {
        "description": "frontend", "tag-names": ["a", "b"]}}})
    assert upd.status_code == 200 and upd.json["data"]["attributes"]["tag-names"] == ["a", "b"]
    renamed = api.patch(f"/api/v2/organizations/{org}/workspaces/web",
                        {"data": {"attributes": {"name": "www"}}})
    assert renamed.json["data"]["attributes"]["name"] == "www"
    assert api.get(f"/api/v2/organizations/{org}/workspaces/web").status_code == 404
    assert api.delete(f"/api/v2/workspaces/{data['id']}").status_code == 204
    assert api.get(f"/api/v2/workspaces/{data['id']}").status_code == 404


def test_list_search_and_pagination(api, org):
    for name in ("alpha", "beta", "gamma", "alphabet", "delta"):
        assert api.post(f"/api/v2/organizations/{org}/workspaces",
                        {"data": {"attributes": {"name": name}}}).status_code == 201
    page = api.get(f"/api/v2/organizations/{org}/workspaces?page%5Bsize%5D=2&page%5Bnumber%5D=2")
    assert [w["attributes"]["name"] for w in page.json["data"]] == ["beta", "delta"]
    assert page.json["meta"]["pagination"] == {"current-page": 2, "page-size": 2, "prev-page": 1,
                                               "next-page": 3, "total-pages": 3, "total-count": 5}
    found = api.get(f"/api/v2/organizations/{org}/workspaces?search%5Bname%5D=alpha")
    assert sorted(w["attributes"]["name"] for w in found.json["data"]) == ["alpha", "alphabet"]
    empty_filter = api.get(f"/api/v2/organizations/{org}/workspaces?search%5Bname%5D=")
    assert empty_filter.json["meta"]["pagination"]["total-count"] == 5
    # HCP's search[wildcard-name]: * anywhere in the pattern
    for pattern, names in (("alpha*", ["alpha", "alphabet"]), ("*ta", ["beta", "delta"]),
                           ("*ph*", ["alpha", "alphabet"]), ("a*t", ["alphabet"]),
                           ("*-dev", []), ("gamma", ["gamma"]), ("*", ["alpha", "alphabet", "beta", "delta", "gamma"])):
        found = api.get(f"/api/v2/organizations/{org}/workspaces?search%5Bwildcard-name%5D={pattern}")
        assert [w["attributes"]["name"] for w in found.json["data"]] == names, pattern


def test_bad_input(api, org):
    base = f"/api/v2/organizations/{org}/workspaces"
    assert api.post(base, raw=b"{not json").status_code == 400
    assert api.post(base, {"data": {"attributes": {"name": "has space"}}}).status_code == 422
    assert api.post(base, {"data": {"attributes": {"name": "ok", "auto-apply": "yes"}}}).status_code == 422
    assert api.post(base, {"data": {"attributes": {"name": "ok", "terraform-version": "banana"}}}).status_code == 422
    assert api.post(base, {"data": "nope"}).status_code == 422
    assert api.post(base, {"data": {"attributes": {"name": "dup"}}}).status_code == 201
    dup = api.post(base, {"data": {"attributes": {"name": "dup"}}})
    assert dup.status_code == 422 and "taken" in dup.json["errors"][0]["detail"]
    assert api.get(f"{base}?page%5Bnumber%5D=abc").status_code == 400
    assert api.get("/api/v2/workspaces/ws-doesnotexist").status_code == 404
    wrong_method = api.request("PUT", f"/api/v2/organizations/{org}")
    assert wrong_method.status_code == 405 and wrong_method.json["errors"][0]["status"] == "405"
    # Nothing stored was harmed by the bad requests.
    listed = api.get(base).json["data"]
    assert [w["attributes"]["name"] for w in listed] == ["dup"]


def test_lock_unlock_force_unlock(api, org, workspace):
    base = f"/api/v2/workspaces/{workspace}/actions"
    locked = api.post(f"{base}/lock", {"reason": "maintenance"})
    assert locked.status_code == 200 and locked.json["data"]["attributes"]["locked"] is True
    assert locked.json["data"]["attributes"]["locked-reason"] == "maintenance"
    again = api.post(f"{base}/lock", {"reason": "again"})
    assert again.status_code == 409
    # Another user may not unlock, only force-unlock.
    member = api.post(f"/api/v2/organizations/{org}/organization-memberships",
                      {"data": {"attributes": {"email": "b@acme.test"}}}).json
    uid = member["data"]["relationships"]["user"]["data"]["id"]
    other = api.as_token(api.post(f"/api/v2/users/{uid}/authentication-tokens").json["data"]["attributes"]["token"])
    assert other.post(f"{base}/unlock").status_code == 409
    assert other.post(f"{base}/force-unlock").status_code == 200
    assert api.post(f"{base}/unlock").status_code == 409
    assert api.post(f"{base}/force-unlock").status_code == 409
    assert api.post(f"{base}/lock").status_code == 200
    assert api.post(f"{base}/unlock").json["data"]["attributes"]["locked"] is False


def _state_with(resources: list) -> dict:
    import base64
    import hashlib
    import json
    raw = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": 1, "lineage": "l-1",
                      "outputs": {}, "resources": resources}).encode()
    return {"data": {"type": "state-versions", "attributes": {
        "serial": 1, "md5": hashlib.md5(raw).hexdigest(), "lineage": "l-1",  # noqa: S324
        "state": base64.b64encode(raw).decode()}}}


def test_safe_delete_refuses_a_locked_workspace_and_one_managing_resources(api, org):
    base = f"/api/v2/organizations/{org}/workspaces"
    made = {name: api.post(base, {"data": {"attributes": {"name": name}}}).json["data"]["id"]
            for name in ("empty", "locked", "managing", "emptied")}
    assert api.post(f"{base}/empty/actions/safe-delete").status_code == 204
    assert api.get(f"{base}/empty").status_code == 404
    api.post(f"/api/v2/workspaces/{made['locked']}/actions/lock", {})
    refused = api.post(f"/api/v2/workspaces/{made['locked']}/actions/safe-delete")
    assert refused.status_code == 409 and "locked" in refused.json["errors"][0]["detail"]
    ws = made["managing"]
    api.post(f"/api/v2/workspaces/{ws}/actions/lock", {})
    assert api.post(f"/api/v2/workspaces/{ws}/state-versions", _state_with(
        [{"mode": "managed", "type": "null_resource", "name": "a", "instances": []}])).status_code == 201
    api.post(f"/api/v2/workspaces/{ws}/actions/unlock", {})
    refused = api.post(f"/api/v2/workspaces/{ws}/actions/safe-delete")
    assert refused.status_code == 409 and "managing resources" in refused.json["errors"][0]["detail"]
    # a state with nothing in it is safe to delete
    ws = made["emptied"]
    api.post(f"/api/v2/workspaces/{ws}/actions/lock", {})
    api.post(f"/api/v2/workspaces/{ws}/state-versions", _state_with([]))
    api.post(f"/api/v2/workspaces/{ws}/actions/unlock", {})
    assert api.post(f"/api/v2/workspaces/{ws}/actions/safe-delete").status_code == 204
    # the refused ones are all there; another organization cannot reach them
    assert {w["attributes"]["name"] for w in api.get(base).json["data"]} == {"locked", "managing"}
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.as_token(api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"])
    api.post(f"/api/v2/workspaces/{made['locked']}/actions/unlock", {})
    assert rival.post(f"/api/v2/workspaces/{made['locked']}/actions/safe-delete").status_code == 404
    assert rival.post(f"{base}/locked/actions/safe-delete").status_code == 404
    assert api.as_token(None).post(f"/api/v2/workspaces/{made['locked']}/actions/safe-delete").status_code == 401
    assert api.get(f"{base}/locked").status_code == 200


def test_include_outputs_and_the_current_state_version(api, org):
    import base64
    import hashlib
    import json
    base = f"/api/v2/organizations/{org}/workspaces"
    ws = api.post(base, {"data": {"attributes": {"name": "with-state"}}}).json["data"]["id"]
    api.post(base, {"data": {"attributes": {"name": "without-state"}}})
    raw = json.dumps({"version": 4, "serial": 1, "lineage": "l", "resources": [], "outputs": {
        "url": {"value": "https://x", "type": "string"},
        "password": {"value": "hunter2", "type": "string", "sensitive": True}}}).encode()
    api.post(f"/api/v2/workspaces/{ws}/actions/lock", {})
    sv = api.post(f"/api/v2/workspaces/{ws}/state-versions", {"data": {"attributes": {
        "serial": 1, "md5": hashlib.md5(raw).hexdigest(), "state": base64.b64encode(raw).decode()}}}).json["data"]["id"]  # noqa: S324
    for path in (f"/api/v2/workspaces/{ws}", f"{base}/with-state"):
        shown = api.get(f"{path}?include=outputs").json
        related = shown["data"]["relationships"]["outputs"]["data"]
        outputs = {o["attributes"]["name"]: o for o in shown["included"]}
        assert [o["id"] for o in related] == [o["id"] for o in shown["included"]]
        assert {n: (o["type"], o["attributes"]["output-type"], o["attributes"]["value"]) for n, o in outputs.items()} == {
            "url": ("workspace-outputs", "string", "https://x"), "password": ("workspace-outputs", "string", None)}
    listed = api.get(f"{base}?include=current-state-version,outputs").json
    assert [i["id"] for i in listed["included"] if i["type"] == "state-versions"] == [sv]
    bare = [d for d in listed["data"] if d["attributes"]["name"] == "without-state"][0]
    assert bare["relationships"]["outputs"]["data"] == []
    assert "included" not in api.get(f"/api/v2/workspaces/{ws}").json or not api.get(f"/api/v2/workspaces/{ws}").json["included"]
    assert "hunter2" not in json.dumps(api.get(f"{base}?include=outputs").json)


def test_resource_and_run_counts(api, org):
    ws = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "counted"}}}).json["data"]["id"]
    assert api.get(f"/api/v2/workspaces/{ws}").json["data"]["attributes"]["resource-count"] == 0
    api.post(f"/api/v2/workspaces/{ws}/actions/lock", {})
    api.post(f"/api/v2/workspaces/{ws}/state-versions", _state_with(
        [{"mode": "managed", "type": "null_resource", "name": n, "instances": []} for n in "abc"]))
    attrs = api.get(f"/api/v2/workspaces/{ws}").json["data"]["attributes"]
    assert (attrs["resource-count"], attrs["workspace-kpis-runs-count"]) == (3, 0)


def test_safe_delete_of_a_workspace_stored_before_resource_counts_reads_its_state(api, org):
    from chalicelib.storage.models import WorkspaceModel
    ws = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "older"}}}).json["data"]["id"]
    api.post(f"/api/v2/workspaces/{ws}/actions/lock", {})
    api.post(f"/api/v2/workspaces/{ws}/state-versions", _state_with(
        [{"mode": "managed", "type": "null_resource", "name": "a", "instances": []}]))
    api.post(f"/api/v2/workspaces/{ws}/actions/unlock", {})
    WorkspaceModel(id=ws).update(actions=[WorkspaceModel.current_sv_resources.remove()])   # as stored before
    assert api.post(f"/api/v2/workspaces/{ws}/actions/safe-delete").status_code == 409
    assert api.get(f"/api/v2/workspaces/{ws}").status_code == 200
