"""The README's copy-paste run workflow and its variables example, run as they stand against
the dev stack (only the port and the token file's directory differ): a new user's first run
applies the code they just uploaded; the next one uses the workspace's variables."""
import re
import subprocess
import uuid

import pytest

from conftest import ROOT

pytestmark = pytest.mark.e2e


def test_the_readme_workflow_runs_verbatim(dev_stack, tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The API-driven run workflow (copy-paste)", 1)[1]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    # the variables example continues in the same shell
    variables = readme.split("## Variables, variable sets and sensitive values", 1)[1]
    script += re.search(r"```sh\n(.*?)```", variables, re.S).group(1)
    port = dev_stack.url.rsplit(":", 1)[1]
    org = f"demo{uuid.uuid4().hex[:6]}"
    script = script.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace('"demo"', f'"{org}"') \
        .replace("organizations/demo/", f"organizations/{org}/")
    (tmp_path / ".terraless").mkdir()
    (tmp_path / ".terraless" / "admin-token").write_text((dev_stack.home / "admin-token").read_text())
    done = subprocess.run(["bash", "-euc", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "planned" in done.stdout and "applied" in done.stdout
    assert "null_resource.hi" in done.stdout                      # the plan's log: the new code
    assert '"state-versions"' in done.stdout                      # the state it left
    # the variables example: a workspace variable, a set's and a sensitive env variable
    assert "the token has 12 characters" in done.stdout
    assert 'greeting = "hello world in blue"' in done.stdout
    assert "s3cr3t-token" not in done.stdout
