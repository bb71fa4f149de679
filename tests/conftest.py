"""Shared fixtures.

* unit tests need nothing;
* integration tests run the Chalice app in-process under moto's `mock_aws`, with the resources
  of infra/resources.yaml created by the same provisioner the dev stack uses;
* e2e tests share ONE dev stack (`terraless dev` in a subprocess) for the whole session.
"""
from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the service refuses to start without a signing key (there is no public fallback)
os.environ.setdefault("TERRALESS_SIGNING_SECRET", "tests-" + uuid.uuid4().hex)

# Never let a test reach real AWS, whatever the machine's environment says.
for _key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "LOCALSTACK_HOST", "AWS_PROFILE",
             "AWS_SESSION_TOKEN"):
    os.environ.pop(_key, None)
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
                  TERRALESS_PUBLIC_URL="http://terraless.test", TERRALESS_TOKEN_CACHE_SECONDS="0",
                  TERRALESS_ALLOW_LOCAL_REPOS="1", TERRALESS_RETRY_DELAY_SECONDS="1",
                  TERRALESS_CANCEL_GRACE_SECONDS="2")

ADMIN_TOKEN = "test-admin-token.atlasv1.0123456789"


def make_tgz(files: dict[str, str] | None = None) -> bytes:
    from chalicelib.domain.archives import pack_tgz
    files = files if files is not None else {"main.tf": 'output "answer" { value = 42 }\n'}
    return pack_tgz(files, mtime=1_700_000_000)


def git(path, *args: str) -> str:
    """The real git CLI on a test repository (author, committer and HOME fixed)."""
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(path)}
    return subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def git_commit(path, files: dict[str, str], message: str = "change") -> str:
    """Writes the files into the repository at path (created on first use, branch main) and
    commits them; returns the commit sha."""
    if not (path / ".git").exists():
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", message)
    return git(path, "rev-parse", "HEAD")


def poll(read, done, *, timeout: float = 30.0, interval: float = 0.1):
    """Call read() until done(value) is true; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)


# -- integration: the app under mock_aws ---------------------------------------------------------

class Api:
    """Requests to the app in-process (or, as HttpApi, over HTTP) with a token and JSON:API
    bodies."""

    def __init__(self, http, token: str | None) -> None:
        self.http, self.token = http, token

    def as_token(self, token: str | None) -> "Api":
        return Api(self.http, token)

    def _outgoing(self, body, headers: dict | None, raw: bytes | None) -> tuple[dict, bytes]:
        hdrs = {"Content-Type": "application/vnd.api+json"}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        return hdrs, payload

    def request(self, method: str, path: str, body=None, *, headers: dict | None = None,
                raw: bytes | None = None):
        hdrs, payload = self._outgoing(body, headers, raw)
        resp = self.http.request(method, path, headers=hdrs, body=payload)
        resp.json = json.loads(resp.body) if resp.body and resp.body[:1] in (b"{", b"[") else None
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def put(self, path, raw: bytes, **kw):
        return self.request("PUT", path, raw=raw, **kw)


class HttpApi(Api):
    """The same interface as `Api`, over a real socket to the dev stack."""

    def __init__(self, base_url: str, token: str | None, client=None) -> None:
        import httpx
        self.base_url, self.token = base_url, token
        self.client = client or httpx.Client(base_url=base_url, timeout=60)

    def as_token(self, token: str | None) -> "HttpApi":
        return HttpApi(self.base_url, token, self.client)

    def request(self, method: str, path: str, body=None, *, headers: dict | None = None,
                raw: bytes | None = None):
        hdrs, payload = self._outgoing(body, headers, raw)
        resp = self.client.request(method, path, headers=hdrs, content=payload)
        resp.body = resp.content
        resp.json = json.loads(resp.content) if resp.content[:1] in (b"{", b"[") else None
        return resp


@pytest.fixture(autouse=True)
def the_process_environment_stays_real():
    """Every test leaves `os.environ` the process's own mapping: a copy put in its place (as
    chalice.test's client does around each request) detaches the settings the tests change
    from what later tests and terraform's processes see."""
    real = os.environ
    yield
    assert os.environ is real and isinstance(os.environ, os._Environ), \
        "os.environ was replaced during the test"


