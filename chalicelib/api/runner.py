"""The runner API: everything a phase's runner may do, with its phase's credential only
(services/phase_leases.py). No API token is accepted here and no runner credential anywhere
else; a credential for another phase finds nothing (404), one whose phase has ended is refused
(401)."""
from __future__ import annotations

from chalice import Blueprint, Response

from ..domain.errors import PayloadTooLarge, Unprocessable
from ..services import logs, runner_api
from . import jsonapi
from .routing import bearer, route

bp = Blueprint(__name__)
BASE = "/api/runner/v1/phases/{phase_id}"
MAX_STATE_BYTES = 64 * 1024 * 1024


def _open(call, phase_id: str) -> runner_api.OpenPhase:
    return runner_api.open_phase(bearer(call.request), phase_id)


def _bytes(data: bytes | None) -> Response:
    if data is None:
        return Response(body="", status_code=204)
    return Response(body=data, status_code=200, headers={"Content-Type": "application/octet-stream"})


def _raw(call, limit: int) -> bytes:
    body = call.request.raw_body or b""
    if len(body) > limit:
        raise PayloadTooLarge(f"at most {limit} bytes")
    return body


def _json(body: dict) -> Response:
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})


@route(bp, BASE + "/configuration", public=True)
def configuration(call, phase_id):
    return _bytes(_open(call, phase_id).configuration())


@route(bp, BASE + "/state", public=True)
def current_state(call, phase_id):
    return _bytes(_open(call, phase_id).state())


@route(bp, BASE + "/variables", public=True)
def phase_variables(call, phase_id):
    """The phase's variables in clear: the only answer that carries sensitive values, to the
    runner of that phase only (its credential)."""
    return _json(_open(call, phase_id).variables())


@route(bp, BASE + "/plan", public=True)
def saved_plan(call, phase_id):
    return _bytes(_open(call, phase_id).saved_plan())


@route(bp, BASE + "/plan", ("PUT",), public=True)
def store_plan(call, phase_id):
    phase = _open(call, phase_id)
    phase.store_plan(_raw(call, MAX_STATE_BYTES))
    return _json({"stored": True})


@route(bp, BASE + "/plan-json", ("PUT",), public=True)
def store_plan_json(call, phase_id):
    phase = _open(call, phase_id)
    phase.store_plan_json(_raw(call, MAX_STATE_BYTES))
    return _json({"stored": True})


@route(bp, BASE + "/state", ("PUT",), public=True)
def store_state(call, phase_id):
    phase = _open(call, phase_id)
    return _json({"id": phase.store_state(_raw(call, MAX_STATE_BYTES))})


@route(bp, BASE + "/logs", ("POST",), public=True)
def append_log(call, phase_id):
    phase = _open(call, phase_id)
    # a chunk's text may be up to logs.MAX_CHUNK characters (413 there): its own limits
    body = jsonapi.body_json(call.request, max_body=4 * logs.MAX_CHUNK, max_string=None)
    if not isinstance(body, dict) or not isinstance(body.get("seq"), int) \
            or isinstance(body.get("seq"), bool) or not isinstance(body.get("text"), str):
        raise Unprocessable("a log chunk is {\"seq\": <int>, \"text\": <string>}")
    logs.append(phase.phase.id, body["seq"], body["text"])
    return _json({"stored": True})


@route(bp, BASE + "/heartbeat", ("POST",), public=True)
def heartbeat(call, phase_id):
    return _json({"accepted": _open(call, phase_id).heartbeat()})


@route(bp, BASE + "/signal", public=True)
def signal(call, phase_id):
    return _json({"signal": _open(call, phase_id).signal()})


@route(bp, BASE + "/outcome", ("POST",), public=True)
def outcome(call, phase_id):
    phase = _open(call, phase_id)
    body = jsonapi.body_json(call.request)
    if not isinstance(body, dict):
        raise Unprocessable("an outcome is a JSON object")
    facts = {"ok": body.get("ok") is True,
             "exit_code": body.get("exit_code") if isinstance(body.get("exit_code"), int) else None,
             "interrupted": body.get("interrupted") if body.get("interrupted") in (
                 "canceled", "force_canceled", "lost", "out_of_time") else None,
             "error": str(body.get("error"))[:2000] if body.get("error") else None}
    return _json(phase.report(facts))


@route(bp, BASE + "/close", ("POST",), public=True)
def close(call, phase_id):
    _open(call, phase_id).close()
    return _json({"closed": True})


