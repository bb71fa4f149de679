"""Agents: the routes `terraless agent` calls with its pool's agent token (/api/agent/v1), and
HCP Terraform's agent routes for users and organization tokens (/api/v2)."""
from __future__ import annotations

import time

from chalice import Blueprint, Response

from ..domain.errors import Unprocessable
from ..services import agents
from . import jsonapi, render
from .routing import bearer, route

bp = Blueprint(__name__)
V2 = "/api/v2"
AGENT = "/api/agent/v1"


def _ip(call) -> str | None:
    return ((call.request.context or {}).get("identity") or {}).get("sourceIp") or None


def _json(body: dict | None, status: int = 200) -> Response:
    if body is None:
        return Response(body="", status_code=204)
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def _body(call) -> dict:
    body = jsonapi.body_json(call.request, max_body=4096)
    if not isinstance(body, dict):
        raise Unprocessable("expected a JSON object")
    return body


# -- what an agent calls (its agent token; public: agents.py authenticates it) -----------------

@route(bp, AGENT + "/agents", ("POST",), public=True)
def register_agent(call):
    agent = agents.register(bearer(call.request), _body(call).get("name"), _ip(call))
    return _json({"id": agent.id, "pool_id": agent.pool_id, "name": agent.name}, 201)


@route(bp, AGENT + "/agents/{agent_id}/status", ("POST",), public=True)
def report_status(call, agent_id):
    agent = agents.report(bearer(call.request), agent_id, _body(call).get("status"), _ip(call))
    return _json({"id": agent.id, "status": agent.status})


@route(bp, AGENT + "/agents/{agent_id}/next", public=True)
def next_phase(call, agent_id):
    """A long poll: 200 with a phase to run, or 204 after `wait` seconds (at most 20)."""
    try:
        wait = float(jsonapi.query(call.request, "wait") or 0)
    except ValueError:
        raise Unprocessable("wait is a number of seconds") from None
    return _json(agents.next_phase(bearer(call.request), agent_id, wait, _ip(call)))


@route(bp, AGENT + "/phases/{phase_id}/done", ("POST",), public=True)
def phase_done(call, phase_id):
    """With the phase's runner credential: its runner has exited."""
    agents.phase_done(bearer(call.request), phase_id)
    return _json(None)


# -- HCP Terraform's agents (users, organization tokens) -----------------------------------------

@route(bp, V2 + "/agent-pools/{pool_id}/agents")
def list_agents(call, pool_id):
    found = agents.of_pool(call.principal, pool_id)
    page, size = jsonapi.page_params(call.request)
    now = time.time()
    return jsonapi.document([render.agent(a, now) for a in found[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(found)))


@route(bp, V2 + "/agents/{agent_id}")
def show_agent(call, agent_id):
    return jsonapi.document(render.agent(agents.get(call.principal, agent_id), time.time()))