@pytest.fixture
def aws():
    """A fresh emulated account with every resource of infra/resources.yaml."""
    from moto import mock_aws

    from chalicelib import config
    from chalicelib.aws import clients
    from chalicelib.local import provision
    from chalicelib.services import identity, organization_names

    # the emulated account lives in this process: runners run here too (executor/inprocess.py)
    previous = os.environ.get("TERRALESS_EXECUTOR")
    os.environ["TERRALESS_EXECUTOR"] = "in-process"
    from chalicelib.executor import staging
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        config.reset()
        staging.binary.cache_clear()    # each test resolves terraform from its own settings
        clients.reset()
        identity.principal_cache.clear()
        organization_names.clear()
        provision.provision()
        identity.ensure_site_admin(ADMIN_TOKEN)
        yield
        clients.reset()
    if previous is None:
        os.environ.pop("TERRALESS_EXECUTOR", None)
    else:
        os.environ["TERRALESS_EXECUTOR"] = previous
    config.reset()


@pytest.fixture
def app_module(aws):
    import app as module
    return module


@pytest.fixture
def api(app_module):
    from chalicelib.executor.inprocess import InProcessHttp

    # not chalice.test's Client: it swaps os.environ per request, unsafe next to a runner's
    # threads (InProcessHttp says how)
    yield Api(InProcessHttp(app_module.app), ADMIN_TOKEN)


@pytest.fixture
def drain(app_module):
    """Deliver pending SQS messages to the app's handlers, as Lambda would."""
    from chalicelib.local import dispatch

    subs = dispatch.subscriptions(app_module.app, app_module)

    def run(*, phases: bool = True) -> int:
        """`phases=False`: everything but terraform phases (which a background `worker` or the
        test itself runs: drained here, a blocking plan would block the test's own thread)."""
        total = 0
        wanted = [sub for sub in subs if phases or not sub.isolated]
        while True:   # a handler may queue work for another (fetch -> S3 upload event)
            handled = sum(dispatch.drain(sub) for sub in wanted)
            if not handled:
                return total
            total += handled
    return run


@pytest.fixture
def worker(app_module):
    """Lambda's part in the background: a thread that keeps delivering SQS messages to the
    handlers (terraform phases included) while the test talks to the API."""
    import threading

    from chalicelib.local import dispatch

    subs = dispatch.subscriptions(app_module.app, app_module)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            if not sum(dispatch.drain(sub) for sub in subs):
                stop.wait(0.05)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=60)


@pytest.fixture
def org(api):
    resp = api.post("/api/v2/organizations", {"data": {"type": "organizations", "attributes": {
        "name": "acme", "email": "ops@acme.test"}}})
    assert resp.status_code == 201, resp.body
    return "acme"


@pytest.fixture
def workspace(api, org):
    resp = api.post(f"/api/v2/organizations/{org}/workspaces",
                    {"data": {"type": "workspaces", "attributes": {"name": "prod"}}})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]["id"]


@pytest.fixture
def upload(api, drain):
    """Create a configuration version on a workspace and upload `files`; returns the cv id."""
    def run(workspace_id: str, files: dict | None = None, *, raw: bytes | None = None,
            attrs: dict | None = None) -> str:
        created = api.post(f"/api/v2/workspaces/{workspace_id}/configuration-versions",
                           {"data": {"type": "configuration-versions",
                                     "attributes": attrs or {"auto-queue-runs": False}}})
        assert created.status_code == 201, created.body
        url = created.json["data"]["attributes"]["upload-url"]
        path = url.replace("http://terraless.test", "")
        put = api.as_token(None).put(path, raw if raw is not None else make_tgz(files),
                                     headers={"Content-Type": "application/octet-stream"})
        assert put.status_code == 200, put.body
        # the upload's own processing only: a phase queued earlier (a run the test holds
        # blocked) must not be run in the test's thread (test_force_cancel_after_the_cool_off)
        drain(phases=False)
        # the background `worker` thread may hold the S3 event instead of drain(): wait for
        # the upload to be processed either way
        cv_id = created.json["data"]["id"]
        poll(lambda: api.get(f"/api/v2/configuration-versions/{cv_id}").json["data"]["attributes"]["status"],
             lambda status: status != "pending", timeout=30)
        return cv_id
    return run


