"""The one map from domain errors to HTTP statuses, and JSON:API error documents."""
from __future__ import annotations

import json
import logging

from chalice import Response

from ..domain import errors as e

log = logging.getLogger(__name__)

JSONAPI = "application/vnd.api+json"

STATUS = {
    e.BadRequest: 400,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PayloadTooLarge: 413,
    e.Unprocessable: 422,
}


def error_document(status: int, title: str, detail: str, pointer: str | None = None) -> dict:
    error = {"status": str(status), "title": title, "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return {"errors": [error]}


def error_response(status: int, title: str, detail: str, pointer: str | None = None,
                   headers: dict | None = None) -> Response:
    return Response(body=json.dumps(error_document(status, title, detail, pointer)),
                    status_code=status, headers={"Content-Type": JSONAPI, **(headers or {})})


def from_exception(exc: Exception) -> Response:
    if isinstance(exc, e.DomainError):
        status = next(code for cls, code in STATUS.items() if isinstance(exc, cls))
        headers = {"WWW-Authenticate": 'Bearer realm="terraless"'} if status == 401 else None
        return error_response(status, exc.title, exc.detail, exc.pointer, headers)
    log.exception("unhandled error")
    return error_response(500, "internal error", "the server failed to handle the request")
