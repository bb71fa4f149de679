"""The real deployment package runs as Lambda runs it: unpacked onto a read-only directory (as
/var/task, the layer as /opt), in a process whose only writable path is a fresh /tmp, with
the environment the deployed template gave the function, against a stack `terraless deploy`
created on the emulator: the API answers function URL events for discovery, ping and an
organization's creation. Sizes are held to Lambda's limits."""
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import boto3
import pytest

from chalicelib.deploy import package, stack

CHILD = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import app
events = json.loads(sys.stdin.read())
answers = [app.serve_function_url(event, None) for event in events]
loaded = [m for m in sys.modules if m.split(".")[0] in ("moto", "cfnlint", "pytest", "chalice")]
cached = all(getattr(sys.modules[m], "__cached__", None) and
             __import__("os").path.exists(sys.modules[m].__cached__)
             for m in ("app", "chalicelib.api.runs", "chalicelib.storage.models"))
try:
    open(sys.argv[1] + "/planted", "w")
    writable = True
except OSError:
    writable = False
print(json.dumps({"answers": answers, "loaded": sorted(loaded), "cached": cached,
                  "task_writable": writable}))
'''


@pytest.fixture(scope="module")
def gamma(emulator):
    done = stack.deploy("gamma")
    # moto's CloudFormation does not create the secret (test_template.py checks its resource):
    # made here as Secrets Manager would, generated
    secret = boto3.client("secretsmanager").create_secret(Name="gamma-signing-key",
                                                          SecretString=os.urandom(24).hex())["ARN"]
    return done, secret


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """The artefacts as Lambda unpacks them, outside /tmp (the child gets a fresh one)."""
    root = Path(tempfile.mkdtemp(prefix="terraless-lambda-", dir="/var/tmp"))
    artefacts = package.build(tmp_path_factory.mktemp("build"))
    for name, data in (("task", artefacts.function_zip), ("opt", artefacts.layer_zip)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = archive.extract(info, root / name)
                os.chmod(path, (info.external_attr >> 16) & 0o777)
    yield root, artefacts
    shutil.rmtree(root, ignore_errors=True)


def test_the_artefacts_fit_lambda_and_ship_only_runtime_code(unpacked):
    root, artefacts = unpacked
    sizes = artefacts.sizes()
    print("\nsizes:", json.dumps(sizes))
    assert sizes["unzipped_total"] < sizes["unzipped_limit"]
    assert sizes["function_zip"] < sizes["zipped_direct_limit"]
    task = root / "task"
    tops = {p.name for p in task.iterdir()}
    assert {"app.py", "chalicelib", "chalice", "pynamodb", "re2", "cryptography", "boto3"} <= tops
    assert not {"moto", "cfnlint", "pytest", "samtranslator", "_pytest"} & tops
    assert sorted(p.name for p in (task / "chalice").iterdir() if p.suffix == ".py") == ["__init__.py", "app.py"]
    # every module ships compiled (unchecked-hash: valid whatever the unpacked files' times)
    sources = [p for p in task.rglob("*.py")]
    missing = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.cpython-311.pyc").exists()]
    assert len(sources) > 500 and missing == []
    # terraform and the provider keep their execute bits
    assert os.access(root / "opt" / "bin" / "terraform", os.X_OK)
    provider, = (root / "opt" / package.NULL_PROVIDER_DIR).iterdir()
    assert os.access(provider, os.X_OK)
    version = subprocess.run([str(root / "opt" / "bin" / "terraform"), "version"], capture_output=True,
                             text=True, env={"PATH": "/usr/bin:/bin", "CHECKPOINT_DISABLE": "1"})
    assert version.stdout.startswith("Terraform v1.0.3")


def _url_event(method, path, body=None, token=None):
    headers = {"host": "gamma.lambda-url.us-east-1.on.aws", "content-type": "application/vnd.api+json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {"version": "2.0", "rawPath": path, "rawQueryString": "", "headers": headers,
            "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.1"}},
            "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}


def test_the_api_runs_from_the_read_only_package(gamma, unpacked, emulator):
    done, secret_arn = gamma
    root, _ = unpacked
    env = boto3.client("lambda").get_function_configuration(FunctionName="gamma-http")["Environment"]["Variables"]
    env.update(TERRALESS_SIGNING_SECRET_ARN=secret_arn, TERRALESS_PUBLIC_URL="https://gamma.example",
               AWS_ENDPOINT_URL=emulator, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", HOME="/tmp", TMPDIR="/tmp",
               PATH="/usr/bin:/bin")
    events = [_url_event("GET", "/.well-known/terraform.json"), _url_event("GET", "/api/v2/ping"),
              _url_event("POST", "/api/v2/organizations", {"data": {"type": "organizations", "attributes": {
                  "name": "from-lambda", "email": "l@l.l"}}}, done.admin_token),
              _url_event("GET", "/api/v2/organizations", token="forged.atlasv1.x")]
    # a mount namespace: the root read-only, a fresh tmpfs the only writable place, Python
    # without its site-packages (only what the package ships) — the base interpreter, not the
    # virtualenv's link to it, which may itself live under /tmp
    python = os.path.realpath(sys.executable)
    assert not python.startswith("/tmp/"), python
    script = (f"mount --make-rprivate / && mount -t tmpfs tmpfs /tmp && "
              f"mount -o remount,bind,ro / && exec {python} -I -S -c \"$CHILD\" {root / 'task'}")
    child = subprocess.run(["unshare", "--mount", "sh", "-c", script], input=json.dumps(events),
                           capture_output=True, text=True, timeout=120, env={**env, "CHILD": CHILD})
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    discovery, ping, created, forged = result["answers"]
    assert discovery["statusCode"] == 200 and json.loads(discovery["body"])["tfe.v2"] == "/api/v2/"
    assert ping["statusCode"] in (200, 204)
    assert created["statusCode"] == 201, created["body"]
    assert forged["statusCode"] == 401
    assert result["loaded"] == ["chalice", "chalice.app"]
    assert result["cached"] is True and result["task_writable"] is False
    # the organization is in the deployed stack's table
    item = boto3.client("dynamodb").get_item(TableName="gamma-organizations", Key={"name": {"S": "from-lambda"}})
    assert "Item" in item
