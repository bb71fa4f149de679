"""JSON:API request parsing and response documents."""
from __future__ import annotations

import json
import math
from typing import Any

from chalice import Response

from ..domain.errors import BadRequest, PayloadTooLarge, Unprocessable
from .errors import JSONAPI

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The API's one request policy (README, Security): a JSON body is at most MAX_BODY bytes,
# nested at most MAX_DEPTH deep, and no string in it is longer than MAX_STRING characters —
# except where a route names a larger limit (a state version's base64 state). Field-specific
# limits (names, emails) are the domain's; everything stays far below DynamoDB's 400 KB item.
MAX_BODY = 1024 * 1024
MAX_DEPTH = 32
MAX_STRING = 64 * 1024


def _check_shape(value: Any, max_string: int | None) -> None:
    """Depth and string sizes, iteratively (a deep body must not exhaust the stack)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"the request body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, inner in item.items():
                if max_string is not None and len(key) > max_string:
                    raise Unprocessable(f"a key is longer than {max_string} characters", pointer="")
                pending.append((inner, depth + 1))
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str) and max_string is not None and len(item) > max_string:
            raise Unprocessable(f"a value is longer than {max_string} characters", pointer="")


def body_json(request, *, required: bool = True, max_body: int = MAX_BODY,
              max_string: int | None = MAX_STRING) -> Any:
    """The request body as JSON, whatever the content type (clients send application/json or
    application/vnd.api+json; Chalice parses only the former), within the request policy."""
    raw = request.raw_body
    if not raw or not raw.strip():
        if required:
            raise BadRequest("a JSON request body is required")
        return None
    if len(raw) > max_body:
        raise PayloadTooLarge(f"the request body is {len(raw)} bytes; the limit is {max_body}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    except RecursionError:
        raise BadRequest(f"the request body is nested deeper than {MAX_DEPTH} levels") from None
    _check_shape(body, max_string)
    return body


def data_attributes(request, *, required: bool = True, **limits) -> dict:
    """`data.attributes` of a JSON:API body; unknown attributes are the caller's to ignore."""
    body = body_json(request, required=required, **limits)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Unprocessable("the body must be a JSON object", pointer="")
    data = body.get("data")
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise Unprocessable("the body needs a 'data' object", pointer="/data")
    attrs = data.get("attributes", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise Unprocessable("'data.attributes' must be an object", pointer="/data/attributes")
    return attrs


def relationship_id(request, name: str) -> str | None:
    """`data.relationships.<name>.data.id` of a JSON:API body (None when absent)."""
    body = body_json(request, required=False) or {}
    rels = (body.get("data") or {}).get("relationships") if isinstance(body, dict) else None
    rel = rels.get(name) if isinstance(rels, dict) else None
    data = rel.get("data") if isinstance(rel, dict) else None
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise Unprocessable(f"relationship {name} needs data.id", pointer=f"/data/relationships/{name}")
    return data["id"]


def _identifiers(data, pointer: str) -> list[str]:
    if not isinstance(data, list) or len(data) > MAX_PAGE_SIZE * 10 or not all(
            isinstance(d, dict) and isinstance(d.get("id"), str) for d in data):
        raise Unprocessable("expected a list of {type, id} resource identifiers", pointer=pointer)
    return [d["id"] for d in data]


def relationship_ids(request, name: str) -> list[str] | None:
    """`data.relationships.<name>.data` as a list of ids (None when absent)."""
    body = body_json(request, required=False) or {}
    rels = (body.get("data") or {}).get("relationships") if isinstance(body, dict) else None
    rel = rels.get(name) if isinstance(rels, dict) else None
    if not isinstance(rel, dict) or "data" not in rel:
        return None
    return _identifiers(rel["data"], f"/data/relationships/{name}/data")


def _tag_names(data, pointer: str, *, ids: list[str] | None = None) -> list[str]:
    """Tag names; where `ids` is given, a tag named by its id alone (`{type: tags, id}`, as
    go-tfe sends a tag it listed) is added to it instead."""
    if not isinstance(data, list) or len(data) > MAX_PAGE_SIZE * 10:
        raise Unprocessable("expected a list of tags", pointer=pointer)
    names = []
    for item in data:
        name = (item.get("attributes") or {}).get("name") if isinstance(item, dict) else None
        if name is None and ids is not None and isinstance(item, dict) and isinstance(item.get("id"), str):
            ids.append(item["id"])
            continue
        if not isinstance(name, str):
            raise Unprocessable("each tag is {type: tags, attributes: {name}} or {type: tags, id}", pointer=pointer)
        names.append(name)
    return names


def relationship_tag_names(request) -> list[str] | None:
    """`data.relationships.tags.data` of a workspace body, as names (None when absent)."""
    body = body_json(request, required=False) or {}
    rels = (body.get("data") or {}).get("relationships") if isinstance(body, dict) else None
    rel = rels.get("tags") if isinstance(rels, dict) else None
    if not isinstance(rel, dict) or "data" not in rel:
        return None
    return _tag_names(rel["data"], "/data/relationships/tags/data")


def data_tag_refs(request) -> tuple[list[str], list[str]]:
    """A tags relationship body, `{"data": [{type: tags, attributes: {name}} | {type: tags,
    id}, ...]}`: the names, and the ids of tags named by id."""
    body = body_json(request)
    ids: list[str] = []
    names = _tag_names(body.get("data") if isinstance(body, dict) else None, "/data", ids=ids)
    return names, ids


def data_ids(request) -> list[str]:
    """A relationship body, `{"data": [{type, id}, ...]}`: the ids."""
    body = body_json(request)
    return _identifiers(body.get("data") if isinstance(body, dict) else None, "/data")


def comment(request) -> str | None:
    """Actions take an optional {"comment": "..."} body."""
    body = body_json(request, required=False)
    value = body.get("comment") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def query(request, name: str) -> str | None:
    """A query parameter; an empty value counts as absent (clients send `filter[x]=`)."""
    value = (request.query_params or {}).get(name)
    return value if value not in (None, "") else None


def includes(request) -> set[str]:
    raw = query(request, "include") or ""
    return {part.strip().replace("-", "_") for part in raw.replace("%2C", ",").split(",")
            if part.strip()}


def page_params(request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = query(request, name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a positive integer") from None
        if value < 1:
            raise BadRequest(f"{name} must be a positive integer")
        return value
    return number("page[number]", 1), min(number("page[size]", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)


def pagination(page: int, size: int, total: int) -> dict:
    pages = max(1, math.ceil(total / size)) if total else 1
    return {"pagination": {
        "current-page": page,
        "page-size": size,
        "prev-page": page - 1 if page > 1 else None,
        "next-page": page + 1 if page < pages else None,
        "total-pages": pages,
        "total-count": total,
    }}


def document(data: Any, *, status: int = 200, included: list | None = None,
             meta: dict | None = None, links: dict | None = None) -> Response:
    doc: dict[str, Any] = {"data": data}
    if included:
        doc["included"] = included
    if meta:
        doc["meta"] = meta
    if links:
        doc["links"] = links
    return Response(body=json.dumps(doc), status_code=status, headers={"Content-Type": JSONAPI})


def accepted() -> Response:
    """Actions answer 202 with an empty body."""
    return Response(body="", status_code=202, headers={"Content-Type": JSONAPI})


def no_content() -> Response:
    return Response(body="", status_code=204)


def redirect(location: str) -> Response:
    return Response(body="", status_code=302, headers={"Location": location})
