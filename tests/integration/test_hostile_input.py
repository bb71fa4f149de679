"""Hostile requests to every route family: each is answered with a 4xx in the API's own shape
and a reason, within the DoS bound the hardening issue sets (2 s; normal requests take tens of
milliseconds here), nothing of it is stored, and the service still answers ping afterwards."""
from __future__ import annotations

import base64
import json
import time

import pytest

DEEP = b"[" * 100_000
BIG = "x" * 500_000
ALIAS_BOMB = base64.b64encode(
    b'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
    b'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\nflow: [*d]\n').decode()


def _tcl(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _corpus(org: str, ws: str) -> list[tuple[str, str, object]]:
    """(method, path, body): a body of bytes is sent raw, anything else as JSON."""
    json_api = [("POST", "/api/v2/organizations"), ("POST", f"/api/v2/organizations/{org}/workspaces"),
                ("PATCH", f"/api/v2/workspaces/{ws}"), ("POST", "/api/v2/runs"),
                ("POST", f"/api/v2/workspaces/{ws}/configuration-versions"),
                ("POST", f"/api/v2/workspaces/{ws}/state-versions"),
                ("POST", f"/api/v2/organizations/{org}/organization-memberships"),
                ("POST", f"/api/v1/workspace/{ws}/job"), ("POST", "/v1/tasks"),
                ("POST", "/v1/watch/service/web"), ("POST", "/v1/watch/kv"),
                ("POST", f"/api/v2/workspaces/{ws}/vars"), ("POST", f"/api/v2/organizations/{org}/varsets"),
                ("POST", f"/api/v1/organization/{org}/workspace/{ws}/variable")]
    cases: list[tuple[str, str, object]] = []
    for method, path in json_api:
        cases.append((method, path, DEEP))                                     # RecursionError before
        cases.append((method, path, json.dumps({"data": {"attributes": {"x": "y" * 2_000_000}}}).encode()))
    job = lambda attrs: {"data": {"type": "job", "attributes": attrs}}  # noqa: E731
    var = lambda attrs: {"data": {"type": "vars", "attributes": {"category": "terraform", **attrs}}}  # noqa: E731
    task = {"name": "web", "module": "/m", "condition": {"services": {"names": ["web"]}}}
    cases += [
        ("POST", f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "w", "description": BIG}}}),
        ("PATCH", f"/api/v2/workspaces/{ws}", {"data": {"attributes": {"description": BIG}}}),
        ("POST", f"/api/v2/organizations/{org}/organization-memberships",
         {"data": {"attributes": {"email": "a" * 5000 + "@example.test"}}}),
        ("POST", "/api/v2/runs", {"data": {"attributes": {"message": BIG}, "relationships": {
            "workspace": {"data": {"type": "workspaces", "id": ws}}}}}),
        ("POST", "/api/v2/organizations", {"data": {"attributes": {"name": "evil\n", "email": "e@e.e"}}}),
        ("POST", f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {"name": "prod2\n"}}}),
        ("PATCH", f"/api/v2/workspaces/{ws}", {"data": {"attributes": {"working-directory": "../../etc"}}}),
        ("PATCH", f"/api/v2/workspaces/{ws}", {"data": {"attributes": {"working-directory": "/etc"}}}),
        ("POST", f"/api/v1/workspace/{ws}/job", job({"tcl": _tcl("flow:\n  - {type: [a], step: 1}\n")})),
        ("POST", f"/api/v1/workspace/{ws}/job", job({"tcl": _tcl("flow:\n  - {type: {a: 1}, step: 1}\n")})),
        ("POST", f"/api/v1/workspace/{ws}/job", job({"command": {"a": 1}})),
        ("POST", f"/api/v1/workspace/{ws}/job", job({"tcl": ALIAS_BOMB})),
        ("POST", "/v1/tasks", {"task": {**task, "description": BIG}}),
        ("POST", "/v1/tasks", {"task": {**task, "condition": {"schedule": {"cron": "0 0 30 2 *"}}}}),
        ("POST", "/v1/tasks", {"task": {**task, "condition": {"services": {"regexp": "("}}}}),
        ("POST", "/v1/tasks", {"task": {**task, "buffer_period": {"min": "99999999999h"}}}),
        ("POST", "/v1/tasks", {"task": {**task, "name": "web\n"}}),
        ("POST", "/v1/watch/kv", [{"Key": "app/x", "Value": "%%% not base64 %%%"}]),
        ("POST", f"/api/v2/workspaces/{ws}/vars", var({"key": "x", "value": BIG})),
        ("POST", f"/api/v2/workspaces/{ws}/vars", var({"key": "x", "value": "[" * 60_000, "hcl": True})),
        ("POST", f"/api/v2/workspaces/{ws}/vars", var({"key": "x", "value": "1)\ny = (2", "hcl": True})),
        ("POST", f"/api/v2/workspaces/{ws}/vars", var({"key": "x; rm -rf /", "category": "env"})),
        ("POST", f"/api/v2/workspaces/{ws}/vars", var({"key": "x\n", "category": "terraform"})),
        ("POST", f"/api/v2/workspaces/{ws}/vars", var({"key": ["x"], "category": "terraform"})),
        ("POST", f"/api/v2/organizations/{org}/varsets", {"data": {"attributes": {"name": BIG}}}),
        ("POST", f"/api/v2/organizations/{org}/varsets", {"data": {"attributes": {"name": "s"},
         "relationships": {"workspaces": {"data": [{"type": "workspaces", "id": "ws-nothere"}]}}}}),
        ("POST", f"/api/v1/organization/{org}/workspace/{ws}/variable",
         {"data": {"attributes": {"key": "K", "category": {"a": 1}}}}),
        ("POST", "/v1/watch/service/web", [{"Node": {"Node": f"n{i}"}, "Service": {"ID": f"s{i}", "Service": "web",
                                             "Meta": {"pad": "p" * 200}}} for i in range(3000)]),
    ]
    return cases


