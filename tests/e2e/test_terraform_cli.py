"""The terraform CLI (1.0.3, from PyPI) with `backend "remote"` against the dev stack: init,
plan with the remote log streamed, apply (prompt answered, and -auto-approve), output, state
list / pull, a second plan with no changes, destroy — executed by Terraless workers."""
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

MAIN_TF = """
terraform {{
  backend "remote" {{
    hostname     = "{host}"
    organization = "cli"
    workspaces {{
      name = "cli-demo"
    }}
  }}
}}

resource "null_resource" "demo" {{
  triggers = {{ version = "1" }}
}}

output "greeting" {{
  value = "hello from terraless"
}}
"""


@pytest.fixture(scope="module")
def cli(dev_stack, tmp_path_factory):
    info = json.loads((dev_stack.home / "dev.json").read_text())
    host = info["tls_api"].removeprefix("https://")
    http = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers)
    if http.get("/api/v2/organizations/cli").status_code == 404:
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "cli", "email": "c@c.c"}}})
    work = tmp_path_factory.mktemp("cli-project")
    (work / "main.tf").write_text(MAIN_TF.format(host=host))
    from chalicelib.workers import terraform
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TF_CLI_CONFIG_FILE": info["terraform_cli_config"],
           "SSL_CERT_FILE": info["tls_cert"], "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}

    def run(*args, stdin=None, expect=0):
        done = subprocess.run([terraform.binary(), *args], cwd=work, env=env, input=stdin,
                              capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == expect, f"terraform {' '.join(args)} -> {done.returncode}\n{output}"
        return output
    return run


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
