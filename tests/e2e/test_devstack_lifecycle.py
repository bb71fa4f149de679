"""`terraless dev` as a user runs it: ready when ping answers, and Ctrl-C or SIGHUP stops every
process it started (the emulator and the worker processes included); SIGKILL of the whole stack
loses nothing acknowledged and leaves nothing running."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import (ROOT, _free_port, launch_dev_stack, make_workspace, poll, run_attrs, stack_http,
                      start_run, stop_dev_stack, upload_config)

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.update(children)
            stack.extend(children)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_ctrl_c_or_a_hangup_stops_every_process(tmp_path, stop):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TERRALESS_"))}
    env.update(TERRALESS_PORT=str(port), TERRALESS_TLS_PORT=str(_free_port()),
               TERRALESS_MOTO_PORT=str(_free_port()), TERRALESS_HOME=str(tmp_path),
               TERRALESS_LOG_LEVEL="WARNING")
    # started as a terminal's foreground command is, with SIGINT at its default: the suite
    # itself may run in the background of a script, which hands its children SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-m", "chalicelib.cli", "dev"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        poll(lambda: _ping(port), lambda code: code == 200, timeout=60, interval=0.2)
        token = (tmp_path / "admin-token").read_text().strip()       # generated: none was given
        assert httpx.get(f"http://127.0.0.1:{port}/api/v2/account/details",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        children = poll(lambda: _descendants(proc.pid), lambda c: len(c) >= 2, timeout=30)
        proc.send_signal(stop)                                  # Ctrl-C, or the terminal closed
        out, _ = proc.communicate(timeout=30)
        # where the token is, not what it is, in the banner (a scrollback or a CI log keeps it)
        assert token not in out and str(tmp_path / "admin-token") in out
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in children if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()


def _ping(port: int):
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v2/ping", timeout=2).status_code
    except httpx.HTTPError:
        return None


def _stack_processes(home: Path) -> list[int]:
    """Every process that belongs to the stack of `home`: its own processes (command lines
    naming the home or its work directory) and a phase's (cwd below the work directory)."""
    import hashlib
    work = f"terraless-{hashlib.sha256(str(home).encode()).hexdigest()[:10]}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (str(home) in cmdline or work in cmdline or work in cwd) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_sigkill_of_the_whole_stack_loses_nothing_acknowledged(tmp_path):
    """The dev stack SIGKILLed (its whole process group) in the middle of an apply, then started
    again on the same home: every acknowledged object is back, the interrupted run errored with
    the restart as its reason, the run queued behind it proceeds, nothing ran twice, and no
    process of the old stack outlived it."""
    home = tmp_path / "home"
    home.mkdir()
    stack = launch_dev_stack(home)
    http = stack_http(stack)
    ws = make_workspace(http, "durable", "kept", **{"auto-apply": True})
    cv = upload_config(http, ws, {"main.tf": 'resource "null_resource" "kept" {}\n'})
    applied = start_run(http, ws, "applied before the kill")
    assert poll(lambda: run_attrs(http, applied)["status"], lambda s: s in ("applied", "errored"),
                timeout=120) == "applied"
    state = http.get(f"/api/v2/workspaces/{ws}/current-state-version").json()["data"]
    state_body = httpx.get(state["attributes"]["hosted-state-download-url"],
                           headers=stack.headers).content
    team_token = http.post("/api/v2/organizations/durable/authentication-token").json()["data"]
    log_url = http.get(f"/api/v2/runs/{applied}/apply").json()["data"]["attributes"]["log-read-url"]
    log_before = httpx.get(log_url).text
    # a sensitive variable sealed before the kill (its KMS key must come back with the stack)
    assert http.post(f"/api/v2/workspaces/{ws}/vars", json={"data": {"type": "vars", "attributes": {
        "key": "KEPT_SECRET", "value": "sealed-before-the-kill", "category": "env",
        "sensitive": True}}}).status_code == 201

    # a renamed organization: its name claim moved in one transaction, replayed as one
    make_workspace(http, "first-name", "any")
    assert http.patch("/api/v2/organizations/first-name", json={"data": {"attributes": {
        "name": "second-name"}}}).status_code == 200

    busy = make_workspace(http, "durable", "busy", **{"auto-apply": True})
    upload_config(http, busy, {"main.tf": 'resource "null_resource" "slow" {\n  provisioner "local-exec" {\n'
                                          '    command = "sleep 97"\n  }\n}\n'})
    interrupted = start_run(http, busy, "killed mid-apply")
    follower = start_run(http, busy, "queued behind it", **{"auto-apply": False})
    poll(lambda: run_attrs(http, interrupted)["status"], lambda s: s == "applying", timeout=120)
    poll(lambda: httpx.get(http.get(f"/api/v2/runs/{interrupted}/apply").json()["data"]["attributes"]
                           ["log-read-url"]).text, lambda t: "local-exec" in t, timeout=60)
    assert _stack_processes(home)

    os.killpg(stack.proc.pid, signal.SIGKILL)
    stack.proc.wait(timeout=10)
    left = poll(lambda: _stack_processes(home), lambda p: p == [], timeout=20)
    assert left == []

    again = launch_dev_stack(home, stack.ports)
    try:
        http = stack_http(again)
        assert http.get(f"/api/v2/workspaces/{ws}").json()["data"]["attributes"]["name"] == "kept"
        assert http.get(f"/api/v2/configuration-versions/{cv}").json()["data"]["attributes"]["status"] == "uploaded"
        assert run_attrs(http, applied)["status"] == "applied"
        assert httpx.get(log_url).text == log_before
        kept = http.get(f"/api/v2/workspaces/{ws}/current-state-version").json()["data"]
        assert kept["id"] == state["id"]
        assert httpx.get(kept["attributes"]["hosted-state-download-url"],
                         headers=again.headers).content == state_body
        versions = http.get(f"/api/v2/workspaces/{ws}/state-versions").json()["data"]
        assert [v["id"] for v in versions] == [state["id"]]          # nothing applied twice
        member = httpx.get(f"{again.url}/api/v2/organizations/durable",
                           headers={"Authorization": f"Bearer {team_token['attributes']['token']}"})
        assert member.status_code == 200                            # the token still works
        assert http.get("/api/v2/organizations/first-name").status_code == 404
        assert http.get("/api/v2/organizations/second-name/workspaces/any").status_code == 200

        lost = run_attrs(http, interrupted)
        assert lost["status"] == "errored" and "restarted" in lost["error-text"]
        assert poll(lambda: run_attrs(http, follower)["status"], lambda s: s in ("planned", "errored"),
                    timeout=120) == "planned"
        assert http.post(f"/api/v2/runs/{follower}/actions/apply").status_code == 202
        assert poll(lambda: run_attrs(http, follower)["status"], lambda s: s in ("applied", "errored"),
                    timeout=180) == "applied"
        # the sealed value opens after the restart: a new run's provisioner sees it
        upload_config(http, ws, {"main.tf": 'resource "null_resource" "kept" {}\n'
                                            'resource "null_resource" "secret" {\n  provisioner "local-exec" {\n'
                                            '    command = "echo secret-length=$${#KEPT_SECRET}"\n  }\n}\n'})
        after = start_run(http, ws, "after the restart")
        assert poll(lambda: run_attrs(http, after)["status"], lambda s: s in ("applied", "errored"),
                    timeout=120) == "applied", run_attrs(http, after)
        apply_log = httpx.get(http.get(f"/api/v2/runs/{after}/apply").json()["data"]["attributes"]
                              ["log-read-url"]).text
        assert f"secret-length={len('sealed-before-the-kill')}" in apply_log
    finally:
        stop_dev_stack(again)
    assert poll(lambda: _stack_processes(home), lambda p: p == [], timeout=20) == []
