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
import time
import zipfile
from pathlib import Path

import boto3
import httpx
import pytest

from conftest import _free_port, make_tgz, poll

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


def done_machine_arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"


@pytest.fixture(scope="module")
def gamma(emulator):
    done = stack.deploy("gamma")
    # moto executes state machines only in another backend than the one its CloudFormation
    # creates them in: switched to it, the run state machine is made again there as created
    sfn = boto3.client("stepfunctions")
    made = sfn.describe_state_machine(stateMachineArn=done_machine_arn("gamma-runs"))
    httpx.post(f"{emulator}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}})
    sfn.create_state_machine(name=made["name"], definition=made["definition"], roleArn=made["roleArn"])
    # moto's CloudFormation does not create the secret (test_template.py checks its resource):
    # made here as Secrets Manager would, generated
    secret = boto3.client("secretsmanager").create_secret(Name="gamma-signing-key",
                                                          SecretString=os.urandom(24).hex())["ARN"]
    # nor does it apply the blobs bucket's versioning and upload notifications (properties of
    # infra/resources.yaml's BlobsBucket): set here as the template states them
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket = "gamma-123456789012-us-east-1-blobs"
    uploads = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="gamma-uploads")["QueueUrl"],
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": uploads, "Events": ["s3:ObjectCreated:*"], "Filter": {
            "Key": {"FilterRules": [{"Name": "prefix", "Value": "cv/"}]}}}]})
    # this test is Lambda's SQS poller: moto's own would invoke the functions under Docker
    functions = boto3.client("lambda")
    for mapping in functions.list_event_source_mappings()["EventSourceMappings"]:
        functions.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    yield done, secret
    httpx.post(f"{emulator}/moto-api/config", json={"stepfunctions": {"execute_state_machine": False}})


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


def _read_only(root: Path) -> list[str]:
    """A command running $CHILD as Lambda would: a mount namespace whose root is read-only, the
    layer at /opt, a fresh tmpfs /tmp the only writable place, Python without its site-packages
    (only what the package ships) — the base interpreter, not the virtualenv's link to it, which
    may itself live under /tmp."""
    python = os.path.realpath(sys.executable)
    assert not python.startswith("/tmp/"), python
    script = (f"mount --make-rprivate / && mount -t tmpfs tmpfs /tmp && "
              f"mount --bind {root / 'opt'} /opt && mount -o remount,bind,ro / && "
              f"exec {python} -I -S -c \"$CHILD\" {root / 'task'}")
    return ["unshare", "--mount", "sh", "-c", script]


def _function_env(name: str, emulator: str, **extra) -> dict:
    """The environment the deployed template gave function gamma-<name>, and the credentials
    and endpoint Lambda would add (the emulator's here)."""
    env = boto3.client("lambda").get_function_configuration(FunctionName=f"gamma-{name}")["Environment"]["Variables"]
    return {**env, "AWS_ENDPOINT_URL": emulator, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "HOME": "/tmp", "TMPDIR": "/tmp",
            "PATH": "/usr/bin:/bin", **extra}


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
    env = _function_env("http", emulator, TERRALESS_SIGNING_SECRET_ARN=secret_arn,
                        TERRALESS_PUBLIC_URL="https://gamma.example")
    events = [_url_event("GET", "/.well-known/terraform.json"), _url_event("GET", "/api/v2/ping"),
              _url_event("POST", "/api/v2/organizations", {"data": {"type": "organizations", "attributes": {
                  "name": "from-lambda", "email": "l@l.l"}}}, done.admin_token),
              _url_event("GET", "/api/v2/organizations", token="forged.atlasv1.x")]
    child = subprocess.run(_read_only(root), input=json.dumps(events), capture_output=True,
                           text=True, timeout=120, env={**env, "CHILD": CHILD})
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


# -- a plan, end to end through the packaged functions ---------------------------------------------

