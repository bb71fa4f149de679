"""Code inside a run is the tenant's code. Through the dev stack, with real terraform and bash,
a run's `local-exec`, a plan-only run's `file()` and a Terrakube BASH step each try to reach
what the service holds — on a stack run by root (phases as the runner user) and on one run by
an unprivileged user (phases in the runner's own user-namespace sandbox): every ancestor's environment, the stack's home (admin token, signing
secret, TLS key, logs), the emulator and the API ports, and the provider mirror and CLI
configuration that other tenants' later runs use. Each attempt must fail; a normal run on the
same stack still plans and applies."""
import base64
import hashlib
import os
import re
from urllib.parse import urlparse

import httpx
import pytest

from conftest import engine_through_dev_stack, poll

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    os.geteuid() != 0, reason="starts one stack as root and one as an unprivileged user")]

SECRET_FILES = ("admin-token", "signing-secret", "dev.log", "moto.log", "terraform.rc", "tls/key.pem")


def probe_script(stack, other_phase: str = "plan-none") -> str:
    """Bash that reports each attempt as one `ISO ...` line (no `${` or `%{`: it sits in HCL).
    Besides the service's files, environment and ports, it finds its phase's own runner
    credential (in the runner's environment, like HCP Terraform's run token) and the runner
    API's socket, and uses them: for its own phase (works), for another organization's phase,
    for the normal API, and forged."""
    work = "/tmp/terraless-" + hashlib.sha256(str(stack.home.resolve()).encode()).hexdigest()[:10]
    mirror = f"{work}/terraform/mirror/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64"
    moto_port = urlparse(stack.aws_endpoint).port
    api_port = urlparse(stack.url).port
    files = " ".join(SECRET_FILES)
    return f"""
echo "ISO uid=$(id -u)"
cred=""
# the host's pid of this shell (its $$ counts in the phase's own PID namespace; /proc is the host's)
pid=$(awk '/^PPid/ {{print $2}}' /proc/self/status)
while [ "$pid" -ge 1 ]; do
  if cat /proc/$pid/environ > /dev/null 2>&1; then
    if tr '\\0' '\\n' < /proc/$pid/environ | grep -q -e '^TERRALESS_' -e '^AWS_'; then echo "ISO environ-leak $pid"; fi
    found=$(tr '\\0' '\\n' < /proc/$pid/environ | sed -n 's/^PHASE_CREDENTIAL=//p')
    if [ -n "$found" ]; then cred=$found; fi
  else
    echo "ISO environ-denied $pid"
  fi
  pid=$(awk '/^PPid/ {{print $2}}' /proc/$pid/status)
done
for f in {files}; do
  if cat "{stack.home}/$f" > /dev/null 2>&1; then echo "ISO read $f"; else echo "ISO denied $f"; fi
done
if [ -n "$(ls -A "{stack.home}" 2> /dev/null)" ]; then echo "ISO listed home"; fi
if [ -e /proc/{stack.proc.pid} ]; then echo "ISO sees-stack"; fi
for env in /proc/[0-9]*/environ; do
  if tr '\\0' '\\n' 2> /dev/null < "$env" | grep -q -e '^TERRALESS_' -e '^AWS_'; then echo "ISO environ-leak $env"; fi
done
if (exec 3<> /dev/tcp/127.0.0.1/{moto_port}) 2> /dev/null; then echo "ISO reached emulator"; else echo "ISO no emulator"; fi
if (exec 3<> /dev/tcp/127.0.0.1/{api_port}) 2> /dev/null; then echo "ISO reached api"; else echo "ISO no api"; fi
if echo x >> "{work}/terraform/terraformrc" 2> /dev/null; then echo "ISO wrote cli-config"; else echo "ISO denied cli-config"; fi
if touch "{mirror}/x" 2> /dev/null; then echo "ISO wrote mirror"; else echo "ISO denied mirror"; fi
if ln -sf /bin/true "{mirror}/terraform-provider-null_v2.1.2_x4" 2> /dev/null; then echo "ISO replaced provider"; fi
for f in {work}/runner/*/terraless_runner/main.py; do
  if echo x >> "$f" 2> /dev/null; then echo "ISO wrote runner code"; else echo "ISO denied runner code"; fi
done
echo "ISO credential $cred"
sock="$(dirname "$TMPDIR")/api.sock"
own=$(printf '%s' "$cred" | cut -d. -f2 | /usr/bin/python3 -c 'import sys, base64, json; s = sys.stdin.read().strip(); print(json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))[2])')
status() {{ curl -s -i --unix-socket "$sock" -H "Authorization: Bearer $1" "http://api$2" | head -1 | cut -d' ' -f2; }}
echo "ISO own-phase $(status "$cred" /api/runner/v1/phases/$own/signal)"
echo "ISO other-phase $(status "$cred" /api/runner/v1/phases/{other_phase}/state)"
echo "ISO other-phase-config $(status "$cred" /api/runner/v1/phases/{other_phase}/configuration)"
echo "ISO user-api $(status "$cred" /api/v2/organizations)"
echo "ISO forged $(status "$cred"x /api/runner/v1/phases/$own/state)"
echo "ISO done"
"""