@pytest.fixture(scope="module")
def emulator():
    """moto_server by endpoint for a module (deploy tests: subprocesses reach it too)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(port=port, verbose=False)
    server.start()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "MOTO_PORT")}
    # MOTO_PORT: where moto's state machine engine sends its own service calls
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      MOTO_PORT=str(port))
    # moto's backends are this process's, whichever server serves them: each module starts empty
    httpx.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=30).raise_for_status()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# -- e2e: one dev stack for the session ------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevStack:
    def __init__(self, url: str, token: str, home: Path, proc: subprocess.Popen) -> None:
        self.url, self.token, self.home, self.proc = url, token, home, proc

    @property
    def aws_endpoint(self) -> str:
        return json.loads((self.home / "dev.json").read_text())["aws_endpoint"]

    def aws_client(self, service: str, identity: str = "admin"):
        """A client of the stack's emulator as one of its identities (IAM is enforced there)."""
        import boto3
        key = json.loads((self.home / "emulator-credentials.json").read_text())[identity]
        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name="us-east-1",
                            aws_access_key_id=key["access_key_id"],
                            aws_secret_access_key=key["secret_access_key"])

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/vnd.api+json"}


def launch_dev_stack(home: Path, ports: dict | None = None, *, as_uid: int | None = None,
                     **env_extra: str) -> DevStack:
    """`terraless dev` as a child in its own session (the tests kill its whole group), with the
    suite's short heartbeat and grace periods; returns once its API answers. `as_uid`: started
    as that unprivileged user (setpriv), as a service not run by root is."""
    import httpx

    ports = ports or {"api": _free_port(), "moto": _free_port(), "tls": _free_port()}
    token = "e2e-admin.atlasv1.tokentokentoken"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TERRALESS_"))}
    env.update(TERRALESS_PORT=str(ports["api"]), TERRALESS_MOTO_PORT=str(ports["moto"]),
               TERRALESS_HOME=str(home), TERRALESS_BOOTSTRAP_TOKEN=token,
               TERRALESS_LOG_LEVEL="WARNING", TERRALESS_TLS_PORT=str(ports["tls"]),
               # short enough that a killed worker is noticed quickly in the suite
               TERRALESS_HEARTBEAT_SECONDS="10", TERRALESS_FORCE_CANCEL_COOLOFF_SECONDS="1",
               TERRALESS_CANCEL_GRACE_SECONDS="3")
    env.update(env_extra)
    log = os.fdopen(os.open(home / "dev.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    command = [sys.executable, "-m", "chalicelib.cli", "dev"]
    if as_uid is not None:
        command = unprivileged_command(as_uid, home, env) + command[1:]
    proc = subprocess.Popen(command, cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{ports['api']}"

    def up():
        if proc.poll() is not None:
            raise AssertionError("dev stack exited:\n" + (home / "dev.log").read_text())
        try:
            return httpx.get(f"{url}/api/v2/ping", timeout=2).status_code
        except httpx.HTTPError:
            return None
    poll(up, lambda code: code == 200, timeout=120, interval=0.2)
    stack = DevStack(url, token, home, proc)
    stack.ports = ports
    return stack


def unprivileged_command(uid: int, home: Path, env: dict) -> list[str]:
    """setpriv to `uid`, with a Python it can run: this one, or (a pyenv under /root is out of
    its reach) the system's 3.11 with this environment's packages on its path."""
    os.chown(home, uid, uid)
    env["HOME"] = str(home)
    python = os.path.realpath(sys.executable)
    if not all(p.stat().st_mode & 0o001 for p in Path(python).parents):
        python = "/usr/bin/python3.11"
        site = next(p for p in sys.path if p.endswith("site-packages"))
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), site])
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", python]