# What a function URL does in front of the API function: each HTTP request becomes a payload
# 2.0 event for its handler, and the handler's answer the HTTP response. One request at a time,
# as one Lambda container serves them.
FUNCTION_URL = r'''
import base64, json, sys
sys.path.insert(0, sys.argv[1])
import app
from http.server import BaseHTTPRequestHandler, HTTPServer

class FunctionUrl(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _serve(self):
        size = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(size) if size else b""
        path, _, query = self.path.partition("?")
        event = {"version": "2.0", "rawPath": path, "rawQueryString": query,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "requestContext": {"http": {"method": self.command, "path": path,
                                             "sourceIp": self.client_address[0]}},
                 "body": base64.b64encode(body).decode() if body else None,
                 "isBase64Encoded": bool(body)}
        answer = app.serve_function_url(event, None)
        data = answer.get("body") or ""
        data = base64.b64decode(data) if answer.get("isBase64Encoded") else data.encode()
        self.send_response(answer["statusCode"])
        for name, value in (answer.get("headers") or {}).items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

server = HTTPServer(("127.0.0.1", 0), FunctionUrl)
print(server.server_port, flush=True)
server.serve_forever()
'''

# One invocation of a handler, as Lambda makes it; the Lambda invocations the handler makes are
# recorded from its own boto3 client (moto accepts them but runs functions only under Docker).
HANDLER = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import app
call = json.loads(sys.stdin.read())

class Context:
    function_name, aws_request_id, memory_limit_in_mb = call["function"], "req-1", 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + call["function"]
    def get_remaining_time_in_millis(self):
        return call["timeout"] * 1000

invoked = []
if call.get("record_invocations"):
    from chalicelib.aws import clients
    clients.client("lambda").meta.events.register(
        "before-call.lambda.Invoke", lambda params, **_: invoked.append(json.loads(params["body"])))
