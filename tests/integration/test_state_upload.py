"""State versions created without their state (HCP's two-step upload: go-tfe's
StateVersions.Upload, terraform >= 1.6): pending until the state is PUT to its upload URL, then
finalized and current; every way to abuse the URLs or the order refused, changing nothing."""
import hashlib
import json
from urllib.parse import urlparse

import pytest


def _state(serial: int, lineage: str = "l-1", **outputs) -> bytes:
    return json.dumps({"version": 4, "terraform_version": "1.6.0", "serial": serial, "lineage": lineage,
                       "outputs": {k: {"value": v, "type": "string", "sensitive": k.startswith("secret")}
                                   for k, v in outputs.items()},
                       "resources": [{"mode": "managed", "type": "null_resource", "name": "a", "instances": []}]}).encode()


def _pending(api, ws, raw: bytes, serial: int, **extra):
    return api.post(f"/api/v2/workspaces/{ws}/state-versions", {"data": {"type": "state-versions", "attributes": {
        "serial": serial, "md5": hashlib.md5(raw).hexdigest(), "lineage": "l-1", **extra}}})  # noqa: S324


def _path(url: str) -> str:
    return urlparse(url).path


@pytest.fixture
def locked(api, workspace):
    api.post(f"/api/v2/workspaces/{workspace}/actions/lock", {})
    return workspace


def test_a_pending_version_becomes_current_once_its_state_is_uploaded(api, locked):
    raw = _state(1, greeting="hi", secret_word="swordfish")
    made = _pending(api, locked, raw, 1)
    assert made.status_code == 201, made.json
    attrs = made.json["data"]["attributes"]
    assert attrs["status"] == "pending" and attrs["hosted-state-download-url"] is None
    sv = made.json["data"]["id"]
    assert api.get(f"/api/v2/workspaces/{locked}/current-state-version").status_code == 404   # not yet
    assert api.get(f"/api/v2/state-versions/{sv}/download").status_code == 404
    anonymous = api.as_token(None)           # go-tfe sends no token to the upload URLs
    assert anonymous.put(_path(attrs["hosted-state-upload-url"]), raw).status_code == 200
    assert anonymous.put(_path(attrs["hosted-json-state-upload-url"]), b'{"format_version": "1.0"}').status_code == 200
    shown = api.get(f"/api/v2/state-versions/{sv}").json["data"]["attributes"]
    assert shown["status"] == "finalized" and shown["hosted-state-upload-url"] is None
    assert shown["size"] == len(raw) and shown["terraform-version"] == "1.6.0" and shown["hosted-json-state-download-url"]
    assert api.get(f"/api/v2/workspaces/{locked}/current-state-version").json["data"]["id"] == sv
    assert api.get(f"/api/v2/state-versions/{sv}/download").body == raw
    # the version's own outputs show a sensitive value (its state, readable by the same
    # principals, holds it); the workspace's current outputs do not
    outputs = api.get(f"/api/v2/state-versions/{sv}/outputs").json["data"]
    assert [(o["attributes"]["name"], o["attributes"]["value"]) for o in outputs] == [("greeting", "hi"), ("secret_word", "swordfish")]
    current = api.get(f"/api/v2/workspaces/{locked}/current-state-version-outputs").json["data"]
    assert [(o["attributes"]["name"], o["attributes"]["value"]) for o in current] == [("greeting", "hi"), ("secret_word", None)]
    assert api.get(f"/api/v2/state-version-outputs/{current[1]['id']}").json["data"]["attributes"]["value"] is None
    # the URL is spent: a second state for the same version is refused, the first one kept
    again = anonymous.put(_path(attrs["hosted-state-upload-url"]), _state(1, greeting="other"))
    assert again.status_code == 409
    assert api.get(f"/api/v2/state-versions/{sv}/download").body == raw


