"""OpenTofu (built from its Go module by tests/peers) against the dev stack over HTTPS: the
`cloud` block by workspace name (credentials from TF_TOKEN_<host>, and from the CLI
configuration), by tags (`tofu workspace new | list | select`), the `remote` backend, and a
remote plan cancelled with Ctrl-C (the remote backend; with the cloud block
Ctrl-C stops only the streaming, as OpenTofu says). The workspaces OpenTofu creates run OpenTofu on the workers."""
import base64
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import CliDir, poll, slow_plan_tf, upload_config

pytestmark = pytest.mark.e2e
ORG = "tofu-e2e"

CLOUD_BY_NAME = """
terraform {{
  cloud {{
    hostname     = "{host}"
    organization = "{org}"
    workspaces {{
      name = "{workspace}"
    }}
  }}
}}
"""
CLOUD_BY_TAGS = """
terraform {{
  cloud {{
    hostname     = "{host}"
    organization = "{org}"
    workspaces {{
      tags = ["app", "team:infra"]
    }}
  }}
}}
"""
REMOTE = """
terraform {{
  backend "remote" {{
    hostname     = "{host}"
    organization = "{org}"
    workspaces {{
      name = "{workspace}"
    }}
  }}
}}
"""
DEMO = """
resource "null_resource" "demo" {}
output "greeting" { value = "hello from tofu" }
"""


class Tofu(CliDir):
    """A directory with a configuration and OpenTofu's environment for it."""

    def __init__(self, binary: Path, dev_stack, work: Path, header: str, body: str, *,
                 token_from_env: bool = False, workspace: str = "") -> None:
        info = json.loads((dev_stack.home / "dev.json").read_text())
        self.host = info["tls_api"].removeprefix("https://")
        self.binary, self.work = str(binary), work
        (work / "main.tf").write_text(header.format(host=self.host, org=ORG, workspace=workspace) + body)
        config = Path(info["terraform_cli_config"]).read_text()
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "SSL_CERT_FILE": info["tls_cert"],
                    "TF_IN_AUTOMATION": "1", "NO_COLOR": "1", "TF_CLI_CONFIG_FILE": str(work / "tofu.rc")}
        if token_from_env:
            # the host's credentials from the environment only: the CLI configuration holds none
            config = re.sub(r'credentials "[^"]+" \{[^}]*\}\n', "", config)
            self.env[f"TF_TOKEN_{self.host}"] = dev_stack.token
        (work / "tofu.rc").write_text(config)


@pytest.fixture(scope="module")
def http(dev_stack):
    client = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers, timeout=30)
    if client.get(f"/api/v2/organizations/{ORG}").status_code == 404:
        client.post("/api/v2/organizations", json={"data": {"attributes": {"name": ORG, "email": "t@t.t"}}})
    return client


@pytest.fixture
def tofu(tofu_bin, dev_stack, http, tmp_path):
    def make(header: str, body: str = DEMO, **kw) -> Tofu:
        return Tofu(tofu_bin, dev_stack, tmp_path, header, body, **kw)
    return make


def _workspace(http, name):
    return http.get(f"/api/v2/organizations/{ORG}/workspaces/{name}").json()["data"]


def _workflow(project, started_in: str) -> None:
    assert "successfully initialized" in project("init", "-input=false", "-no-color")
    out = project("plan", "-no-color", "-input=false")
    assert started_in in out
    # streamed from the worker's log: OpenTofu ran there, not terraform
    assert "OpenTofu v" in out and "Plan: 1 to add, 0 to change, 0 to destroy." in out
    out = project("apply", "-no-color", "-auto-approve")
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in out
    assert project("output", "-raw", "greeting").strip() == "hello from tofu"
    assert project("state", "list").split() == ["null_resource.demo"]
    state = json.loads(project("state", "pull"))
    assert state["resources"][0]["type"] == "null_resource" and state["serial"] >= 1
    assert "No changes." in project("plan", "-no-color", "-input=false")
    # a state write from the CLI itself (locks the workspace, pushes a new version: the cloud
    # block through the two-step upload, the remote backend with the state in the request)
    assert "Successfully moved 1 object" in project("state", "mv", "null_resource.demo", "null_resource.moved")
    assert project("state", "list").split() == ["null_resource.moved"]
    assert json.loads(project("state", "pull"))["serial"] == state["serial"] + 1
    out = project("destroy", "-no-color", "-auto-approve")
    assert "Resources: 0 added, 0 changed, 1 destroyed." in out
    assert project("state", "list").split() == []


@pytest.mark.parametrize("token_from_env", [True, False], ids=["TF_TOKEN", "cli-config"])
def test_cloud_block_by_name(tofu, tofu_bin, http, token_from_env):
    name = f"by-name-{'env' if token_from_env else 'rc'}"
    _workflow(tofu(CLOUD_BY_NAME, workspace=name, token_from_env=token_from_env), "cloud backend")
    ws = _workspace(http, name)
    assert ws["attributes"]["engine"] == "tofu"          # created by OpenTofu, runs OpenTofu
    run = http.get(f"/api/v2/workspaces/{ws['id']}/runs").json()["data"][0]
    local = json.loads(subprocess.run([tofu_bin, "version", "-json"], capture_output=True, text=True,
                                      env={"TF_CLI_CONFIG_FILE": "/dev/null"}).stdout)
    assert run["attributes"]["terraform-version"] == local["terraform_version"]
    # the CLI's own state write (state mv) came by the two-step upload, its JSON state with it
    versions = http.get(f"/api/v2/workspaces/{ws['id']}/state-versions").json()["data"]
    uploaded = [v for v in versions if v["attributes"]["hosted-json-state-download-url"]]
    assert len(uploaded) == 1 and uploaded[0]["attributes"]["status"] == "finalized"


