"""State versions: current, show, list, download, create (state push), outputs."""
from __future__ import annotations

from chalice import Blueprint, Response

from ..config import settings
from ..domain.errors import BadRequest, NotFound, PayloadTooLarge
from ..services import organization_names, state_versions, workspaces
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)


def _doc(sv) -> dict:
    return render.state_version(sv, settings().public_url, upload_urls=state_versions.upload_urls(sv),
                                json_download_url=state_versions.json_download_url(sv))


STATE_BODY_LIMIT = 8 * 1024 * 1024     # bytes: a state of ~6 MB, base64-encoded (Lambda's payload)


@route(bp, "/api/v2/workspaces/{workspace_id}/current-state-version")
def current_state_version(call, workspace_id):
    sv = state_versions.current(call.principal, workspace_id)
    included = render.state_version_outputs(sv) if "outputs" in jsonapi.includes(call.request) else None
    return jsonapi.document(_doc(sv), included=included)


def _outputs_page(call, sv, *, reveal_sensitive: bool = False):
    # paged like every HCP list (go-tfe asks for page 999 and expects none, with the count)
    outputs = render.state_version_outputs(sv, reveal_sensitive=reveal_sensitive)
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document(outputs[(page - 1) * size: page * size],
                            meta=jsonapi.pagination(page, size, len(outputs)))


@route(bp, "/api/v2/workspaces/{workspace_id}/current-state-version-outputs")
def current_state_version_outputs(call, workspace_id):
    return _outputs_page(call, state_versions.current(call.principal, workspace_id))


def _listing(call, workspace_id: str):
    page, size = jsonapi.page_params(call.request)
    items, total = state_versions.list_for(call.principal, workspace_id, page, size)
    return jsonapi.document([_doc(sv) for sv in items], meta=jsonapi.pagination(page, size, total))


@route(bp, "/api/v2/workspaces/{workspace_id}/state-versions")
def list_workspace_state_versions(call, workspace_id):
    return _listing(call, workspace_id)


@route(bp, "/api/v2/state-versions")
def list_state_versions(call):
    """TFE's form: ?filter[workspace][name]=...&filter[organization][name]=..."""
    org = jsonapi.query(call.request, "filter[organization][name]")
    name = jsonapi.query(call.request, "filter[workspace][name]")
    if not org or not name:
        raise BadRequest("filter[organization][name] and filter[workspace][name] are required")
    return _listing(call, workspaces.get_by_name(call.principal, organization_names.key_of(org), name).id)


@route(bp, "/api/v2/workspaces/{workspace_id}/state-versions", ("POST",))
def create_state_version(call, workspace_id):
    # the state itself travels base64-encoded in the body: its own, larger limit
    attrs = jsonapi.data_attributes(call.request, max_body=STATE_BODY_LIMIT, max_string=None)
    sv = state_versions.create(call.principal, workspace_id, attrs)
    return jsonapi.document(_doc(sv), status=201)


@route(bp, "/api/v2/state-versions/{sv_id}")
def show_state_version(call, sv_id):
    sv = state_versions.get(call.principal, sv_id)
    included = render.state_version_outputs(sv) if "outputs" in jsonapi.includes(call.request) else None
    return jsonapi.document(_doc(sv), included=included)


@route(bp, "/api/v2/state-versions/{sv_id}/outputs")
def state_version_outputs(call, sv_id):
    return _outputs_page(call, state_versions.get(call.principal, sv_id), reveal_sensitive=True)


@route(bp, "/api/v2/state-version-outputs/{output_id}")
def show_state_version_output(call, output_id):
    # an output's id is its state version's (16 characters after "sv-") and its index
    rest = output_id.removeprefix("wsout-")
    index = rest[16:]
    if not output_id.startswith("wsout-") or not index.isdigit() or len(index) > 4:
        raise NotFound(f"state version output {output_id} not found")
    outputs = render.state_version_outputs(state_versions.get(call.principal, f"sv-{rest[:16]}"))
    found = [o for o in outputs if o["id"] == output_id]
    if not found:
        raise NotFound(f"state version output {output_id} not found")
    return jsonapi.document(found[0])


@route(bp, "/api/v2/state-versions/{sv_id}/download")
def download_state_version(call, sv_id):
    # Served directly, not redirected: go-tfe sends its bearer token to this URL, which a
    # presigned S3 URL would reject.
    # state files are JSON text (UTF-8)
    return Response(body=state_versions.download(call.principal, sv_id).decode("utf-8"),
                    status_code=200,
                    headers={"Content-Type": "application/json"})


# -- the two-step upload: go-tfe PUTs the state (and its JSON form) with no token ---------------

def _raw_body(call) -> bytes:
    body = call.request.raw_body or b""
    body = body.encode("latin-1") if isinstance(body, str) else body
    if len(body) > STATE_BODY_LIMIT:
        raise PayloadTooLarge(f"the state is {len(body)} bytes; the limit is {STATE_BODY_LIMIT}")
    return body


@route(bp, "/_archivist/v1/state/state-upload/{credential}", ("PUT",), public=True)
def upload_state(call, credential):
    state_versions.receive_state(credential, _raw_body(call))
    return Response(body="", status_code=200)


@route(bp, "/_archivist/v1/state/state-json-upload/{credential}", ("PUT",), public=True)
def upload_json_state(call, credential):
    state_versions.receive_json_state(credential, _raw_body(call))
    return Response(body="", status_code=200)
