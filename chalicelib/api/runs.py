"""Runs, their plans and applies, logs, and the organization-level run queue."""
from __future__ import annotations

from chalice import Blueprint, Response

from ..domain.clock import now
from ..domain.errors import NotFound
from ..domain.runs import PHASE_FINAL
from ..services import configuration_versions as cvs
from ..services import comments, identity, logs, organization_names, runs, signing, workspaces
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)
INCLUDES = {"plan", "apply", "created_by", "configuration_version",
            "configuration_version.ingress_attributes", "workspace"}


def _run_doc(run) -> dict:
    return render.run(run, now())


def _included(call, run) -> list:
    wanted = jsonapi.includes(call.request) & INCLUDES
    out = []
    if "plan" in wanted:
        out.append(render.plan(run, logs.read_url(run.org, run.plan.id)))
    if "apply" in wanted:
        out.append(render.apply(run, logs.read_url(run.org, run.apply.id)))
    if "created_by" in wanted and run.created_by:
        user = identity.find_user(run.created_by)
        if user is not None:
            out.append(render.user(user))
    if wanted & {"configuration_version", "configuration_version.ingress_attributes"}:
        cv = cvs.get(call.principal, run.cv_id)
        out.append(render.configuration_version(cv))
        if "configuration_version.ingress_attributes" in wanted and cv.ingress:
            out.append(render.ingress_attributes(cv))
    if "workspace" in wanted:
        out.append(render.workspace(workspaces.get(call.principal, run.workspace_id)))
    return out


@route(bp, "/api/v2/runs", ("POST",))
def create_run(call):
    attrs = jsonapi.data_attributes(call.request)
    run = runs.create_idempotent(call.principal, attrs,
                                 jsonapi.relationship_id(call.request, "workspace"),
                                 jsonapi.relationship_id(call.request, "configuration-version"))
    return jsonapi.document(_run_doc(run), status=201)


@route(bp, "/api/v2/runs/{run_id}")
def show_run(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.document(_run_doc(run), included=_included(call, run))


@route(bp, "/api/v2/workspaces/{workspace_id}/runs")
def list_runs(call, workspace_id):
    page, size = jsonapi.page_params(call.request)
    filters = {}
    for name in ("status", "operation", "source"):
        raw = jsonapi.query(call.request, f"filter[{name}]")
        if raw:
            filters[name] = {v.strip() for v in raw.replace("%2C", ",").split(",") if v.strip()}
    searches = {name: value for name in ("user", "commit", "basic")
                if (value := jsonapi.query(call.request, f"search[{name}]"))}
    items, total = runs.list_page(call.principal, workspace_id, page, size, filters, searches)
    included = [i for r in items for i in _included(call, r)]
    return jsonapi.document([_run_doc(r) for r in items], included=included,
                            meta=jsonapi.pagination(page, size, total))


@route(bp, "/api/v2/runs/{run_id}/actions/apply", ("POST",))
def apply_run(call, run_id):
    runs.apply(call.principal, run_id, jsonapi.comment(call.request))
    return jsonapi.accepted()


@route(bp, "/api/v2/runs/{run_id}/actions/discard", ("POST",))
def discard_run(call, run_id):
    runs.discard(call.principal, run_id, jsonapi.comment(call.request))
    return jsonapi.accepted()


@route(bp, "/api/v2/runs/{run_id}/actions/cancel", ("POST",))
def cancel_run(call, run_id):
    runs.cancel(call.principal, run_id, jsonapi.comment(call.request))
    return jsonapi.accepted()


@route(bp, "/api/v2/runs/{run_id}/actions/force-cancel", ("POST",))
def force_cancel_run(call, run_id):
    runs.force_cancel(call.principal, run_id, jsonapi.comment(call.request))
    return jsonapi.accepted()


@route(bp, "/api/v2/runs/{run_id}/run-events")
def list_run_events(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.document([render.run_event(run, action, at) for action, at in run.events()])


@route(bp, "/api/v2/runs/{run_id}/comments")
def list_comments(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.document([render.comment(run, i) for i in range(len(run.comments))])


@route(bp, "/api/v2/runs/{run_id}/comments", ("POST",))
def create_comment(call, run_id):
    body = jsonapi.data_attributes(call.request).get("body")
    run, index = comments.add_comment(call.principal, run_id, body)
    return jsonapi.document(render.comment(run, index), status=201)


@route(bp, "/api/v2/comments/{comment_id}")
def show_comment(call, comment_id):
    return jsonapi.document(render.comment(*comments.comment_of(call.principal, comment_id)))


@route(bp, "/api/v2/runs/{run_id}/plan")
def show_run_plan(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.document(render.plan(run, logs.read_url(run.org, run.plan.id)))


@route(bp, "/api/v2/runs/{run_id}/apply")
def show_run_apply(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.document(render.apply(run, logs.read_url(run.org, run.apply.id)))


@route(bp, "/api/v2/runs/{run_id}/configuration-version")
def show_run_configuration_version(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.document(render.configuration_version(cvs.get(call.principal, run.cv_id)))


@route(bp, "/api/v2/runs/{run_id}/configuration-version/download")
def download_run_configuration_version(call, run_id):
    run = runs.get(call.principal, run_id)
    return jsonapi.redirect(cvs.download_url(call.principal, run.cv_id))


@route(bp, "/api/v2/plans/{plan_id}")
def show_plan(call, plan_id):
    run = runs.get_by_phase(call.principal, plan_id, "plan")
    return jsonapi.document(render.plan(run, logs.read_url(run.org, run.plan.id)))


@route(bp, "/api/v2/plans/{plan_id}/json-output")
def plan_json_output(call, plan_id):
    return Response(body="", status_code=307,
                    headers={"Location": runs.plan_json_url(call.principal, plan_id)})


@route(bp, "/api/v2/applies/{apply_id}")
def show_apply(call, apply_id):
    run = runs.get_by_phase(call.principal, apply_id, "apply")
    return jsonapi.document(render.apply(run, logs.read_url(run.org, run.apply.id)))


@route(bp, "/_logs/v1/{credential}", public=True)
def read_log(call, credential):
    org, phase_id = signing.verify(logs.LOG_PURPOSE, credential)
    kind = "plan" if phase_id.startswith("plan-") else "apply"
    run = runs.get_by_phase(_SYSTEM, phase_id, kind)
    if run.org != org:
        raise NotFound("unknown or malformed URL")
    phase = run.plan if kind == "plan" else run.apply
    body = logs.read(phase.id, archived=phase.log_archived, finished=phase.status in PHASE_FINAL)

    def number(name):
        raw = jsonapi.query(call.request, name)
        return int(raw) if raw and raw.isdigit() else None
    return Response(body=logs.slice_(body, number("offset"), number("limit")), status_code=200,
                    headers={"Content-Type": "text/plain"})


@route(bp, "/api/v2/organizations/{org}/runs/queue")
def organization_run_queue(call, org):
    identity.get_org(call.principal, org)
    page, size = jsonapi.page_params(call.request)
    active = runs.active_in_org(org)
    return jsonapi.document([_run_doc(r) for r in active[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(active)))


@route(bp, "/api/v2/organizations/{org}/capacity")
def organization_capacity(call, org):
    identity.get_org(call.principal, org)
    active = runs.active_in_org(org)
    running = sum(1 for r in active if r.status.value in ("planning", "applying"))
    return jsonapi.document({"id": organization_names.name_of(org), "type": "organization-capacity",
                             "attributes": {"pending": len(active) - running, "running": running}})


_SYSTEM = identity.system_principal()