def assert_contained(stack, output: str) -> str:
    """Asserts every attempt failed; returns the phase credential the probe found (its own)."""
    # terraform prefixes a provisioner's lines ("null_resource.probe (local-exec): ISO ...")
    # and echoes the whole script once ("Executing: [...]"), which is not a report
    lines = {m.group(1) for line in output.splitlines()
             if (m := re.search(r"(?:^|\): )(ISO [\w=./ -]+)$", line.strip()))}
    assert "ISO done" in lines, output
    assert "ISO uid=0" not in lines and any(line.startswith("ISO uid=") for line in lines)
    assert not [line for line in lines if "environ-leak" in line]
    # the chain of ancestors reached a process of the service and was refused, or (the
    # unprivileged stack's phases have a /proc of their own) no process of the stack is visible
    assert [line for line in lines if "environ-denied" in line] or "ISO sees-stack" not in lines, \
        "the chain reached no process of the service"
    assert {f"ISO denied {f}" for f in SECRET_FILES} <= lines
    assert "ISO listed home" not in lines
    assert {"ISO no emulator", "ISO no api", "ISO denied cli-config", "ISO denied mirror"} <= lines
    assert "ISO replaced provider" not in lines
    for secret in ("admin-token", "signing-secret"):
        assert (stack.home / secret).read_text().strip() not in output
    assert "ISO wrote runner code" not in lines and "ISO denied runner code" in lines
    # its own credential works for its own phase, while it runs, and nowhere else
    assert {"ISO own-phase 200", "ISO other-phase 404", "ISO other-phase-config 404",
            "ISO user-api 401", "ISO forged 401"} <= lines, sorted(lines)
    credential = next(line.split(" ", 2)[2] for line in lines if line.startswith("ISO credential "))
    assert credential.startswith("trl1.")
    return credential


