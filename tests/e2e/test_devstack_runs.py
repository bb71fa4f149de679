"""The run engine through the dev stack: HashiCorp's Python SDK (the shared acceptance script),
and a worker process killed in the middle of an apply."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, make_tgz, poll

pytestmark = pytest.mark.e2e
ACCEPTANCE = ROOT.parent / "shared" / "acceptance" / "accept_pytfe.py"


@pytest.mark.skipif(not ACCEPTANCE.exists(), reason="the shared acceptance script is not present")
@pytest.mark.parametrize("with_null", ["0", "1"], ids=["outputs-only", "with-null-resource"])
def test_pytfe_acceptance_script_passes(dev_stack, with_null):
    env = dict(os.environ, TFE_ADDRESS=dev_stack.url, TFE_TOKEN=dev_stack.token,
               WITH_NULL_RESOURCE=with_null, CHECK_LOCK="1", POLL_TIMEOUT="120",
               ORG="acceptance", WORKSPACE=f"accept-pytfe-{with_null}")
    done = subprocess.run([sys.executable, str(ACCEPTANCE)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout


def _api(dev_stack):
    return httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers, timeout=30)


def _workspace(http, org, name, **attrs):
    if http.get(f"/api/v2/organizations/{org}").status_code == 404:
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": org, "email": "e@e.e"}}})
    resp = http.post(f"/api/v2/organizations/{org}/workspaces",
                     json={"data": {"attributes": {"name": name, **attrs}}})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]["id"]


def _upload(http, ws, files):
    cv = http.post(f"/api/v2/workspaces/{ws}/configuration-versions",
                   json={"data": {"attributes": {"auto-queue-runs": False}}}).json()["data"]
    assert httpx.put(cv["attributes"]["upload-url"], content=make_tgz(files)).status_code == 200
    poll(lambda: http.get(f"/api/v2/configuration-versions/{cv['id']}").json()["data"]["attributes"]["status"],
         lambda s: s == "uploaded", timeout=30)
    return cv["id"]


def _run(http, ws, message, **attrs):
    resp = http.post("/api/v2/runs", json={"data": {"attributes": {"message": message, **attrs},
                     "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]["id"]


def _status(http, run_id):
    return http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]


def _processes_running(command: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip() \
                    == command.encode():
                out.append(int(entry.name))
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has ended)."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except OSError:
        return False


def test_a_killed_worker_errors_its_run_within_the_heartbeat_and_the_queue_moves_on(dev_stack):
    http = _api(dev_stack)
    ws = _workspace(http, "e2e-runs", "killed-worker", **{"auto-apply": True})
    _upload(http, ws, {"main.tf": 'resource "null_resource" "slow" {\n  provisioner "local-exec" {\n'
                                  '    command = "sleep 60"\n  }\n}\n'})
    victim = _run(http, ws, "this worker will be killed")
    follower = _run(http, ws, "queued behind it", **{"auto-apply": False})
    poll(lambda: _status(http, victim)["status"], lambda s: s == "applying", timeout=60)
    log_url = http.get(f"/api/v2/runs/{victim}/apply").json()["data"]["attributes"]["log-read-url"]
    # the live log shows terraform's progress while the apply runs
    poll(lambda: httpx.get(log_url).text, lambda t: "local-exec" in t, timeout=30)
    ddb = dev_stack.aws_client("dynamodb")
    worker = ddb.get_item(TableName="terraless-runs", Key={"id": {"S": victim}})["Item"]["worker"]["S"]
    pid = int(worker.rsplit(":", 1)[1])
    assert pid != dev_stack.proc.pid
    sleepers = _processes_running("sleep 60")
    assert sleepers, "the provisioner's command runs before the worker is killed"
    os.kill(pid, signal.SIGKILL)
    # nothing of the phase outlives its worker: terraform dies with it, and the dev stack
    # ends what terraform had started (the provisioner's sleep would run on for a minute)
    poll(lambda: [p for p in sleepers if _alive(p)], lambda alive: alive == [], timeout=15)
    final = poll(lambda: _status(http, victim), lambda a: a["status"] != "applying", timeout=60)
    assert final["status"] == "errored" and "heartbeat" in final["error-text"]
    assert poll(lambda: _status(http, follower)["status"], lambda s: s in ("planned", "errored"),
                timeout=60) == "planned"
    assert http.post(f"/api/v2/runs/{follower}/actions/discard").status_code == 202
