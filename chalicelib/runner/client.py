"""The runner's only way to the service: its HTTP API, with the phase's credential.

Endpoints are `/api/runner/v1/phases/<phase id>/<what>`. Transports: a Unix socket (the dev
stack, whose sandbox has no network of its own: the socket is the one door, and it goes only
to the API), a URL (a runner function on AWS), or any callable (tests under the emulator
hand it the Chalice test client). Calls are retried on a lost connection or a 5xx; every call
is idempotent (log chunks carry their sequence number), so a retry never doubles anything."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable   # already loaded at start-up; `typing` is not

Transport = Callable[[str, str, dict, bytes], "tuple[int, bytes]"]
ATTEMPTS = 5
MAX_HEAD = 64 * 1024


class RunnerApiError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status


class ResponseError(OSError):
    """An answer that is not HTTP/1.x as the runner reads it: retried like a lost connection."""


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.x response on a connection the request asked to close: status, then the body
    by Content-Length, chunks, or up to the end of the stream."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            raise ResponseError("response head too large")
        chunk = sock.recv(65536)
        if not chunk:
            raise ResponseError("connection closed before the response head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ResponseError(f"not an HTTP response: {lines[0][:80]!r}")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    body = [rest]
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        body.append(chunk)
    payload = b"".join(body)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        payload = _dechunk(payload)
    elif "content-length" in fields:
        length = int(fields["content-length"])
        if len(payload) < length:
            raise ResponseError("connection closed inside the body")
        payload = payload[:length]
    return int(parts[1]), payload


def _dechunk(data: bytes) -> bytes:
    out, at = [], 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        at = end + 2 + size + 2


def unix_socket(path: str, timeout: float = 120) -> Transport:
    """HTTP/1.1 over the door's socket, one connection per call. Written on `socket` rather
    than `http.client`: that import (with `email` and `ssl`) was a quarter of the runner's
    start, paid by every phase."""
    def send(method: str, target: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close",
                 f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(request)
            return _read_response(sock)
    return send


def url(base: str, timeout: float = 120) -> Transport:
    """HTTP(S) to the API's URL (the runner function on AWS, where start-up imports are paid
    once per container)."""
    import http.client    # lazy: a quarter of the runner's start; the dev stack's runner
    import ssl            # lazy: never reaches the API by URL
    import urllib.parse   # lazy: (see above)
    parts = urllib.parse.urlsplit(base)
    prefix = parts.path.rstrip("/")

    def connect() -> http.client.HTTPConnection:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(parts.netloc, timeout=timeout)

    def send(method: str, target: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        conn = connect()
        try:
            conn.request(method, prefix + target, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except http.client.HTTPException as exc:
            raise ResponseError(str(exc)) from exc
        finally:
            conn.close()
    return send


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
            except OSError:
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
