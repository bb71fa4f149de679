"""The terraform CLI (1.0.3, from PyPI) with `backend "remote"` against the dev stack: init,
plan with the remote log streamed, apply (prompt answered, and -auto-approve), output, state
list / pull, a second plan with no changes, destroy — executed by Terraless workers."""
import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from conftest import CliDir, poll, slow_plan_tf

pytestmark = pytest.mark.e2e

MAIN_TF = """
terraform {{
  backend "remote" {{
    hostname     = "{host}"
    organization = "cli"
    workspaces {{
      name = "{workspace}"
    }}
  }}
}}
"""
DEMO_TF = """
resource "null_resource" "demo" {
  triggers = { version = "1" }
}

output "greeting" {
  value = "hello from terraless"
}
"""



class Project(CliDir):
    """A directory with a remote-backend configuration and the CLI environment for it."""

    def __init__(self, dev_stack, work: Path, workspace: str, body: str) -> None:
        info = json.loads((dev_stack.home / "dev.json").read_text())
        self.host = info["tls_api"].removeprefix("https://")
        self.work = work
        (work / "main.tf").write_text(MAIN_TF.format(host=self.host, workspace=workspace) + body)
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(work),
                    "TF_CLI_CONFIG_FILE": info["terraform_cli_config"],
                    "SSL_CERT_FILE": info["tls_cert"], "CHECKPOINT_DISABLE": "1",
                    "TF_IN_AUTOMATION": "1"}
        from chalicelib.executor import staging as terraform
        self.binary = terraform.binary()


@pytest.fixture(scope="module")
def project(dev_stack, tmp_path_factory):
    http = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers)
    if http.get("/api/v2/organizations/cli").status_code == 404:
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "cli", "email": "c@c.c"}}})

    def make(workspace: str, body: str) -> Project:
        return Project(dev_stack, tmp_path_factory.mktemp(workspace), workspace, body)
    return make


@pytest.fixture(scope="module")
def cli(project):
    return project("cli-demo", DEMO_TF)


def test_remote_backend_workflow(cli, dev_stack):
    out = cli("init", "-input=false", "-no-color")
    assert "Terraform has been successfully initialized" in out

    out = cli("plan", "-no-color", "-input=false")
    assert "Running plan in the remote backend" in out
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out      # streamed from the worker's log

    out = cli("apply", "-no-color", stdin="yes\n")                   # answers the prompt
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in out

    assert cli("output", "-raw", "greeting").strip() == "hello from terraless"
    assert cli("state", "list").split() == ["null_resource.demo"]
    state = json.loads(cli("state", "pull"))
    assert state["resources"][0]["type"] == "null_resource" and state["serial"] >= 1

    out = cli("plan", "-no-color", "-input=false")
    assert "No changes." in out

    out = cli("apply", "-no-color", "-auto-approve")                # nothing to apply
    assert "No changes." in out and "Apply complete!" not in out

    out = cli("destroy", "-no-color", "-auto-approve")
    assert "Resources: 0 added, 0 changed, 1 destroyed." in out
    assert cli("state", "list").split() == []


def test_ctrl_c_cancels_the_remote_plan(project, dev_stack, slow_state):
    slow = project("cli-ctrl-c", slow_plan_tf(slow_state))
    slow("init", "-input=false", "-no-color")
    proc = slow.start("plan", "-no-color")
    http = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers)

    def planning_run():
        ws = http.get("/api/v2/organizations/cli/workspaces/cli-ctrl-c")
        if ws.status_code != 200:
            return None
        runs = http.get(f"/api/v2/workspaces/{ws.json()['data']['id']}/runs").json()["data"]
        return runs[0] if runs and runs[0]["attributes"]["status"] == "planning" else None
    run = poll(planning_run, bool, timeout=60, interval=0.2)
    os.killpg(proc.pid, signal.SIGINT)        # Ctrl-C; the CLI asks, and we confirm
    out, _ = proc.communicate(input="yes\n", timeout=120)
    assert "The remote operation was successfully cancelled." in out, out
    final = poll(lambda: http.get(f"/api/v2/runs/{run['id']}").json()["data"]["attributes"]["status"],
                 lambda s: s != "planning", timeout=60)
    assert final == "canceled"


VARS_TF = """
variable "who" {}
variable "api_key" { default = "" }
resource "null_resource" "v" {
  provisioner "local-exec" { command = "echo cli-env=$CLI_ENV" }
}
output "hello" { value = "hi ${var.who}" }
"""


def test_remote_operations_and_the_console_use_workspace_variables(project, dev_stack):
    """A remote apply from the CLI uses the workspace's terraform and env variables; `terraform
    import` (a local operation) reads the non-sensitive ones from the workspace and never
    receives a sensitive value. (`terraform console` evaluates every variable as unknown:
    terraform sets AllowUnsetVariables for it and reads none.)"""
    http = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers)
    ws = http.post("/api/v2/organizations/cli/workspaces",
                   json={"data": {"attributes": {"name": "cli-vars"}}}).json()["data"]["id"]
    for key, value, category, sensitive in (("who", "terraless", "terraform", False),
                                            ("api_key", "cli-Secret-8731", "terraform", True),
                                            ("CLI_ENV", "from-the-workspace", "env", False)):
        assert http.post(f"/api/v2/workspaces/{ws}/vars", json={"data": {"type": "vars", "attributes": {
            "key": key, "value": value, "category": category, "sensitive": sensitive}}}).status_code == 201
    tf = project("cli-vars", VARS_TF)
    tf("init", "-input=false", "-no-color")
    out = tf("apply", "-no-color", "-auto-approve")
    assert 'hello = "hi terraless"' in out and "cli-env=from-the-workspace" in out, out
    assert "cli-Secret-8731" not in out
    # `terraform import` runs locally and reads the workspace's variables (GET .../vars); the
    # sensitive one comes back null and terraform says so
    out = tf("import", "-no-color", "-input=false", "null_resource.v", "imported-id", expect=None)
    assert "Value for var.api_key unavailable" in out and "cli-Secret-8731" not in out, out
    # past variable collection (a missing `who` would stop it there): the null provider's
    # resource cannot be imported, which is all that is left
    assert "No value for required variable" not in out and "doesn't support import" in out, out