def test_uploads_that_do_not_match_are_refused_and_change_nothing(api, locked):
    raw = _state(2)
    made = _pending(api, locked, raw, 2).json["data"]
    url = _path(made["attributes"]["hosted-state-upload-url"])
    anonymous = api.as_token(None)
    assert anonymous.put(url, raw + b" ").status_code == 422                       # not the md5 declared
    assert anonymous.put(url, b"not json").status_code == 422
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert anonymous.put(forged, raw).status_code == 404
    # a credential for the JSON upload does not upload the state
    json_url = _path(made["attributes"]["hosted-json-state-upload-url"])
    assert anonymous.put(json_url.replace("state-json-upload", "state-upload"), raw).status_code == 404
    assert anonymous.put(json_url, b"{not json").status_code == 422
    assert api.get(f"/api/v2/state-versions/{made['id']}").json["data"]["attributes"]["status"] == "pending"
    assert api.get(f"/api/v2/workspaces/{locked}/current-state-version").status_code == 404
    assert anonymous.put(url, raw).status_code == 200                              # the right one still works


def test_the_order_of_versions_holds_for_pending_ones(api, locked):
    first = _state(5)
    made = _pending(api, locked, first, 5).json["data"]
    api.as_token(None).put(_path(made["attributes"]["hosted-state-upload-url"]), first)
    assert _pending(api, locked, _state(5, note="else"), 5).status_code == 409     # same serial, other state
    assert _pending(api, locked, _state(4), 4).status_code == 409                  # an older serial
    # two pending versions: the older serial's upload after the newer one finalized is refused
    six, seven = _state(6), _state(7)
    p6, p7 = (_pending(api, locked, raw, n).json["data"] for raw, n in ((six, 6), (seven, 7)))
    assert api.as_token(None).put(_path(p7["attributes"]["hosted-state-upload-url"]), seven).status_code == 200
    assert api.as_token(None).put(_path(p6["attributes"]["hosted-state-upload-url"]), six).status_code == 409
    assert api.get(f"/api/v2/workspaces/{locked}/current-state-version").json["data"]["id"] == p7["id"]


@pytest.mark.parametrize("attrs, pointer", [
    ({"serial": -1, "md5": "0" * 32}, "serial"), ({"serial": "1", "md5": "0" * 32}, "serial"),
    ({"serial": 1, "md5": "xyz"}, "md5"), ({"serial": 1}, "md5"), ({"serial": 1, "md5": "A" * 32}, "md5"),
    ({"serial": 1, "md5": "0" * 32, "lineage": ["l"]}, "lineage"),
])
def test_bad_pending_versions_are_422(api, locked, attrs, pointer):
    refused = api.post(f"/api/v2/workspaces/{locked}/state-versions", {"data": {"attributes": attrs}})
    assert refused.status_code == 422 and pointer in refused.json["errors"][0]["source"]["pointer"]
    assert api.get(f"/api/v2/workspaces/{locked}/state-versions").json["data"] == []


def test_pending_versions_need_the_lock_and_the_organization(api, workspace):
    raw = _state(1)
    assert _pending(api, workspace, raw, 1).status_code == 409                     # not locked
    api.post(f"/api/v2/workspaces/{workspace}/actions/lock", {})
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival = api.as_token(api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"])
    assert _pending(rival, workspace, raw, 1).status_code == 404
    assert _pending(api.as_token(None), workspace, raw, 1).status_code == 401
    made = _pending(api, workspace, raw, 1).json["data"]
    assert rival.get(f"/api/v2/state-versions/{made['id']}").status_code == 404


def test_a_version_checked_against_a_current_that_moved_meanwhile_is_not_made_current(api, locked):
    """Two writers check against the same current version; the second to write finds it
    replaced and gets 409, even with the same serial (the condition is the version itself)."""
    from chalicelib.domain.errors import Conflict
    from chalicelib.domain.state_versions import StateVersion
    from chalicelib.storage import state_versions as store
    raw = _state(1)
    made = _pending(api, locked, raw, 1).json["data"]
    api.as_token(None).put(_path(made["attributes"]["hosted-state-upload-url"]), raw)
    late = StateVersion(id="sv-latewriter00000", workspace_id=locked, org="x", serial=2, md5="0" * 32,
                        size=1, created_at="2026-01-01T00:00:00.000Z")
    with pytest.raises(Conflict):
        store.insert_current(late, None)          # it had seen no current version
    assert store.find("sv-latewriter00000") is None
    assert api.get(f"/api/v2/workspaces/{locked}/current-state-version").json["data"]["id"] == made["id"]