result = getattr(app, call["handler"])(call["event"], Context())
print(json.dumps({"result": result, "invoked": invoked}, default=str))
'''


def _invoke(root, env, function, handler, event, *, timeout=120, record_invocations=False):
    call = {"function": function, "handler": handler, "event": event, "timeout": timeout,
            "record_invocations": record_invocations}
    child = subprocess.run(_read_only(root), input=json.dumps(call), capture_output=True, text=True,
                           timeout=timeout + 60, env={**env, "CHILD": HANDLER})
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def _sqs_event(queue_name: str, wait: float = 30.0, batch: int = 1) -> dict:
    """The next messages of a stack's queue as Lambda's SQS event source delivers them."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch, WaitTimeSeconds=1,
                                  AttributeNames=["All"]).get("Messages", [])
        if got:
            return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                                 "body": m["Body"], "attributes": m["Attributes"],
                                 "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                                 "eventSource": "aws:sqs", "eventSourceARN": arn,
                                 "awsRegion": "us-east-1"} for m in got]}
    raise AssertionError(f"no message on {queue_name} within {wait}s")


@pytest.fixture(scope="module")
def api_url(gamma, unpacked, emulator):
    """The packaged API function behind its function URL, read-only like the others."""
    done, secret_arn = gamma
    root, _ = unpacked
    # the deployed stack's public URL is its function URL; here, this one
    port = _free_port()
    env = _function_env("http", emulator, TERRALESS_SIGNING_SECRET_ARN=secret_arn,
                        TERRALESS_PUBLIC_URL=f"http://127.0.0.1:{port}")
    script = FUNCTION_URL.replace('("127.0.0.1", 0)', f'("127.0.0.1", {port})')
    errors = tempfile.TemporaryFile("w+")
    server = subprocess.Popen(_read_only(root), env={**env, "CHILD": script},
                              stdout=subprocess.PIPE, stderr=errors, text=True)
    started = server.stdout.readline().strip() == str(port)
    try:
        assert started, "the API function did not start"
        yield f"http://127.0.0.1:{port}", env
    finally:
        server.terminate()
        server.wait(timeout=30)
        errors.seek(0)
        print("API function's log:", errors.read()[-5000:])   # shown when a test fails


def test_a_plan_runs_through_the_packaged_functions(gamma, unpacked, emulator, api_url):
    """API function → S3 → uploads function → Step Functions → plans queue → phase function →
    (the asynchronous invocation it makes, delivered here) → runner function running terraform
    from the layer, reporting to the API function over its URL: the plan finishes."""
    done, secret_arn = gamma
    root, _ = unpacked
    base, api_env = api_url
    api = httpx.Client(base_url=base, timeout=60, headers={
        "Authorization": f"Bearer {done.admin_token}", "Content-Type": "application/vnd.api+json"})
    org = api.post("/api/v2/organizations", json={"data": {"type": "organizations", "attributes": {
        "name": "lambda-plans", "email": "p@l.l"}}})
    assert org.status_code == 201, org.text
    ws = api.post("/api/v2/organizations/lambda-plans/workspaces", json={"data": {
        "type": "workspaces", "attributes": {"name": "packaged"}}})
    assert ws.status_code == 201, ws.text
    ws_id = ws.json()["data"]["id"]
    cv = api.post(f"/api/v2/workspaces/{ws_id}/configuration-versions", json={"data": {
        "type": "configuration-versions", "attributes": {"auto-queue-runs": False}}})
    assert cv.status_code == 201, cv.text
    archive = make_tgz({"main.tf": 'resource "null_resource" "n" {}\noutput "x" { value = 7 }\n'})
    put = httpx.put(cv.json()["data"]["attributes"]["upload-url"], content=archive, timeout=60)
    assert put.status_code == 200, put.text
    # S3's test event (sent when the notification was set) and the upload's, in one batch
    uploads_env = _function_env("on_upload_event", emulator, TERRALESS_SIGNING_SECRET_ARN=secret_arn)
    uploaded = _invoke(root, uploads_env, "gamma-on_upload_event", "on_upload_event",
                       _sqs_event("gamma-uploads", batch=10))
    assert uploaded["result"] == {"batchItemFailures": []}, uploaded
    cv_shown = api.get(f"/api/v2/configuration-versions/{cv.json()['data']['id']}")
    assert cv_shown.json()["data"]["attributes"]["status"] == "uploaded"
    run = api.post("/api/v2/runs", json={"data": {"type": "runs", "attributes": {"plan-only": True},
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws_id}},
                          "configuration-version": {"data": {"type": "configuration-versions",
                                                             "id": cv.json()["data"]["id"]}}}}})
    assert run.status_code == 201, run.text
    run_id = run.json()["data"]["id"]
    plan_env = {**_function_env("on_plan_task", emulator, TERRALESS_SIGNING_SECRET_ARN=secret_arn),
                "TERRALESS_PUBLIC_URL": base}
    handed = _invoke(root, plan_env, "gamma-on_plan_task", "on_plan_task", _sqs_event("gamma-plans", 60),
                     record_invocations=True)
    work, = handed["invoked"]
    assert work["api"]["url"] == base and "phase_id" in work
    # the runner function: its own environment only (no AWS credential of the service)
    runner_env = _function_env("runner", emulator)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        runner_env.pop(key)
    ran = _invoke(root, runner_env, "gamma-runner", "run_phase", work, timeout=300)
    assert ran["result"] == {"done": work["phase_id"]}
    shown = poll(lambda: api.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]["status"],
                 lambda status: status in ("planned_and_finished", "errored"), timeout=60)
    assert shown == "planned_and_finished"
    plan = api.get(f"/api/v2/runs/{run_id}/plan").json()["data"]["attributes"]
    assert plan["resource-additions"] == 1
    log = httpx.get(plan["log-read-url"], timeout=30).text
    assert "null_resource.n will be created" in log and "Terraform v1.0.3" in log
