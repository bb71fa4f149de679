"""Service discovery and ping: the only routes without a token."""
from __future__ import annotations

import json

from chalice import Blueprint, Response

from .routing import route

bp = Blueprint(__name__)

# terraform 1.0's remote backend refuses some flags below API version 2.4.
API_VERSION = "2.5"


@route(bp, "/.well-known/terraform.json", public=True)
def discovery(call):
    # Relative URLs resolve against the discovery host; the CLI accepts them, and terrasnek
    # needs the modules.v1 key to exist.
    services = {"tfe.v2": "/api/v2/", "tfe.v2.1": "/api/v2/", "tfe.v2.2": "/api/v2/",
                "state.v2": "/api/v2/", "modules.v1": "/api/registry/v1/modules/",
                "motd.v1": "/api/terraform/motd"}
    return Response(body=json.dumps(services), status_code=200,
                    headers={"Content-Type": "application/json"})


@route(bp, "/api/v2/ping", public=True)
def ping(call):
    return Response(body="{}", status_code=200,
                    headers={"Content-Type": "application/json", "TFP-API-Version": API_VERSION,
                             "X-TFE-Version": "terraless"})
