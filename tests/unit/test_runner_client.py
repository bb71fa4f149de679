"""The runner's HTTP over the door's Unix socket (client.unix_socket), against the standard
library's HTTP server: bodies by Content-Length, by chunks and to the end of the stream; binary
bodies both ways; a lost connection retried; a 4xx raised with its status."""
from __future__ import annotations

import http.server
import os
import socketserver
import threading

import pytest

from chalicelib.runner import client


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *args) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_PUT(self) -> None:
        data = self._body()
        _Handler.seen.append((self.path, dict(self.headers), data))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[::-1])

    def do_GET(self) -> None:
        if self.path.endswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"\x00\xffworld"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.endswith("/eof"):
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"to the end")
        elif self.path.endswith("/flaky") and not _Handler.seen:
            _Handler.seen.append(("flaky", {}, b""))
            self.connection.close()   # no answer at all: the client must retry
        elif self.path.endswith("/missing"):
            self.send_response(403)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"forbidden")
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def api(tmp_path):
    path = str(tmp_path / "api.sock")
    server = _UnixServer(path, _Handler)
    server.client_address = ("local", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    yield client.PhaseApi(client.unix_socket(path, timeout=5), "ph-1", "trl1.cred")
    server.shutdown()
    server.server_close()
    os.unlink(path)


def test_binary_body_both_ways_with_credential(api):
    payload = bytes(range(256)) * 4
    assert api.put("plan", payload) == payload[::-1]
    path, headers, received = _Handler.seen[0]
    assert path == "/api/runner/v1/phases/ph-1/plan"
    assert received == payload
    assert headers["Authorization"] == "Bearer trl1.cred"
    assert headers["Content-Type"] == "application/octet-stream"


def test_chunked_and_read_to_end_bodies(api):
    assert api.get("chunked") == b"hello \x00\xffworld"
    assert api.get("eof") == b"to the end"
    assert api.get("anything") == b"ok"


def test_a_dropped_connection_is_retried(api):
    assert api.get("flaky") == b"ok"
    assert [s[0] for s in _Handler.seen] == ["flaky"]


def test_a_refusal_is_raised_with_its_status(api):
    with pytest.raises(client.RunnerApiError) as raised:
        api.get("missing")
    assert raised.value.status == 403


def test_not_http_is_an_error(tmp_path):
    import socket
    path = str(tmp_path / "junk.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def answer_junk():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-nope\r\n\r\n")
        conn.close()
    threading.Thread(target=answer_junk, daemon=True).start()
    with pytest.raises(client.ResponseError):
        client.unix_socket(path, timeout=5)("GET", "/x", {}, b"")
    listener.close()
