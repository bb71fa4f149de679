"""`route()`: registers a view on a blueprint with authentication and the error map, so a view
is only parse -> service -> render."""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, Callable

from chalice import Chalice

from ..domain.access import Principal
from ..services import identity, organization_names
from .errors import error_response, from_exception


@dataclass
class Call:
    request: Any
    principal: Principal | None


def bearer(request) -> str | None:
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def route(blueprint, path: str, methods: tuple[str, ...] = ("GET",), *, public: bool = False,
          render_error: Callable = from_exception, **options) -> Callable:
    """`render_error` turns any exception into the API's error shape (JSON:API by default;
    the Consul-Terraform-Sync API has its own)."""
    def register(view: Callable) -> Callable:
        @functools.wraps(view)
        def handler(**params):
            try:
                request = blueprint.current_request
                organization_names.begin_request()
                principal = None if public else identity.authenticate(bearer(request))
                if "org" in params:        # URLs name an organization; services use its key
                    params["org"] = organization_names.key_of(params["org"])
                return view(Call(request, principal), **params)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an error document
                return render_error(exc)
        # Clients send application/vnd.api+json, application/json, octet-stream or nothing.
        options.setdefault("content_types", ["*/*"])
        blueprint.route(path, methods=list(methods), **options)(handler)
        return view
    return register


def jsonapi_errors(event, get_response):
    """HTTP middleware: Chalice's own errors (405 unsupported method, 415, ...) come as
    {"Code": ..., "Message": ...}; clients parse JSON:API errors only."""
    response = get_response(event)
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        return error_response(response.status_code, str(response.body["Code"]),
                              str(response.body.get("Message", "")),
                              headers={k: v for k, v in response.headers.items()
                                       if k.lower() == "allow"})
    return response


class ThreadSafeChalice(Chalice):
    """Chalice keeps the request being handled in one attribute of the app. Lambda handles one
    request per process at a time; the dev stack's threaded server (and a runner's heartbeat
    next to its log uploads) handles several at once, and one view would read another's
    request. Here each thread has its own."""

    _local = threading.local()

    @property  # type: ignore[override]
    def current_request(self):
        return getattr(self._local, "request", None)

    @current_request.setter
    def current_request(self, value) -> None:
        self._local.request = value
