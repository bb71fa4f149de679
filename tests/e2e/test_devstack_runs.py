"""The run engine through the dev stack: HashiCorp's Python SDK (the shared acceptance script),
and a worker process killed in the middle of an apply."""
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, make_workspace, poll, run_attrs, stack_http, start_run, upload_config

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


def _descends_from(pid: int, ancestor: int) -> bool:
    """pid is ancestor's child, grandchild, …: the processes of this dev stack, not of another
    test run on the same machine."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        pid = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
    return False


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has ended)."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except OSError:
        return False


def _apply_worker_pid(dev_stack, run_id: str) -> int:
    """The process of the worker that holds a run's apply (its phase records it as host:pid)."""
    item = dev_stack.aws_client("dynamodb").get_item(TableName="terraless-runs", Key={"id": {"S": run_id}})["Item"]
    return int(item["apply"]["M"]["worker"]["S"].rsplit(":", 1)[1])


def test_a_killed_worker_errors_its_run_within_the_heartbeat_and_the_queue_moves_on(dev_stack):
    http = stack_http(dev_stack)
    ws = make_workspace(http, "e2e-runs", "killed-worker", **{"auto-apply": True})
    upload_config(http, ws, {"main.tf": 'resource "null_resource" "slow" {\n  provisioner "local-exec" {\n'
                                  '    command = "sleep 60"\n  }\n}\n'})
    victim = start_run(http, ws, "this worker will be killed")
    follower = start_run(http, ws, "queued behind it", **{"auto-apply": False})
    poll(lambda: run_attrs(http, victim)["status"], lambda s: s == "applying", timeout=60)
    log_url = http.get(f"/api/v2/runs/{victim}/apply").json()["data"]["attributes"]["log-read-url"]
    # the live log shows terraform's progress while the apply runs
    poll(lambda: httpx.get(log_url).text, lambda t: "local-exec" in t, timeout=30)
    pid = _apply_worker_pid(dev_stack, victim)
    assert pid != dev_stack.proc.pid
    sleepers = [p for p in _processes_running("sleep 60") if _descends_from(p, dev_stack.proc.pid)]
    assert sleepers, "the provisioner's command runs before the worker is killed"
    import hashlib
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"terraless-{hashlib.sha256(str(dev_stack.home).encode()).hexdigest()[:10]}"
    assert list(work.glob(f"runs/{victim}-*")), "the apply's phase directory exists"
    os.kill(pid, signal.SIGKILL)
    # nothing of the phase outlives its worker: terraform dies with it, and the dev stack
    # ends what terraform had started (the provisioner's sleep would run on for a minute)
    poll(lambda: [p for p in sleepers if _alive(p)], lambda alive: alive == [], timeout=15)
    final = poll(lambda: run_attrs(http, victim), lambda a: a["status"] != "applying", timeout=60)
    assert final["status"] == "errored" and "heartbeat" in final["error-text"]
    # the phase directory the killed worker could not remove is removed by the stack
    assert poll(lambda: list(work.glob(f"runs/{victim}-*")), lambda dirs: dirs == [], timeout=15) == []
    assert poll(lambda: run_attrs(http, follower)["status"], lambda s: s in ("planned", "errored"),
                timeout=60) == "planned"
    assert http.post(f"/api/v2/runs/{follower}/actions/discard").status_code == 202


def _slow_apply_tf(seconds: int) -> str:
    return ('resource "null_resource" "slow" {\n  provisioner "local-exec" {\n'
            f'    command = "sleep {seconds}"\n  }}\n}}\n')


def _final(http, run_ids, timeout):
    return {r: poll(lambda r=r: run_attrs(http, r)["status"], lambda s: s in ("applied", "errored"),
                    timeout=timeout) for r in run_ids}


def test_runs_waiting_for_a_worker_past_the_heartbeat_all_apply(dev_stack):
    """The stack's 3 workers and 10 s heartbeat: 8 workspaces each applying for 12 s, so most
    runs wait for a worker well past the heartbeat. Waiting is not a lost worker: all apply
    (before the lease clock started at pickup, 6 of 8 errored)."""
    http = stack_http(dev_stack)
    tag = uuid.uuid4().hex[:6]
    spaces = [make_workspace(http, "e2e-load", f"slow-{tag}-{i}", **{"auto-apply": True}) for i in range(8)]
    for ws in spaces:
        upload_config(http, ws, {"main.tf": _slow_apply_tf(12)})
    runs = [start_run(http, ws, "a slow apply") for ws in spaces]
    final = _final(http, runs, timeout=400)
    assert list(final.values()) == ["applied"] * 8, {r: run_attrs(http, r).get("error-text") for r in runs}


