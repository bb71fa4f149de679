"""The deployed API's front door: Lambda function URL events (payload 2.0) reach the app's
routes through api/function_url.py, at the host root."""
import base64
import json
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN, make_tgz


def url_event(method: str, path: str, *, query: str = "", headers: dict | None = None,
              body: bytes | str | None = None) -> dict:
    """What a function URL hands the function (AWS's payload format 2.0)."""
    event = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
             "headers": {"host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})},
             "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.9"},
                                "requestId": "r-1"},
             "isBase64Encoded": False}
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    elif body is not None:
        event["body"] = body
    return event


@pytest.fixture
def call(app_module):
    def run(*args, **kwargs):
        answer = app_module.serve_function_url(url_event(*args, **kwargs), None)
        assert set(answer) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}
        return answer
    return run


def bearer(token=ADMIN_TOKEN) -> dict:
    return {"authorization": f"Bearer {token}", "content-type": "application/vnd.api+json"}


def test_discovery_and_ping_are_served_at_the_host_root(call):
    discovery = call("GET", "/.well-known/terraform.json")
    assert discovery["statusCode"] == 200
    assert json.loads(discovery["body"])["tfe.v2"] == "/api/v2/"
    assert call("GET", "/api/v2/ping")["statusCode"] in (200, 204)


def test_routes_with_captures_queries_and_bodies_work(call):
    created = call("POST", "/api/v2/organizations", headers=bearer(), body=json.dumps(
        {"data": {"type": "organizations", "attributes": {"name": "url-org", "email": "u@u.u"}}}))
    assert created["statusCode"] == 201, created["body"]
    for i in range(3):
        made = call("POST", "/api/v2/organizations/url-org/workspaces", headers=bearer(),
                    body=json.dumps({"data": {"attributes": {"name": f"w{i}"}}}))
        assert made["statusCode"] == 201, made["body"]
    page = call("GET", "/api/v2/organizations/url-org/workspaces", query="page%5Bsize%5D=2&page%5Bnumber%5D=2",
                headers=bearer())
    assert page["statusCode"] == 200
    assert [w["attributes"]["name"] for w in json.loads(page["body"])["data"]] == ["w2"]
    # a trailing slash and a percent-encoded capture, as API Gateway treats them
    assert call("GET", "/api/v2/organizations/url-org/", headers=bearer())["statusCode"] == 200
    assert call("GET", "/api/v2/organizations/url%2Dorg", headers=bearer())["statusCode"] == 200


def test_a_binary_upload_arrives_as_the_bytes_sent(call, api, workspace, drain):
    cv = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                  {"data": {"attributes": {"auto-queue-runs": False}}}).json["data"]
    path = cv["attributes"]["upload-url"].replace("http://terraless.test", "")
    archive = make_tgz({"main.tf": "output \"x\" { value = 1 }\n"})
    put = call("PUT", path, headers={"content-type": "application/octet-stream"}, body=archive)
    assert put["statusCode"] == 200, put["body"]
    drain()     # the upload's S3 event: the archive is validated, so its bytes arrived whole
    assert api.get(f"/api/v2/configuration-versions/{cv['id']}").json["data"]["attributes"]["status"] == "uploaded"


@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("GET", "/api/v2/organizations/a/b/c/d/e"),
                                          ("GET", "/api/v2/organizations//workspaces"),
                                          ("GET", "/../etc/passwd")])
def test_unknown_paths_are_json_api_404s(call, method, path):
    answer = call(method, path, headers=bearer())
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["errors"][0]["status"] == "404"


def test_every_route_but_discovery_and_ping_needs_a_token(call):
    answer = call("GET", "/api/v2/organizations")
    assert answer["statusCode"] == 401
    assert call("GET", "/api/v2/organizations", headers=bearer("forged.atlasv1.x"))["statusCode"] == 401


def test_another_organizations_token_gets_nothing_through_the_url(call, api, org):
    """The front door adds no way around the routes' checks: an organization token of another
    organization sees none of this one, and cannot create organizations."""
    api.post("/api/v2/organizations", {"data": {"type": "organizations", "attributes": {
        "name": "other", "email": "o@o.o"}}})
    other = api.post("/api/v2/organizations/other/authentication-token").json["data"]["attributes"]["token"]
    assert call("GET", f"/api/v2/organizations/{org}/workspaces", headers=bearer(other))["statusCode"] == 404
    made = call("POST", "/api/v2/organizations", headers=bearer(other), body=json.dumps(
        {"data": {"type": "organizations", "attributes": {"name": "planted", "email": "p@p.p"}}}))
    assert made["statusCode"] in (401, 403)
    assert api.get("/api/v2/organizations/planted").status_code == 404


@pytest.mark.parametrize("entry", ["/app", "/app/"])
def test_the_console_is_served_through_the_url_with_its_policy(call, entry):
    """The deployed console: /app and /app/ both lead the browser to the page (a Location is
    resolved against the URL asked for), whose files come with their types and the CSP."""
    moved = call("GET", entry)
    assert moved["statusCode"] == 302
    page = urljoin(f"https://abc.lambda-url.us-east-1.on.aws{entry}", moved["headers"]["Location"])
    assert urlsplit(page).path == "/app/index.html"
    for name, kind, marker in (("index.html", "text/html", "<html"), ("app.js", "text/javascript", "fetch("),
                               ("app.css", "text/css", "{")):
        answer = call("GET", f"/app/{name}")
        assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"].startswith(kind)
        assert "script-src 'self'" in answer["headers"]["Content-Security-Policy"]
        assert marker in answer["body"]


@pytest.mark.parametrize("path", ["/app/..%2Fapi.py", "/app/app.py", "/app/index.html/x", "/app/%2e%2e"])
def test_the_console_serves_nothing_else_through_the_url(call, path):
    answer = call("GET", path)
    assert answer["statusCode"] == 404 and "Content-Security-Policy" not in answer["headers"]
