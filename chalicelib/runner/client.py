"""The runner's only way to the service: its HTTP API, with the phase's credential.

Endpoints are `/api/runner/v1/phases/<phase id>/<what>`. Transports: a Unix socket (the dev
stack, whose sandbox has no network of its own: the socket is the one door, and it goes only
to the API), a URL (a runner function on AWS), or any callable (tests under the emulator
hand it the Chalice test client). Calls are retried on a lost connection or a 5xx; every call
is idempotent (log chunks carry their sequence number), so a retry never doubles anything."""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.parse
from typing import Callable

Transport = Callable[[str, str, dict, bytes], tuple[int, bytes]]
ATTEMPTS = 5


class RunnerApiError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _http(connect: Callable[[], http.client.HTTPConnection], prefix: str = "") -> Transport:
    def send(method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        conn = connect()
        try:
            conn.request(method, prefix + path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
    return send


def unix_socket(path: str, timeout: float = 120) -> Transport:
    return _http(lambda: _UnixConnection(path, timeout))


def url(base: str, timeout: float = 120) -> Transport:
    parts = urllib.parse.urlsplit(base)
    if parts.scheme == "https":
        context = ssl.create_default_context()
        return _http(lambda: http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                                         context=context), parts.path.rstrip("/"))
    return _http(lambda: http.client.HTTPConnection(parts.netloc, timeout=timeout),
                 parts.path.rstrip("/"))


def transport_for(description: dict) -> Transport:
    if description.get("socket"):
        return unix_socket(description["socket"])
    return url(description["url"])


class PhaseApi:
    def __init__(self, transport: Transport, phase_id: str, credential: str) -> None:
        self.transport, self.phase_id = transport, phase_id
        self._auth = {"Authorization": f"Bearer {credential}"}

    def call(self, method: str, what: str, body: bytes = b"", content_type: str | None = None,
             *, missing_ok: bool = False) -> bytes | None:
        path = f"/api/runner/v1/phases/{self.phase_id}/{what}"
        # binary answers need an Accept naming them (API Gateway and Chalice refuse otherwise)
        headers = {**self._auth, "Accept": "application/octet-stream, application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        delay = 0.2
        for attempt in range(ATTEMPTS):
            try:
                status, data = self.transport(method, path, headers, body)
            except (OSError, http.client.HTTPException):
                if attempt == ATTEMPTS - 1:
                    raise
                status, data = 0, b""
            if status == 204 or (status == 404 and missing_ok):
                return None
            if 200 <= status < 300:
                return data
            if status and status < 500:
                raise RunnerApiError(status, data)
            time.sleep(delay)
            delay *= 2
        raise RunnerApiError(status, data)

    def get(self, what: str, *, missing_ok: bool = False) -> bytes | None:
        return self.call("GET", what, missing_ok=missing_ok)

    def put(self, what: str, data: bytes, content_type: str = "application/octet-stream") -> bytes | None:
        return self.call("PUT", what, data, content_type)

    def post(self, what: str, body: dict) -> dict:
        data = self.call("POST", what, json.dumps(body).encode(), "application/json")
        return json.loads(data) if data else {}
