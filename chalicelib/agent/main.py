"""`terraless agent`: runs the phases of an agent pool's workspaces on this machine.

It registers with the pool's agent token, then asks the service for one phase at a time over
HTTPS (a long poll: no inbound connection, no AWS credentials here) and runs each with the
same runner and sandbox as the dev stack's workers (executor/local.py): the runner talks to
the runner API with its phase's credential — logs, heartbeats, cancel, state — and the phase
has no time limit but its own (an agent is not a Lambda function). A status ping every
PING_SECONDS keeps the pool's agent list current.

SIGTERM / SIGINT: no new phase is taken; the running ones finish, then the agent reports
`exited` and ends. A revoked or expired token (401) ends it the same way at its next call."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading

import httpx

from ..domain.agents import PING_SECONDS

log = logging.getLogger("terraless.agent")
WAIT_SECONDS = 20


class Revoked(Exception):
    """The service refused the agent token (401): this agent is done."""


class Agent:
    def __init__(self, url: str, token: str, name: str, *, concurrency: int = 1, single: bool = False,
                 ca_file: str | None = None) -> None:
        self.url, self.name, self.ca_file = url.rstrip("/"), name, ca_file
        self.concurrency, self.single = max(1, concurrency), single
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                                 verify=ca_file or True, timeout=WAIT_SECONDS + 30)
        self.stop = threading.Event()
        self.busy = 0
        self.lock = threading.Lock()
        self.agent_id: str | None = None
        self.ran = 0

    # -- the service ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = None
        for attempt in range(5):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                log.warning("%s %s: %s", method, path, exc)
                if self.stop.wait(min(2 ** attempt, 10)):
                    raise Revoked("stopping") from None
                continue
            if response.status_code == 401:
                raise Revoked(response.text[:300])
            if response.status_code < 500:
                return response
            log.warning("%s %s: HTTP %d", method, path, response.status_code)
            if self.stop.wait(min(2 ** attempt, 10)):
                break
        if response is None:
            raise httpx.ConnectError(f"{method} {path}: the service cannot be reached")
        response.raise_for_status()
        return response

    def register(self) -> str:
        made = self._call("POST", "/api/agent/v1/agents", json={"name": self.name})
        made.raise_for_status()
        self.agent_id = made.json()["id"]
        log.info("agent %s (%s) registered in pool %s", self.name, self.agent_id, made.json()["pool_id"])
        return self.agent_id

    def _status(self, status: str) -> None:
        self._call("POST", f"/api/agent/v1/agents/{self.agent_id}/status", json={"status": status})

    # -- the loops -----------------------------------------------------------------------------
    def _pinger(self) -> None:
        while not self.stop.wait(PING_SECONDS):
            try:
                self._status("busy" if self.busy else "idle")
            except Revoked as exc:
                log.error("the agent token was refused (%s): stopping", exc)
                self.stop.set()
            except httpx.HTTPError as exc:
                log.warning("status ping failed: %s", exc)

    def _taker(self) -> None:
        while not self.stop.is_set():
            try:
                answer = self._call("GET", f"/api/agent/v1/agents/{self.agent_id}/next",
                                    params={"wait": WAIT_SECONDS})
            except Revoked as exc:
                if not self.stop.is_set():
                    log.error("the agent token was refused (%s): stopping", exc)
                self.stop.set()
                return
            except httpx.HTTPError as exc:
                log.warning("asking for a phase failed: %s", exc)
                self.stop.wait(5)
                continue
            if answer.status_code != 200:
                continue
            self._run(answer.json())
            if self.single:
                self.stop.set()

    def _run(self, phase: dict) -> None:
        from ..executor import local  # lazy: staging and the sandbox only once a phase comes
        work = phase["work"]
        with self.lock:
            self.busy += 1
        log.info("running %s %s", work.get("operation") or phase["kind"], work["phase_id"])
        try:
            local.execute(work, *phase["workdir"], api_url=self.url, ca_file=self.ca_file)
        except Exception:  # noqa: BLE001 - the phase errors (below); the agent goes on
            log.exception("the runner of %s could not run", work["phase_id"])
        finally:
            with self.lock:
                self.busy -= 1
                self.ran += 1
        try:
            # the runner has exited: a phase it did not report on errors now
            httpx.post(f"{self.url}/api/agent/v1/phases/{work['phase_id']}/done", timeout=30,
                       headers={"Authorization": f"Bearer {work['credential']}"}, verify=self.ca_file or True)
        except httpx.HTTPError as exc:
            log.warning("reporting the end of %s failed: %s", work["phase_id"], exc)
        log.info("finished %s", work["phase_id"])

    def serve(self) -> int:
        try:
            self.register()
        except Revoked as exc:
            log.error("the agent token was refused: %s", exc)
            return 3
        threads = [threading.Thread(target=self._pinger, daemon=True, name="ping")]
        threads += [threading.Thread(target=self._taker, name=f"taker-{i}") for i in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join()
        try:
            self._status("exited")
        except (Revoked, httpx.HTTPError):
            pass
        log.info("agent %s stopped after %d phase(s)", self.name, self.ran)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="terraless agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("TERRALESS_AGENT_URL"),
                        help="the service's URL (TERRALESS_AGENT_URL)")
    parser.add_argument("--token", default=os.environ.get("TERRALESS_AGENT_TOKEN"),
                        help="the pool's agent token (TERRALESS_AGENT_TOKEN; prefer the variable)")
    parser.add_argument("--name", default=os.environ.get("TERRALESS_AGENT_NAME") or socket.gethostname())
    parser.add_argument("--max-concurrency", type=int, default=1, help="phases run at once")
    parser.add_argument("--single", action="store_true", help="exit after one phase")
    parser.add_argument("--ca-file", default=os.environ.get("TERRALESS_AGENT_CA_FILE"),
                        help="CA bundle that verifies the service's TLS certificate")
    args = parser.parse_args(argv)
    if not args.url or not args.token:
        parser.error("--url and an agent token (--token or TERRALESS_AGENT_TOKEN) are required")
    logging.basicConfig(level=os.environ.get("TERRALESS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s agent %(levelname)s %(message)s")
    agent = Agent(args.url, args.token, args.name, concurrency=args.max_concurrency,
                  single=args.single, ca_file=args.ca_file)

    def graceful(signum, _frame) -> None:
        log.info("signal %d: finishing the running phase(s), taking no more", signum)
        agent.stop.set()
    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    return agent.serve()