def test_a_burst_of_quick_runs_under_read_load_beside_a_long_apply(dev_stack):
    """One 25 s apply on one workspace, then 30 quick runs across 10 others while a reader
    keeps listing: every run applies, the long one included."""
    http = stack_http(dev_stack)
    tag = uuid.uuid4().hex[:6]
    long_ws = make_workspace(http, "e2e-load", f"long-{tag}", **{"auto-apply": True})
    upload_config(http, long_ws, {"main.tf": _slow_apply_tf(25)})
    long_run = start_run(http, long_ws, "a long apply")
    spaces = [make_workspace(http, "e2e-load", f"quick-{tag}-{i}", **{"auto-apply": True}) for i in range(10)]
    for ws in spaces:
        # replaced at every run (so each of a workspace's runs applies, none is a no-op)
        upload_config(http, ws, {"main.tf": 'resource "null_resource" "quick" {\n'
                                            '  triggers = { at = timestamp() }\n}\n'})
    stop, read_errors, reads = threading.Event(), [], [0]

    def read_load():
        with stack_http(dev_stack) as reader:
            while not stop.is_set():
                resp = reader.get(f"/api/v2/workspaces/{spaces[reads[0] % 10]}/runs")
                reads[0] += 1
                if resp.status_code != 200:
                    read_errors.append(resp.status_code)
                stop.wait(0.1)
    reader = threading.Thread(target=read_load, daemon=True)
    reader.start()
    try:
        burst = [start_run(http, spaces[i % 10], f"quick {i}") for i in range(30)]
        final = _final(http, [long_run] + burst, timeout=600)
    finally:
        stop.set()
        reader.join(timeout=30)
    assert list(final.values()) == ["applied"] * 31, {r: run_attrs(http, r).get("error-text")
                                                      for r, s in final.items() if s != "applied"}
    assert reads[0] > 0 and read_errors == []


def test_a_worker_lost_mid_apply_leaves_what_it_created_in_state(dev_stack):
    """The apply's first resource is created, the second's provisioner runs when the worker is
    SIGKILLed: the first is already in the workspace's stored state (the runner checkpoints
    terraform's state while it applies), so the next plan adds only the second."""
    http = stack_http(dev_stack)
    ws = make_workspace(http, "e2e-runs", f"partial-{uuid.uuid4().hex[:6]}", **{"auto-apply": True})
    upload_config(http, ws, {"main.tf": 'resource "null_resource" "first" {}\n'
                                        'resource "null_resource" "second" {\n'
                                        '  depends_on = [null_resource.first]\n'
                                        '  provisioner "local-exec" {\n    command = "sleep 91"\n  }\n}\n'})
    victim = start_run(http, ws, "lost mid-apply")
    poll(lambda: run_attrs(http, victim)["status"], lambda s: s == "applying", timeout=90)

    def stored_resources():
        current = http.get(f"/api/v2/workspaces/{ws}/current-state-version")
        if current.status_code != 200:
            return []
        body = httpx.get(current.json()["data"]["attributes"]["hosted-state-download-url"],
                         headers=dev_stack.headers).json()
        return [r["name"] for r in body.get("resources", [])]
    assert "first" in poll(stored_resources, lambda names: "first" in names, timeout=60)
    sleepers = poll(lambda: _processes_running("sleep 91"), bool, timeout=30)
    os.kill(_apply_worker_pid(dev_stack, victim), signal.SIGKILL)
    poll(lambda: [p for p in sleepers if _alive(p)], lambda alive: alive == [], timeout=15)
    final = poll(lambda: run_attrs(http, victim), lambda a: a["status"] != "applying", timeout=60)
    assert final["status"] == "errored"

    after = start_run(http, ws, "after the loss", **{"auto-apply": False})
    assert poll(lambda: run_attrs(http, after)["status"], lambda s: s in ("planned", "errored"),
                timeout=90) == "planned"
    plan = http.get(f"/api/v2/runs/{after}/plan").json()["data"]["attributes"]
    assert plan["resource-additions"] == 1          # `second` only: `first` is kept
    assert http.post(f"/api/v2/runs/{after}/actions/discard").status_code == 202