def _send(api, method: str, path: str, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.request(method, path, raw=raw, headers={"Content-Type": "application/vnd.api+json"})


def _stored(api, org: str, ws: str) -> dict:
    return {"orgs": sorted(o["id"] for o in api.get("/api/v2/organizations").json["data"]),
            "workspaces": sorted(w["id"] for w in api.get(f"/api/v2/organizations/{org}/workspaces").json["data"]),
            "workspace": api.get(f"/api/v2/workspaces/{ws}").json["data"]["attributes"],
            "runs": api.get(f"/api/v2/workspaces/{ws}/runs").json["data"],
            "members": len(api.get(f"/api/v2/organizations/{org}/organization-memberships").json["data"]),
            "tasks": api.get("/v1/tasks").json["tasks"],
            "jobs": api.get(f"/api/v1/workspace/{ws}/job").json["data"],
            "vars": api.get(f"/api/v2/workspaces/{ws}/vars").json["data"],
            "varsets": api.get(f"/api/v2/organizations/{org}/varsets").json["data"]}


def test_hostile_requests_get_a_4xx_with_a_reason_and_change_nothing(api, org, workspace):
    api.get("/v1/tasks")                     # the CTS organization, made on first use
    before = _stored(api, org, workspace)
    slow, answers = [], []
    for method, path, body in _corpus(org, workspace):
        started = time.monotonic()
        resp = _send(api, method, path, body)
        took = time.monotonic() - started
        answers.append((method, path, resp.status_code))
        if took > 2:
            slow.append((method, path, round(took, 2)))
        assert 400 <= resp.status_code < 500, (method, path, resp.status_code, resp.body[:300])
        document = json.loads(resp.body)
        reason = (document.get("errors") or [{}])[0].get("detail") or \
            (document.get("error") or {}).get("message")
        assert reason, (method, path, resp.body[:300])
    assert slow == []
    assert _stored(api, org, workspace) == before
    assert api.get("/api/v2/ping").status_code == 200
    # the limits answer with their own statuses: oversized bodies 413, deep nesting 400
    statuses = {s for m, p, s in answers}
    assert 413 in statuses and 400 in statuses and 422 in statuses


@pytest.mark.parametrize("depth, status", [(32, 201), (33, 400)])
def test_nesting_is_allowed_up_to_the_documented_depth(api, org, depth, status):
    nested: object = "v"
    for _ in range(depth - 4):          # the body, data, attributes and the innermost value count too
        nested = [nested]
    body = {"data": {"attributes": {"name": f"nest{depth}", "description": None, "tag-names": [],
                                    "x": nested}}}
    resp = api.post(f"/api/v2/organizations/{org}/workspaces", body)
    assert resp.status_code == status, resp.body[:300]