def test_without_a_token_nothing_is_reached(tofu, http):
    project = tofu(CLOUD_BY_NAME, workspace="no-token", token_from_env=True)
    project.env.pop(f"TF_TOKEN_{project.host}")
    assert "Required token could not be found" in project("init", "-input=false", "-no-color", expect=1)
    assert http.get(f"/api/v2/organizations/{ORG}/workspaces/no-token").status_code == 404


def test_cloud_block_by_tags_and_tofu_workspaces(tofu, http):
    project = tofu(CLOUD_BY_TAGS, 'resource "null_resource" "t" {}\n')
    # no workspace has the tags yet: init asks for the first one's name
    assert "successfully initialized" in project("init", "-no-color", stdin="blue\n")
    project("workspace", "new", "green", "-no-color")
    listed = project("workspace", "list", "-no-color").split()
    assert listed == ["blue", "*", "green"]
    assert 'Switched to workspace "blue"' in project("workspace", "select", "blue", "-no-color")
    assert "Plan: 1 to add" in project("plan", "-no-color", "-input=false")
    tagged = http.get(f"/api/v2/organizations/{ORG}/workspaces?search%5Btags%5D=app,team:infra").json()["data"]
    assert {w["attributes"]["name"]: w["attributes"]["tag-names"] for w in tagged} == {
        "blue": ["app", "team:infra"], "green": ["app", "team:infra"]}
    # a workspace without both tags is not one of this configuration's
    http.post(f"/api/v2/organizations/{ORG}/workspaces", json={"data": {"attributes": {
        "name": "only-app", "tag-names": ["app"]}}})
    assert project("workspace", "list", "-no-color").split() == ["*", "blue", "green"]


def test_remote_backend(tofu, http):
    _workflow(tofu(REMOTE, workspace="remote-backend"), "remote backend")
    assert _workspace(http, "remote-backend")["attributes"]["engine"] == "tofu"


def _planning_run(http, name):
    ws = http.get(f"/api/v2/organizations/{ORG}/workspaces/{name}")
    if ws.status_code != 200:
        return None
    runs = http.get(f"/api/v2/workspaces/{ws.json()['data']['id']}/runs").json()["data"]
    return runs[0] if runs and runs[0]["attributes"]["status"] == "planning" else None


def _status(http, run_id):
    return http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]["status"]


def test_ctrl_c_cancels_the_remote_plan_of_the_remote_backend(tofu, http, slow_state):
    project = tofu(REMOTE, slow_plan_tf(slow_state), workspace="ctrl-c")
    project("init", "-input=false", "-no-color")
    proc = project.start("plan", "-no-color")
    run = poll(lambda: _planning_run(http, "ctrl-c"), bool, timeout=90, interval=0.2)
    os.killpg(proc.pid, signal.SIGINT)        # Ctrl-C; the CLI asks, and we confirm
    out, _ = proc.communicate(input="yes\n", timeout=120)
    assert "successfully cancelled" in out, out
    assert poll(lambda: _status(http, run["id"]), lambda s: s != "planning", timeout=60) == "canceled"


def test_ctrl_c_only_stops_streaming_with_the_cloud_block(tofu, http, slow_state):
    """As OpenTofu says when the plan starts: "Pressing Ctrl-C will stop streaming the logs,
    but will not stop the plan running remotely" — the run goes on."""
    project = tofu(CLOUD_BY_NAME, slow_plan_tf(slow_state), workspace="ctrl-c-cloud")
    project("init", "-input=false", "-no-color")
    proc = project.start("plan", "-no-color")
    run = poll(lambda: _planning_run(http, "ctrl-c-cloud"), bool, timeout=90, interval=0.2)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert "will not stop the plan running remotely" in out
    assert _status(http, run["id"]) == "planning"
    assert http.post(f"/api/v2/runs/{run['id']}/actions/cancel").status_code == 202
    assert poll(lambda: _status(http, run["id"]), lambda s: s != "planning", timeout=60) == "canceled"


def test_a_terrakube_job_in_a_tofu_workspace_runs_opentofu(tofu_bin, http):
    made = http.post(f"/api/v1/organization/{ORG}/workspace", json={"data": {
        "type": "workspace", "attributes": {"name": "tk-tofu", "iacType": "tofu"}}})
    assert made.status_code == 201, made.text
    ws = made.json()["data"]["id"]
    upload_config(http, ws, {"main.tf": 'resource "null_resource" "tk" {}\n'})
    flow = 'flow:\n  - type: "terraformPlan"\n    name: "Plan"\n    step: 100\n'
    job = http.post(f"/api/v1/workspace/{ws}/job", json={"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(flow.encode()).decode()},
        "relationships": {"workspace": {"data": {"type": "workspace", "id": ws}}}}}).json()["data"]["id"]
    done = poll(lambda: http.get(f"/api/v1/workspace/{ws}/job/{job}").json()["data"]["attributes"],
                lambda a: a["status"] in ("completed", "failed"), timeout=120)
    plan = done["steps"][0]["output"]
    assert done["status"] == "completed", plan
    assert "OpenTofu v" in plan and "1 to add" in plan
