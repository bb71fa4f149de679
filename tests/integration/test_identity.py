"""Tokens, organizations, memberships and cross-organization isolation (app under moto)."""
from datetime import datetime, timedelta, timezone

import pytest

from conftest import poll


def attrs(resp):
    return resp.json["data"]["attributes"]


def test_discovery_and_ping_need_no_token(api):
    anon = api.as_token(None)
    disc = anon.get("/.well-known/terraform.json")
    assert disc.status_code == 200
    assert {"tfe.v2", "tfe.v2.1", "tfe.v2.2", "state.v2", "modules.v1"} <= set(disc.json)
    ping = anon.get("/api/v2/ping")
    assert ping.status_code == 200 and ping.headers["TFP-API-Version"] == "2.5"


def test_every_other_route_needs_a_valid_token(api, workspace):
    for token in (None, "not-a-token"):
        for path in ("/api/v2/organizations", f"/api/v2/workspaces/{workspace}",
                     "/api/v2/account/details", f"/api/v2/workspaces/{workspace}/configuration-versions"):
            resp = api.as_token(token).get(path)
            assert resp.status_code == 401, (token, path)
            assert resp.json["errors"][0]["status"] == "401"


def test_organization_crud_and_entitlements(api, org):
    shown = api.get(f"/api/v2/organizations/{org}")
    assert shown.status_code == 200 and shown.json["data"]["id"] == org
    assert shown.json["data"]["links"]["self"] == f"/api/v2/organizations/{org}"
    assert attrs(shown)["created-at"].endswith("Z")
    ent = api.get(f"/api/v2/organizations/{org}/entitlement-set")
    assert attrs(ent)["operations"] is True and ent.json["data"]["type"] == "entitlement-sets"
    upd = api.patch(f"/api/v2/organizations/{org}", {"data": {"attributes": {"email": "new@acme.test"}}})
    assert upd.status_code == 200 and attrs(upd)["email"] == "new@acme.test"
    listed = api.get("/api/v2/organizations")
    assert [o["id"] for o in listed.json["data"]] == [org]
    assert listed.json["meta"]["pagination"]["total-count"] == 1
    dup = api.post("/api/v2/organizations", {"data": {"attributes": {"name": org, "email": "x@y.z"}}})
    assert dup.status_code == 409
    bad = api.post("/api/v2/organizations", {"data": {"attributes": {"name": "bad name!", "email": "x@y.z"}}})
    assert bad.status_code == 422 and bad.json["errors"][0]["source"]["pointer"] == "/data/attributes/name"
    assert api.delete(f"/api/v2/organizations/{org}").status_code == 204
    assert api.get(f"/api/v2/organizations/{org}").status_code == 404


def test_organization_token_scope(api, org, workspace):
    created = api.post(f"/api/v2/organizations/{org}/authentication-token")
    assert created.status_code == 201
    org_token = attrs(created)["token"]
    as_org = api.as_token(org_token)
    assert as_org.get(f"/api/v2/workspaces/{workspace}").status_code == 200
    # The reference: creating configuration versions is refused to organization tokens.
    refused = as_org.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                          {"data": {"attributes": {}}})
    assert refused.status_code == 403 and refused.json["errors"][0]["status"] == "403"
    # A second organization is invisible to it.
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "other", "email": "o@o.o"}}})
    other_ws = api.post("/api/v2/organizations/other/workspaces",
                        {"data": {"attributes": {"name": "secret"}}}).json["data"]["id"]
    assert as_org.get("/api/v2/organizations/other").status_code == 404
    assert as_org.get(f"/api/v2/workspaces/{other_ws}").status_code == 404
    assert as_org.get("/api/v2/organizations/other/workspaces/secret").status_code == 404
    # Regenerating revokes the previous token; deleting revokes the new one.
    regenerated = attrs(api.post(f"/api/v2/organizations/{org}/authentication-token"))["token"]
    assert as_org.get(f"/api/v2/workspaces/{workspace}").status_code == 401
    assert api.as_token(regenerated).get(f"/api/v2/workspaces/{workspace}").status_code == 200
    assert api.delete(f"/api/v2/organizations/{org}/authentication-token").status_code == 204
    assert api.as_token(regenerated).get(f"/api/v2/workspaces/{workspace}").status_code == 401


