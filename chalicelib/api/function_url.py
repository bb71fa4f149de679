"""The deployed API's front door: a Lambda function URL, translated for Chalice's routes.

Why a function URL rather than API Gateway's REST API (what Chalice deploys by itself): a REST
API serves under its stage path (`/api/.well-known/terraform.json`), where terraform never looks
for discovery, unless a custom domain is mapped; it cuts every request at 29 s and costs per
request. A function URL serves the host root, waits up to the function's timeout and costs
nothing idle. It delivers payload format 2.0 (`rawPath`, no matched route), while Chalice
dispatches on the REST shape (`requestContext.resourcePath` and `pathParameters`): this module
matches the path against the app's routes — concrete segments before `{captures}`, as API
Gateway does — and builds that shape, then turns Chalice's answer into a function URL response.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, unquote

from .errors import JSONAPI, error_document


class RouteTable:
    """The app's routes as segment lists; a concrete segment wins over a capture."""

    def __init__(self, routes) -> None:
        def order(route: str):
            return [(part.startswith("{"), part) for part in route.split("/")]
        self._routes = [(route, route.split("/")) for route in sorted(routes, key=order)]

    def match(self, path: str) -> tuple[str, dict] | None:
        if path != "/" and path.endswith("/"):
            path = path[:-1]      # API Gateway drops a trailing slash, except the root's
        parts = path.split("/")
        for route, pattern in self._routes:
            if len(pattern) != len(parts):
                continue
            captured = {}
            for given, expected in zip(parts, pattern):
                if expected.startswith("{") and expected.endswith("}"):
                    if not given:
                        break
                    captured[expected[1:-1]] = unquote(given)
                elif unquote(given) != expected:
                    break
            else:
                return route, captured
        return None


_tables: dict[int, RouteTable] = {}


def _table(app) -> RouteTable:
    key = id(app)
    if key not in _tables:
        _tables[key] = RouteTable(app.routes)
    return _tables[key]


def rest_event(app, event: dict) -> dict | None:
    """The REST API (payload 1.0) event Chalice routes on, or None when no route matches."""
    http = event.get("requestContext", {}).get("http", {})
    path = event.get("rawPath") or "/"
    matched = _table(app).match(path)
    if matched is None:
        return None
    route, captured = matched
    query = parse_qs(event.get("rawQueryString") or "", keep_blank_values=True)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if event.get("cookies"):      # payload 2.0 moves Cookie headers into a list
        headers["cookie"] = "; ".join(event["cookies"])
    return {
        "resource": route,
        "path": path,
        "httpMethod": http.get("method", "GET"),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "multiValueQueryStringParameters": query or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "pathParameters": captured or None,
        "stageVariables": None,
        "requestContext": {"httpMethod": http.get("method", "GET"), "resourcePath": route,
                           "path": path, "stage": "$default",
                           "requestId": event.get("requestContext", {}).get("requestId", ""),
                           "identity": {"sourceIp": http.get("sourceIp", "")}},
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
    }


def url_response(answer: dict) -> dict:
    """Chalice's REST answer as a function URL response (single-valued headers, cookies apart)."""
    headers = dict(answer.get("headers") or {})
    cookies: list[str] = []
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if name.lower() == "set-cookie":
            cookies.extend(values)
        else:
            headers[name] = ",".join(str(v) for v in values)
    out = {"statusCode": answer.get("statusCode", 200), "headers": headers,
           "body": answer.get("body") or "", "isBase64Encoded": bool(answer.get("isBase64Encoded"))}
    if cookies:
        out["cookies"] = cookies
    return out


def handle(app, event: dict, context) -> dict:
    rest = rest_event(app, event)
    if rest is None:
        method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
        body = json.dumps(error_document(404, "not found", f"no route for {method} {event.get('rawPath', '/')}"))
        return {"statusCode": 404, "headers": {"Content-Type": JSONAPI}, "body": body,
                "isBase64Encoded": False}
    return url_response(app(rest, context))


def encode_body(raw: bytes) -> tuple[str, bool]:
    """How a function URL hands a request body over: text as is, anything else in base64."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True