@pytest.fixture(scope="session")
def unprivileged_stack(tmp_path_factory):
    """A second dev stack, run by an unprivileged user (nobody): its phases run in the runner's
    own user-namespace sandbox (executor/isolation.py "userns"), not as root's runner user."""
    home = open_to_runner(tmp_path_factory.mktemp("terraless-unprivileged"), 0o700)
    stack = launch_dev_stack(home, as_uid=65534)
    yield stack
    stop_dev_stack(stack)


def stop_dev_stack(stack: DevStack) -> None:
    stack.proc.terminate()
    try:
        stack.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stack.proc.kill()


_peers: dict[str, object] = {}


def peer(name: str) -> Path | None:
    """A real peer built from its Go module (tests/peers), once per session; None when it
    cannot be built here (its tests skip, saying how to build it), a failure with CI=true."""
    if name not in _peers:
        from peers.build import CannotBuild, build
        try:
            _peers[name] = build(name)
        except CannotBuild as exc:
            if os.environ.get("CI") == "true":
                raise
            print(f"\n*** {exc}\n*** the tests that need {name} are skipped", file=sys.stderr)
            _peers[name] = exc
    found = _peers[name]
    return found if isinstance(found, Path) else None


@pytest.fixture(scope="session")
def tofu_bin() -> Path:
    found = peer("opentofu")
    if found is None:
        pytest.skip(f"OpenTofu could not be built: {_peers['opentofu']}")
    return found


class ConsulAgent:
    """`consul agent -dev` (Consul v1.16.1, built from source by tests/peers) on free ports, in
    its own process group; `pause`/`resume` stop and continue it as a hung agent would be."""

    def __init__(self, binary: Path, log: Path) -> None:
        self.port = _free_port()
        ports = [_free_port() for _ in range(3)]
        self.proc = subprocess.Popen(
            [str(binary), "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
             "-http-port", str(self.port), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
             "-serf-lan-port", str(ports[0]), "-serf-wan-port", str(ports[1]), "-server-port", str(ports[2])],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self.address = f"127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=f"http://{self.address}", timeout=10)

        def leader():
            if self.proc.poll() is not None:
                raise AssertionError(f"consul exited:\n{log.read_text()[-3000:]}")
            try:
                return self.http.get("/v1/status/leader").json()
            except Exception:  # noqa: BLE001 - not up yet
                return None
        poll(leader, bool, timeout=60, interval=0.2)

    def put(self, path: str, body=None) -> None:
        answer = self.http.put(path, json=body) if not isinstance(body, str) else self.http.put(path, content=body)
        assert answer.status_code == 200, answer.text

    def pause(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def consul_agent(tmp_path_factory):
    found = peer("consul")
    if found is None:
        pytest.skip(f"Consul could not be built: {_peers['consul']}")
    agent = ConsulAgent(found, tmp_path_factory.mktemp("consul") / "consul.log")
    yield agent
    agent.stop()


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory):
    # OpenTofu for the workspaces whose engine is tofu (built first when it can be)
    tofu = peer("opentofu")
    extra = {"TERRALESS_TOFU_BIN": str(tofu)} if tofu else {}
    stack = launch_dev_stack(tmp_path_factory.mktemp("terraless-home"), **extra)
    yield stack
    stop_dev_stack(stack)


class CliDir:
    """A working directory and the environment a CLI (terraform, tofu) runs in there."""
    binary: str
    work: Path
    env: dict

    def __call__(self, *args, stdin=None, expect=0):
        done = subprocess.run([self.binary, *args], cwd=self.work, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert expect is None or done.returncode == expect, \
            f"{Path(self.binary).name} {' '.join(args)} -> {done.returncode}\n{output}"
        return output

    def start(self, *args) -> subprocess.Popen:
        # its own process group, like a terminal's foreground job: Ctrl-C reaches the group
        return subprocess.Popen([self.binary, *args], cwd=self.work, env=self.env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)


# -- end-to-end helpers over a dev stack's HTTP API ------------------------------------------------

def stack_http(dev_stack):
    return httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers, timeout=30)


def make_workspace(http, org, name, **attrs):
    if http.get(f"/api/v2/organizations/{org}").status_code == 404:
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": org, "email": "e@e.e"}}})
    resp = http.post(f"/api/v2/organizations/{org}/workspaces",
                     json={"data": {"attributes": {"name": name, **attrs}}})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]["id"]


