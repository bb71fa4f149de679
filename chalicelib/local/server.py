"""The dev stack's HTTP server: Chalice's local gateway in a threaded server, with JSON:API
errors where API Gateway would answer with its own shapes (unknown routes)."""
from __future__ import annotations

import json
import threading

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGatewayException

from ..api.errors import JSONAPI, error_document


class TerralessRequestHandler(ChaliceRequestHandler):
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK
    # adds ~40 ms to every response on loopback.
    disable_nagle_algorithm = True
    wbufsize = -1   # buffer the whole response; BaseHTTPRequestHandler flushes per request

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # Chalice's gateway raises for paths no route matches: answer like every other error.
        body = json.dumps(error_document(404, "not found", f"no route for {self.command} {self.path.split('?')[0]}"))
        self._send_http_response(404, {"Content-Type": JSONAPI}, body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # request lines would drown the dev stack's output


class HTTPServer:
    def __init__(self, app, host: str, port: int, ssl_context=None) -> None:
        config = Config(chalice_stage="dev", config_from_disk={"app_name": app.app_name})
        self._server = LocalDevServer(app, config, host, port, handler_cls=TerralessRequestHandler)
        if ssl_context is not None:
            self._server.server.socket = ssl_context.wrap_socket(self._server.server.socket,
                                                                 server_side=True)
        self._thread = threading.Thread(target=self._server.server.serve_forever, daemon=True,
                                        name=f"http-{port}")

    @property
    def port(self) -> int:
        return self._server.server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server.server_close()
