"""Terrakube's Jobs and Templates APIs (JSON:API as Terrakube's Elide serves it).

Relationship objects carry `data` (JSON:API, what terrakube-go and Elide clients read) and
also `id`/`type` at their top level, as Terrakube's API reference shows them."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.errors import Unprocessable
from ..services import identity, jobs, organization_names, workspaces
from . import jsonapi
from .routing import route

bp = Blueprint(__name__)


def _rel(type_: str, id_: str) -> dict:
    return {"data": {"type": type_, "id": id_}, "type": type_, "id": id_}


def _step_doc(step) -> dict:
    return {"type": "step", "id": step.id, "attributes": {
        "stepNumber": step.number, "name": step.name, "type": step.type,
        "status": step.status.value, "output": jobs.step_output(step),
        "ignoreError": step.ignore_error, "team": step.team,
        "startedDate": step.started_at, "finishedDate": step.finished_at, "error": step.error}}


def _job_doc(job) -> dict:
    steps = [_step_doc(s) for s in job.steps]
    return {"type": "job", "id": job.id, "attributes": {
        "status": job.status.value, "command": job.command, "output": jobs.job_output(job),
        "tcl": job.tcl, "templateReference": job.template_reference, "comments": job.comments,
        "planChanges": job.has_changes, "via": job.via, "createdBy": job.created_by,
        "createdDate": job.created_at, "updatedDate": job.updated_at,
        "approvalTeam": next((s.team for s in job.steps if s.type == "approval" and s.team), None),
        "steps": [{"id": s["id"], **s["attributes"]} for s in steps]},
        "relationships": {"organization": _rel("organization", organization_names.name_of(job.org)),
                          "workspace": _rel("workspace", job.workspace_id),
                          "step": {"data": [{"type": "step", "id": s.id} for s in job.steps]}}}


def _included(job) -> list:
    ws = workspaces.get(identity.system_principal(), job.workspace_id)
    name = organization_names.name_of(job.org)
    return [{"type": "organization", "id": name, "attributes": {"name": name}},
            {"type": "workspace", "id": ws.id, "attributes": {
                "name": ws.name, "locked": bool(ws.locked), "executionMode": ws.execution_mode,
                "terraformVersion": ws.terraform_version}},
            *[_step_doc(s) for s in job.steps]]


def _template_doc(t) -> dict:
    return {"type": "template", "id": t.id, "attributes": {
        "name": t.name, "description": t.description, "version": t.version, "tcl": t.tcl,
        "createdDate": t.created_at, "updatedDate": t.updated_at},
        "relationships": {"organization": _rel("organization", organization_names.name_of(t.org))}}


def _data(call) -> dict:
    """`data` of the body; Terrakube PATCH bodies carry type and id, which must match."""
    body = jsonapi.body_json(call.request)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise Unprocessable("the body needs a 'data' object", pointer="/data")
    return data


# -- jobs -------------------------------------------------------------------------------------------
# The seed's paths are workspace-scoped; Terrakube's own clients (terrakube-cli) use the same
# jobs under /api/v1/organization/{org}/job, with the workspace as a relationship.

def _created(job):
    return jsonapi.document(_job_doc(job), status=201, included=_included(job))


def _shown(job):
    return jsonapi.document(_job_doc(job), included=_included(job))


def _page(call, items_and_total):
    page, size = jsonapi.page_params(call.request)
    items, total = items_and_total(page, size)
    meta = jsonapi.pagination(page, size, total)
    # Elide's (Terrakube's) page meta next to TFE's pagination
    meta["page"] = {"number": page, "limit": size, "totalRecords": total,
                    "totalPages": meta["pagination"]["total-pages"]}
    return jsonapi.document([_job_doc(j) for j in items], meta=meta)


def _updated(call, workspace_id, job_id):
    data = _data(call)
    if data.get("id") not in (None, job_id):
        raise Unprocessable("data.id must be the job of the path", pointer="/data/id")
    return _shown(jobs.update(call.principal, workspace_id, job_id, jsonapi.data_attributes(call.request)))


@route(bp, "/api/v1/workspace/{workspace_id}/job", ("POST",))
def create_job(call, workspace_id):
    return _created(jobs.create(call.principal, workspace_id, jsonapi.data_attributes(call.request),
                                jsonapi.relationship_id(call.request, "workspace")))


@route(bp, "/api/v1/workspace/{workspace_id}/job")
def list_jobs(call, workspace_id):
    return _page(call, lambda page, size: jobs.list_page(call.principal, workspace_id, page, size))


@route(bp, "/api/v1/workspace/{workspace_id}/job/{job_id}")
def show_job(call, workspace_id, job_id):
    return _shown(jobs.get(call.principal, workspace_id, job_id))


@route(bp, "/api/v1/workspace/{workspace_id}/job/{job_id}/step")
def list_job_steps(call, workspace_id, job_id):
    job = jobs.get(call.principal, workspace_id, job_id)
    return jsonapi.document([_step_doc(s) for s in job.steps])


@route(bp, "/api/v1/workspace/{workspace_id}/job/{job_id}", ("PATCH",))
def update_job(call, workspace_id, job_id):
    return _updated(call, workspace_id, job_id)


@route(bp, "/api/v1/workspace/{workspace_id}/job/{job_id}", ("DELETE",))
def delete_job(call, workspace_id, job_id):
    jobs.delete(call.principal, workspace_id, job_id)
    return jsonapi.no_content()


@route(bp, "/api/v1/organization/{org}/job", ("POST",))
def create_org_job(call, org):
    return _created(jobs.create_in_org(call.principal, org, jsonapi.data_attributes(call.request),
                                       jsonapi.relationship_id(call.request, "workspace")))


@route(bp, "/api/v1/organization/{org}/job")
def list_org_jobs(call, org):
    return _page(call, lambda page, size: jobs.list_org_page(call.principal, org, page, size))


@route(bp, "/api/v1/organization/{org}/job/{job_id}")
def show_org_job(call, org, job_id):
    return _shown(jobs.get_in_org(call.principal, org, job_id))


@route(bp, "/api/v1/organization/{org}/job/{job_id}", ("PATCH",))
def update_org_job(call, org, job_id):
    return _updated(call, jobs.get_in_org(call.principal, org, job_id).workspace_id, job_id)


@route(bp, "/api/v1/organization/{org}/job/{job_id}", ("DELETE",))
def delete_org_job(call, org, job_id):
    jobs.delete(call.principal, jobs.get_in_org(call.principal, org, job_id).workspace_id, job_id)
    return jsonapi.no_content()


# -- templates --------------------------------------------------------------------------------------

@route(bp, "/api/v1/organization/{org}/template", ("POST",))
def create_template(call, org):
    t = jobs.create_template(call.principal, org, jsonapi.data_attributes(call.request))
    return jsonapi.document(_template_doc(t), status=201)


@route(bp, "/api/v1/organization/{org}/template")
def list_templates(call, org):
    return jsonapi.document([_template_doc(t) for t in jobs.list_templates(call.principal, org)])


@route(bp, "/api/v1/organization/{org}/template/{template_id}")
def show_template(call, org, template_id):
    return jsonapi.document(_template_doc(jobs.get_template(call.principal, org, template_id)))


@route(bp, "/api/v1/organization/{org}/template/{template_id}", ("PATCH",))
def update_template(call, org, template_id):
    t = jobs.update_template(call.principal, org, template_id, jsonapi.data_attributes(call.request))
    return jsonapi.document(_template_doc(t))


@route(bp, "/api/v1/organization/{org}/template/{template_id}", ("DELETE",))
def delete_template(call, org, template_id):
    jobs.delete_template(call.principal, org, template_id)
    return jsonapi.no_content()