def upload_config(http, ws, files):
    cv = http.post(f"/api/v2/workspaces/{ws}/configuration-versions",
                   json={"data": {"attributes": {"auto-queue-runs": False}}}).json()["data"]
    assert httpx.put(cv["attributes"]["upload-url"], content=make_tgz(files)).status_code == 200
    poll(lambda: http.get(f"/api/v2/configuration-versions/{cv['id']}").json()["data"]["attributes"]["status"],
         lambda s: s == "uploaded", timeout=30)
    return cv["id"]


def start_run(http, ws, message, **attrs):
    resp = http.post("/api/v2/runs", json={"data": {"attributes": {"message": message, **attrs},
                     "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]["id"]


def run_attrs(http, run_id):
    return http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]



def open_to_runner(path: Path, mode: int = 0o755) -> Path:
    """Make a pytest temporary folder reachable by another user (the runner user of
    executor/isolation.py, or the unprivileged stack's): pytest makes every level 0700, and
    under pytest-xdist there is one more (`pytest-of-root/pytest-N/popen-gwN/...`)."""
    top = Path(tempfile.gettempdir()).resolve()
    for folder in path.resolve().parents:
        if folder == top or top not in folder.parents:
            break
        folder.chmod(0o755)
    path.chmod(mode)
    return path


@pytest.fixture
def tmp_path(tmp_path):
    """pytest's tmp_path, reachable by the runner user (executor/isolation.py): tests hand a
    run's code modules, shims and files to write there."""
    return open_to_runner(tmp_path, 0o777)


@pytest.fixture
def slow_state():
    """A state file that never finishes being read: a FIFO nobody writes. A terraform plan
    reading it through `terraform_remote_state` blocks for real (cancel tests need a plan still
    running) without any network, which a phase's sandbox does not have."""
    folder = Path(tempfile.mkdtemp(prefix="terraless-slow-"))
    folder.chmod(0o755)                 # the runner user (executor/isolation.py) opens it
    fifo = folder / "state.fifo"
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    yield str(fifo)
    shutil.rmtree(folder, ignore_errors=True)


def slow_plan_tf(path: str) -> str:
    return f'data "terraform_remote_state" "slow" {{\n  backend = "local"\n  config = {{ path = "{path}" }}\n}}\n'


def release_slow_state(fifo: str, seconds: float = 0):
    """Lets a plan blocked on `slow_state` go on: after `seconds`, a state (with the output
    `ready` = "yes") is written into the FIFO it reads."""
    import threading
    state = json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": 1, "lineage": "slow",
                        "outputs": {"ready": {"value": "yes", "type": "string"}}, "resources": []})

    def release():
        with open(fifo, "w") as pipe:
            pipe.write(state)
    timer = threading.Timer(seconds, release)
    timer.daemon = True
    timer.start()
    return timer


@contextlib.contextmanager
def plan_blocked_on(fifo: str, timeout: float = 60):
    """Waits until a plan is blocked reading `slow_state` (a writer can open the FIFO only
    once terraform has it open for reading) and keeps it blocked while the block runs: the
    writer is held open, writing nothing. Before that point a cancel may still land in
    `terraform init`, which a Ctrl-C ends at once."""
    def writer():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None
    held = poll(writer, lambda fd: fd is not None, timeout=timeout)
    try:
        yield
    finally:
        os.close(held)


def tcl(text: str) -> str:
    """A Terrakube job's `tcl` attribute: its flow, base64."""
    return base64.b64encode(text.encode()).decode()


