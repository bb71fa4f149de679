"""Configuration versions, the archivist upload endpoint and the backing-data actions."""
from __future__ import annotations

from chalice import Blueprint, Response

from ..domain.configuration_versions import uploads_without_token
from ..domain.errors import Unprocessable
from ..services import configuration_versions as cvs
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)


def _with_includes(call, cv) -> list:
    wanted = jsonapi.includes(call.request)
    included = []
    if "ingress_attributes" in wanted and cv.ingress:
        included.append(render.ingress_attributes(cv))
    return included


def _upload_url(call, cv) -> str | None:
    """The upload URL that suits the asking client: presigned S3 for one that sends no token
    there (no size cap through the API), else the archivist (domain.uploads_without_token)."""
    return cvs.pending_upload_url(cv, client_sends_no_token=uploads_without_token(
        call.request.headers.get("user-agent")))


@route(bp, "/api/v2/workspaces/{workspace_id}/configuration-versions")
def list_configuration_versions(call, workspace_id):
    page, size = jsonapi.page_params(call.request)
    items, total = cvs.list_page(call.principal, workspace_id, page, size)
    included = [i for cv in items for i in _with_includes(call, cv)]
    return jsonapi.document([render.configuration_version(cv) for cv in items],
                            included=included, meta=jsonapi.pagination(page, size, total))


@route(bp, "/api/v2/workspaces/{workspace_id}/configuration-versions", ("POST",))
def create_configuration_version(call, workspace_id):
    attrs = jsonapi.data_attributes(call.request, required=False)
    cv = cvs.create(call.principal, workspace_id, attrs)
    return jsonapi.document(render.configuration_version(cv, upload_url=_upload_url(call, cv)), status=201)


@route(bp, "/api/v2/configuration-versions/{cv_id}")
def show_configuration_version(call, cv_id):
    cv = cvs.get(call.principal, cv_id)
    # go-tfe reads a pending version's upload-url too (not only from the create answer)
    return jsonapi.document(render.configuration_version(cv, upload_url=_upload_url(call, cv)),
                            included=_with_includes(call, cv))


@route(bp, "/api/v2/configuration-versions/{cv_id}/ingress-attributes")
def show_ingress_attributes(call, cv_id):
    return jsonapi.document(render.ingress_attributes(cvs.get(call.principal, cv_id)))


@route(bp, "/api/v2/configuration-versions/{cv_id}/download")
def download_configuration_version(call, cv_id):
    return jsonapi.redirect(cvs.download_url(call.principal, cv_id))


@route(bp, "/api/v2/configuration-versions/{cv_id}/actions/archive", ("POST",))
def archive_configuration_version(call, cv_id):
    cvs.archive(call.principal, cv_id)
    return jsonapi.accepted()


@route(bp, "/api/v2/configuration-versions/{cv_id}/actions/soft_delete_backing_data", ("POST",))
def soft_delete_backing_data(call, cv_id):
    days = jsonapi.data_attributes(call.request, required=False).get("delete-older-than-n-days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise Unprocessable("delete-older-than-n-days must be a non-negative integer",
                            pointer="/data/attributes/delete-older-than-n-days")
    cvs.soft_delete_backing_data(call.principal, cv_id, days)
    return Response(body="", status_code=200)


@route(bp, "/api/v2/configuration-versions/{cv_id}/actions/restore_backing_data", ("POST",))
def restore_backing_data(call, cv_id):
    cvs.restore_backing_data(call.principal, cv_id)
    return Response(body="", status_code=200)


@route(bp, "/api/v2/configuration-versions/{cv_id}/actions/permanently_delete_backing_data",
       ("POST",))
def permanently_delete_backing_data(call, cv_id):
    cvs.permanently_delete_backing_data(call.principal, cv_id)
    return Response(body="", status_code=200)


@route(bp, "/_archivist/v1/object/{credential}", ("PUT",), public=True)
def upload_archive(call, credential):
    # terrasnek accepts only 200 here; terraform <= 1.5 sends its bearer token, ignored.
    body = call.request.raw_body or b""
    if isinstance(body, str):
        body = body.encode("latin-1")
    cvs.receive_upload(credential, body)
    return Response(body="", status_code=200)
