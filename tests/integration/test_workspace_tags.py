"""Workspace tags as HCP has them (and OpenTofu's and terraform's `cloud` block use them): tags on
create (attribute or go-tfe's relationship), the tags relationship (list, add, remove),
search[tags] (every tag) and search[exclude-tags]; hostile input changes nothing."""
import pytest


def _create(api, org, name, **body):
    made = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"type": "workspaces", **body,
                    "attributes": {"name": name, **body.pop("attributes", {})}}})
    assert made.status_code == 201, made.json
    return made.json["data"]


def _names(api, org, query):
    listed = api.get(f"/api/v2/organizations/{org}/workspaces?{query}")
    assert listed.status_code == 200, listed.json
    return [w["attributes"]["name"] for w in listed.json["data"]]


def test_tags_on_create_add_remove_and_search(api, org):
    web = _create(api, org, "web", relationships={"tags": {"data": [
        {"type": "tags", "attributes": {"name": "App"}}, {"type": "tags", "attributes": {"name": "prod"}}]}})
    assert web["attributes"]["tag-names"] == ["app", "prod"]          # stored lowercase
    assert [t["type"] for t in web["relationships"]["tags"]["data"]] == ["tags", "tags"]
    db = _create(api, org, "db", attributes={"tag-names": ["app", "staging"]})
    _create(api, org, "other")
    tags = f"/api/v2/workspaces/{db['id']}/relationships/tags"
    listed = api.get(tags).json["data"]
    assert [t["attributes"]["name"] for t in listed] == ["app", "staging"]
    same_tag = api.get(f"/api/v2/workspaces/{web['id']}/relationships/tags").json["data"][0]
    assert same_tag["id"] == listed[0]["id"] and same_tag["id"].startswith("tag-")
    assert api.post(tags, {"data": [{"type": "tags", "attributes": {"name": "db:primary"}},
                                    {"type": "tags", "attributes": {"name": "app"}}]}).status_code == 204
    assert api.get(f"/api/v2/workspaces/{db['id']}").json["data"]["attributes"]["tag-names"] == \
        ["app", "staging", "db:primary"]
    assert api.request("DELETE", tags, {"data": [{"type": "tags", "attributes": {"name": "staging"}}]}).status_code == 204
    assert _names(api, org, "search%5Btags%5D=app") == ["db", "web"]
    assert _names(api, org, "search%5Btags%5D=app,prod") == ["web"]
    assert _names(api, org, "search%5Btags%5D=APP,%20db:primary") == ["db"]
    assert _names(api, org, "search%5Btags%5D=staging") == []
    assert _names(api, org, "search%5Btags%5D=app&search%5Bexclude-tags%5D=prod") == ["db"]
    assert _names(api, org, "search%5Btags%5D=app&search%5Bname%5D=w") == ["web"]


@pytest.mark.parametrize("body", [
    {"data": [{"type": "tags", "attributes": {"name": "has space"}}]},
    {"data": [{"type": "tags", "attributes": {"name": "-lead"}}]},
    {"data": [{"type": "tags", "attributes": {"name": "x" * 256}}]},
    {"data": [{"type": "tags", "attributes": {"name": 7}}]},
    {"data": [{"type": "tags", "id": "tag-abc"}]},
    {"data": {"type": "tags"}}, {"data": None},
    {"data": [{"type": "tags", "attributes": {"name": f"t{i}"}} for i in range(101)]},
])
def test_bad_tags_are_422_and_change_nothing(api, org, body):
    ws = _create(api, org, "tagged", attributes={"tag-names": ["keep"]})
    refused = api.post(f"/api/v2/workspaces/{ws['id']}/relationships/tags", body)
    assert refused.status_code == 422, refused.json
    assert refused.json["errors"][0]["status"] == "422"
    assert api.get(f"/api/v2/workspaces/{ws['id']}").json["data"]["attributes"]["tag-names"] == ["keep"]


def test_bad_tags_on_create_and_search_are_422(api, org):
    base = f"/api/v2/organizations/{org}/workspaces"
    assert api.post(base, {"data": {"attributes": {"name": "a", "tag-names": ["ok", "not ok"]}}}).status_code == 422
    assert api.post(base, {"data": {"attributes": {"name": "a"}, "relationships": {"tags": {"data": [
        {"type": "tags"}]}}}}).status_code == 422
    assert api.get(f"{base}?search%5Btags%5D=bad%20tag").status_code == 422
    assert api.get(base).json["data"] == []                     # nothing was created


def test_another_organization_cannot_see_or_change_tags(api, org, workspace):
    tags = f"/api/v2/workspaces/{workspace}/relationships/tags"
    assert api.post(tags, {"data": [{"type": "tags", "attributes": {"name": "mine"}}]}).status_code == 204
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival_token = api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"]
    rival = api.as_token(rival_token)
    assert rival.get(tags).status_code == 404
    assert rival.post(tags, {"data": [{"type": "tags", "attributes": {"name": "theirs"}}]}).status_code == 404
    assert rival.request("DELETE", tags, {"data": [{"type": "tags", "attributes": {"name": "mine"}}]}).status_code == 404
    assert rival.get(f"/api/v2/organizations/{org}/workspaces?search%5Btags%5D=mine").status_code == 404
    assert api.as_token(None).get(tags).status_code == 401
    assert api.get(f"/api/v2/workspaces/{workspace}").json["data"]["attributes"]["tag-names"] == ["mine"]


def test_a_tag_is_added_and_removed_by_its_id(api, org):
    web = _create(api, org, "web", attributes={"tag-names": ["frontend"]})
    db = _create(api, org, "db")
    tag = api.get(f"/api/v2/workspaces/{web['id']}/relationships/tags").json["data"][0]["id"]
    tags = f"/api/v2/workspaces/{db['id']}/relationships/tags"
    assert api.post(tags, {"data": [{"type": "tags", "id": tag}, {"type": "tags", "attributes": {"name": "x"}}]}).status_code == 204
    assert sorted(api.get(f"/api/v2/workspaces/{db['id']}").json["data"]["attributes"]["tag-names"]) == ["frontend", "x"]
    assert api.request("DELETE", tags, {"data": [{"type": "tags", "id": tag}]}).status_code == 204
    assert api.get(f"/api/v2/workspaces/{db['id']}").json["data"]["attributes"]["tag-names"] == ["x"]
    # a tag of another organization has another id: not found here, nothing changes
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival_ws = api.post("/api/v2/organizations/rival/workspaces", {"data": {"attributes": {
        "name": "r", "tag-names": ["frontend"]}}}).json["data"]["id"]
    rival_tag = api.get(f"/api/v2/workspaces/{rival_ws}/relationships/tags").json["data"][0]["id"]
    assert rival_tag != tag
    assert api.post(tags, {"data": [{"type": "tags", "id": rival_tag}]}).status_code == 422
    assert api.get(f"/api/v2/workspaces/{db['id']}").json["data"]["attributes"]["tag-names"] == ["x"]