def test_user_tokens_follow_memberships(api, org, workspace):
    invited = api.post(f"/api/v2/organizations/{org}/organization-memberships",
                       {"data": {"attributes": {"email": "dev@acme.test"}}})
    assert invited.status_code == 201
    user_id = invited.json["data"]["relationships"]["user"]["data"]["id"]
    assert user_id.startswith("user-")
    token = api.post(f"/api/v2/users/{user_id}/authentication-tokens",
                     {"data": {"attributes": {"description": "ci"}}})
    assert token.status_code == 201 and token.json["data"]["id"].startswith("at-")
    secret = attrs(token)["token"]
    dev = api.as_token(secret)
    me = dev.get("/api/v2/account/details")
    assert me.status_code == 200 and me.json["data"]["id"] == user_id
    assert attrs(me)["is-site-admin"] is False
    assert dev.get(f"/api/v2/workspaces/{workspace}").status_code == 200
    # A user may create configuration versions (not refused like organization tokens).
    assert dev.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                    {"data": {"attributes": {}}}).status_code == 201
    # Organizations the user does not belong to are invisible.
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "other", "email": "o@o.o"}}})
    assert dev.get("/api/v2/organizations/other").status_code == 404
    assert [o["id"] for o in dev.get("/api/v2/organizations").json["data"]] == [org]
    # Listing shows hashes only: no token secret is ever returned again.
    listed = dev.get(f"/api/v2/users/{user_id}/authentication-tokens")
    assert listed.status_code == 200 and all(t["attributes"]["token"] is None for t in listed.json["data"])
    # Removing the membership removes access; deleting the token makes it invalid.
    assert api.delete(f"/api/v2/organization-memberships/{invited.json['data']['id']}").status_code == 204
    assert dev.get(f"/api/v2/workspaces/{workspace}").status_code == 404
    assert dev.delete(f"/api/v2/authentication-tokens/{token.json['data']['id']}").status_code == 204
    assert dev.get("/api/v2/account/details").status_code == 401


def test_tokens_are_stored_as_hashes_only(api, org):
    from chalicelib.storage.models import TokenModel

    secret = attrs(api.post(f"/api/v2/organizations/{org}/authentication-token"))["token"]
    stored = [t.attribute_values for t in TokenModel.scan()]  # test-only inspection
    assert stored and not any(secret in str(values) for values in stored)


def test_organization_tokens_cannot_create_organizations_or_tokens(api, org):
    org_token = attrs(api.post(f"/api/v2/organizations/{org}/authentication-token"))["token"]
    as_org = api.as_token(org_token)
    assert as_org.post("/api/v2/organizations", {"data": {"attributes": {
        "name": "x", "email": "x@y.z"}}}).status_code == 403
    assert as_org.post(f"/api/v2/organizations/{org}/authentication-token").status_code == 403


def _in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_token_stops_working_when_it_expires(api, org, workspace):
    user_id = api.post(f"/api/v2/organizations/{org}/organization-memberships",
                       {"data": {"attributes": {"email": "dev@acme.test"}}}).json["data"]["relationships"]["user"]["data"]["id"]
    made = api.post(f"/api/v2/users/{user_id}/authentication-tokens",
                    {"data": {"attributes": {"expired-at": _in(3)}}})
    assert made.status_code == 201
    expiring = api.as_token(attrs(made)["token"])
    assert expiring.get(f"/api/v2/workspaces/{workspace}").status_code == 200
    shown = api.get(f"/api/v2/authentication-tokens/{made.json['data']['id']}")
    assert shown.json["data"]["attributes"]["expired-at"] == attrs(made)["expired-at"]
    refused = poll(lambda: expiring.get(f"/api/v2/workspaces/{workspace}"), lambda r: r.status_code != 200)
    assert refused.status_code == 401 and "expired" in refused.json["errors"][0]["detail"]
    # an organization token with an expiry, too; without one it never expires
    org_token = api.post(f"/api/v2/organizations/{org}/authentication-token",
                         {"data": {"type": "authentication-token", "attributes": {"expired-at": _in(3)}}})
    assert org_token.status_code == 201
    assert org_token.json["data"]["relationships"]["created-by"]["data"] == {"type": "organizations", "id": org}
    as_org = api.as_token(attrs(org_token)["token"])
    assert as_org.get(f"/api/v2/workspaces/{workspace}").status_code == 200
    assert poll(lambda: as_org.get(f"/api/v2/workspaces/{workspace}"), lambda r: r.status_code != 200).status_code == 401
    forever = api.post(f"/api/v2/organizations/{org}/authentication-token")
    assert attrs(forever)["expired-at"] is None


def test_a_user_token_expires_in_two_years_unless_told(api, org):
    made = attrs(api.post("/api/v2/users/user-siteadmin0000001/authentication-tokens"))
    created = datetime.fromisoformat(made["created-at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(made["expired-at"].replace("Z", "+00:00"))
    assert expires.year == created.year + 2 and abs((expires.replace(year=created.year) - created).total_seconds()) < 60


@pytest.mark.parametrize("expired_at", ["2001-01-01T00:00:00Z", "tomorrow", 17, "9" * 50, ["2030-01-01T00:00:00Z"]])
def test_a_bad_or_past_expiry_is_422_and_creates_no_token(api, org, expired_at):
    before = api.get("/api/v2/users/user-siteadmin0000001/authentication-tokens").json["data"]
    refused = api.post("/api/v2/users/user-siteadmin0000001/authentication-tokens",
                       {"data": {"attributes": {"expired-at": expired_at}}})
    assert refused.status_code == 422 and refused.json["errors"][0]["source"]["pointer"] == "/data/attributes/expired-at"
    assert api.get("/api/v2/users/user-siteadmin0000001/authentication-tokens").json["data"] == before
    old = attrs(api.post(f"/api/v2/organizations/{org}/authentication-token"))["token"]
    assert api.post(f"/api/v2/organizations/{org}/authentication-token",
                    {"data": {"attributes": {"expired-at": expired_at}}}).status_code == 422
    # the organization's token is still the one it had
    assert api.as_token(old).get(f"/api/v2/organizations/{org}/workspaces").status_code == 200