# Terrakube's plan → approval → apply flow; the approval names its team (shown, as in Terrakube)
PLAN_APPROVE_APPLY = """
flow:
  - type: "terraformPlan"
    name: "Plan"
    step: 100
  - type: "approval"
    name: "Approve Plan"
    step: 150
    team: "ops"
  - type: "terraformApply"
    name: "Apply"
    step: 200
"""


def queue_depth(logical: str) -> int:
    """Messages in a queue: visible, in flight or delayed (under the in-process emulator)."""
    from chalicelib.aws import queues
    from chalicelib.aws.clients import client
    attrs = client("sqs").get_queue_attributes(QueueUrl=queues.url(logical), AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return sum(int(value) for value in attrs.values())


# -- one scenario, two engines -------------------------------------------------------------------

class Runs:
    """Run helpers bound to one workspace, over either engine: the app in-process under moto
    (a background thread delivering SQS messages) or the shared dev stack over real sockets."""

    def __init__(self, api, workspace: str, upload, org: str, public_url: str) -> None:
        self.api, self.ws, self._upload, self.org, self.public_url = api, workspace, upload, org, public_url
        self._counter = itertools.count()

    def upload(self, files, **attrs):
        return self._upload(self.ws, files, attrs=attrs or None)

    def create(self, cv=None, expect=201, **attrs):
        # identical bodies within the dedup window are one run (retry safety): vary them
        attrs.setdefault("message", f"test run {next(self._counter)}")
        rels = {"workspace": {"data": {"type": "workspaces", "id": self.ws}}}
        if cv:
            rels["configuration-version"] = {"data": {"type": "configuration-versions", "id": cv}}
        resp = self.api.post("/api/v2/runs", {"data": {"type": "runs", "attributes": attrs,
                                                       "relationships": rels}})
        assert resp.status_code == expect, resp.body
        return resp.json["data"]["id"] if expect == 201 else resp

    def get(self, run_id):
        return self.api.get(f"/api/v2/runs/{run_id}").json["data"]

    def status(self, run_id):
        return self.get(run_id)["attributes"]["status"]

    def wait(self, run_id, *statuses, timeout=90):
        return poll(lambda: self.status(run_id), lambda s: s in statuses, timeout=timeout,
                    interval=0.1)

    def action(self, run_id, name, body=None):
        return self.api.post(f"/api/v2/runs/{run_id}/actions/{name}", body)

    def log(self, url, **params):
        query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
        return self.api.as_token(None).get(url.replace(self.public_url, "") + query)


def engine_in_process(request) -> "Runs":
    request.getfixturevalue("worker")
    return Runs(request.getfixturevalue("api"), request.getfixturevalue("workspace"),
                request.getfixturevalue("upload"), request.getfixturevalue("org"),
                "http://terraless.test")


def engine_through_dev_stack(request, org: str = "runs-e2e", stack=None) -> "Runs":
    stack = stack or request.getfixturevalue("dev_stack")
    api = HttpApi(stack.url, stack.token)
    if api.get(f"/api/v2/organizations/{org}").status_code == 404:
        api.post("/api/v2/organizations", {"data": {"attributes": {"name": org, "email": "r@r.r"}}})
    ws = api.post(f"/api/v2/organizations/{org}/workspaces", {"data": {"attributes": {
        "name": f"w-{uuid.uuid4().hex[:12]}"}}}).json["data"]["id"]

    def upload(workspace_id, files, attrs=None):
        created = api.post(f"/api/v2/workspaces/{workspace_id}/configuration-versions",
                           {"data": {"attributes": attrs or {"auto-queue-runs": False}}}).json["data"]
        assert api.as_token(None).put(created["attributes"]["upload-url"].replace(stack.url, ""),
                                      make_tgz(files)).status_code == 200
        poll(lambda: api.get(f"/api/v2/configuration-versions/{created['id']}").json["data"]
             ["attributes"]["status"], lambda s: s == "uploaded", timeout=30)
        return created["id"]
    return Runs(api, ws, upload, org, stack.url)