def assert_dead_after_phase(stack, credential: str) -> None:
    """The phase is over: its credential is refused for its own phase too."""
    import base64 as b64
    import json
    payload = credential.split(".")[1]
    phase_id = json.loads(b64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[2]
    # the run may show its outcome a moment before the report's last write closes the lease
    poll(lambda: httpx.get(f"{stack.url}/api/runner/v1/phases/{phase_id}/signal", timeout=10,
                           headers={"Authorization": f"Bearer {credential}"}).status_code,
         lambda status: status == 401, timeout=15)
    for what in ("signal", "state", "configuration"):
        resp = httpx.get(f"{stack.url}/api/runner/v1/phases/{phase_id}/{what}",
                         headers={"Authorization": f"Bearer {credential}"}, timeout=10)
        assert resp.status_code == 401, (what, phase_id, resp.text)   # the report closed the lease
    resp = httpx.post(f"{stack.url}/api/runner/v1/phases/{phase_id}/outcome", json={"ok": True},
                      headers={"Authorization": f"Bearer {credential}"}, timeout=10)
    assert resp.status_code == 401, resp.text


@pytest.fixture(params=["root", "unprivileged"])
def stack(request):
    return request.getfixturevalue("dev_stack" if request.param == "root" else "unprivileged_stack")


@pytest.fixture
def engine(request, stack):
    return engine_through_dev_stack(request, org="isolation-e2e", stack=stack)


@pytest.fixture
def victim(request, stack):
    """Another organization with a workspace, state (an applied run) and a team token."""
    other = engine_through_dev_stack(request, org="isolation-victim", stack=stack)
    other.upload({"main.tf": 'resource "null_resource" "mine" {}\n'})
    run_id = other.create(**{"auto-apply": True})
    assert other.wait(run_id, "applied", "errored", timeout=120) == "applied"
    return other.get(run_id)["relationships"]["apply"]["data"]["id"]


def log_of(engine, phase_url: str) -> str:
    phase = engine.api.get(phase_url).json["data"]
    return httpx.get(phase["attributes"]["log-read-url"], timeout=10).text


def test_a_local_exec_provisioner_reaches_nothing_of_the_service(engine, stack, victim):
    script = probe_script(stack, victim)
    engine.upload({"main.tf": 'resource "null_resource" "probe" {\n  provisioner "local-exec" {\n'
                              '    interpreter = ["/bin/bash", "-c"]\n'
                              f'    command = <<EOT\n{script}\nEOT\n  }}\n}}\n'})
    run_id = engine.create(**{"auto-apply": True})
    assert engine.wait(run_id, "applied", "errored", timeout=120) == "applied", \
        log_of(engine, f"/api/v2/runs/{run_id}/apply")[-4000:]
    credential = assert_contained(stack, log_of(engine, f"/api/v2/runs/{run_id}/apply"))
    assert_dead_after_phase(stack, credential)


def test_a_plan_only_run_cannot_read_the_service_files_with_file(engine, stack):
    token = (stack.home / "admin-token").read_text().strip()
    engine.upload({"main.tf": f'output "stolen" {{\n  value = file("{stack.home}/admin-token")\n}}\n'})
    run_id = engine.create(**{"plan-only": True})
    assert engine.wait(run_id, "errored", "planned_and_finished", timeout=120) == "errored"
    log = log_of(engine, f"/api/v2/runs/{run_id}/plan")
    # terraform wraps its error message at the terminal width: compare words, not lines;
    # root's runner user is refused the file; in the unprivileged stack's sandbox there is none
    words = " ".join(log.lower().split())
    assert ("permission denied" in words or "no file exists" in words) and token not in log, words


def test_a_terrakube_bash_step_reaches_nothing_of_the_service(engine, stack, victim):
    engine.upload({"main.tf": 'resource "null_resource" "one" {}\n'})
    script = probe_script(stack, victim).replace("\n", "\n          ")
    flow = ("flow:\n  - type: customScripts\n    name: Probe\n    step: 100\n    commands:\n"
            "      - runtime: BASH\n        priority: 1\n        script: |\n          " + script + "\n")
    created = engine.api.post(f"/api/v1/workspace/{engine.ws}/job", {"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(flow.encode()).decode()}}})
    assert created.status_code == 201, created.body
    job_id = created.json["data"]["id"]
    path = f"/api/v1/workspace/{engine.ws}/job/{job_id}"
    status = poll(lambda: engine.api.get(path).json["data"]["attributes"]["status"],
                  lambda s: s in ("completed", "failed"), timeout=120)
    output = engine.api.get(path).json["data"]["attributes"]["output"]
    assert status == "completed", output
    assert_dead_after_phase(stack, assert_contained(stack, output))


def test_a_normal_run_on_the_same_stack_still_plans_and_applies(engine):
    engine.upload({"main.tf": 'resource "null_resource" "fine" {}\n'})
    run_id = engine.create()
    assert engine.wait(run_id, "planned", "errored", timeout=120) == "planned"
    assert engine.api.post(f"/api/v2/runs/{run_id}/actions/apply", {}).status_code == 202
    assert engine.wait(run_id, "applied", "errored", timeout=120) == "applied"
