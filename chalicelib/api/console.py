"""The web console (chalicelib/console/): three static files served at /app/, with a strict
Content-Security-Policy — the page loads nothing from elsewhere and runs no inline script; it
drives the public APIs with the user's token like any client."""
from __future__ import annotations

from pathlib import Path

from chalice import Blueprint, Response

from ..domain.errors import NotFound
from .routing import route

bp = Blueprint(__name__)
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "app.css": "text/css; charset=utf-8"}
ROOT = Path(__file__).resolve().parent.parent / "console"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
}


@route(bp, "/app", public=True)
def console_entry(call):
    # relative, so the page's own relative links work behind an API Gateway stage too; /app/
    # reaches this route as well (the trailing slash is dropped when matching), and a browser
    # resolves a Location against the URL it asked for
    asked = (call.request.context or {}).get("path") or ""
    page = "index.html" if asked.endswith("/") else "app/index.html"
    return Response(body="", status_code=302, headers={"Location": page})


@route(bp, "/app/{name}", public=True)
def console_file(call, name):
    if name not in FILES:
        raise NotFound(f"no console file {name[:64]}")
    return Response(body=(ROOT / name).read_text(), status_code=200,
                    headers={"Content-Type": FILES[name], **HEADERS})
