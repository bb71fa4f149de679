"""`terraless dev`: the whole service on one machine, in the foreground.

moto_server (Step Functions execution on) -> resources from infra/ -> bootstrap token ->
HTTP API on TERRALESS_PORT -> SQS dispatch playing Lambda. Ctrl-C (or SIGTERM) stops all of it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

log = logging.getLogger("terraless.dev")


def _free_port_check(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is already in use (set another with the env var)")


def _wait_http(url: str, deadline: float, proc: subprocess.Popen | None = None) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:  # noqa: BLE001 - not up yet
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"the emulator exited ({proc.returncode}): see its log") from None
            if time.time() > deadline:
                raise SystemExit(f"{url} did not come up")
            time.sleep(0.1)


def _secret_file(path: Path, env_value: str | None) -> str:
    if env_value:
        value = env_value
    elif path.exists():
        value = path.read_text().strip()
    else:
        value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


class Emulator:
    """moto_server as a child process in its own process group, with IAM enforcement on
    (local/emulator.py): the service works as the `service` identity, whose policy is the
    deploy template's; provisioning and the tests' own inspection use `admin`."""

    def __init__(self, port: int, home: Path, durable: bool = True) -> None:
        self.port, self.home = port, home
        # the journal of durable writes (local/journal.py): what the API acknowledged survives
        # any stop of the stack and comes back at the next start
        self.journal = home / "journal.jsonl" if durable else None
        self.proc: subprocess.Popen | None = None
        self.credentials: dict[str, dict[str, str]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spec(self) -> dict:
        from .emulator import STATES_ENGINE_KEY, policy_for_emulator  # lazy: dev stack only
        from .provision import load_template  # lazy: as above
        service = json.loads((ROOT / ".chalice" / "policy.json").read_text())
        role = load_template()["Resources"]["RunStateMachineRole"]["Properties"]
        states = {"Version": "2012-10-17", "Statement": [
            s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]}
        admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        return {"admin": {"user": "terraless-admin", "policy": admin},
                "service": {"user": "terraless-service", "policy": policy_for_emulator(service)},
                "states": {"user": "terraless-states-engine", "policy": policy_for_emulator(states),
                           "fixed_key": list(STATES_ENGINE_KEY)}}

    def start(self) -> None:
        from .lifetime import reclaim, record, session_dying_with  # lazy: dev stack only
        pid_file = self.home / "emulator.pid"
        reclaim(pid_file, "chalicelib.local.emulator " + str(self.home))
        _free_port_check(self.port)
        spec, creds = self.home / "emulator-identities.json", self.home / "emulator-credentials.json"
        spec.write_text(json.dumps(self._spec()))
        creds.unlink(missing_ok=True)
        env = dict(os.environ, MOTO_PORT=str(self.port))  # Step Functions calls back here
        env.pop("TERRALESS_JOURNAL", None)
        if self.journal is not None:
            env["TERRALESS_JOURNAL"] = str(self.journal)
        # 0600: the emulator's log holds request bodies (a phase's runner user must not read it)
        logfile = os.fdopen(os.open(self.home / "moto.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                    0o600), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.emulator", str(spec), str(creds),
             "127.0.0.1", str(self.port)], cwd=ROOT,
            env=env, stdout=logfile, stderr=subprocess.STDOUT,
            # dies with the stack, however the stack dies (SIGKILL included)
            preexec_fn=session_dying_with(os.getpid()))
        record(pid_file, self.proc.pid)
        _wait_http(f"{self.url}/moto-api/", time.time() + 300, self.proc)   # a journal replays first
        self.credentials = json.loads(creds.read_text())
        req = urllib.request.Request(
            f"{self.url}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def use(self, identity: str) -> None:
        """This process's AWS clients act as `identity` from now on."""
        key = self.credentials[identity]
        os.environ["AWS_ACCESS_KEY_ID"] = key["access_key_id"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = key["secret_access_key"]
        from ..aws import clients  # lazy: after the environment is set
        from ..storage import base  # lazy: as above
        clients.reset()
        base.reset_connections()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def run() -> int:
    from ..executor import isolation  # lazy: as below
    isolation.protect_process()   # not dumpable: a phase of the same uid cannot read this process
    logging.basicConfig(level=os.environ.get("TERRALESS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    home = Path(os.environ.get("TERRALESS_HOME", ".terraless")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    # The stack's secrets live here: no phase's runner user (runner/isolation.py) gets in.
    home.chmod(0o700)
    # The work directory belongs to this stack (not /tmp/terraless-work, shared by every stack);
    # short, because provider sockets live below it (a Unix socket path is capped at 108 bytes).
    owns_work_dir = "TERRALESS_WORK_DIR" not in os.environ
    os.environ.setdefault("TERRALESS_WORK_DIR", os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "terraless-" + hashlib.sha256(str(home).encode()).hexdigest()[:10]))
    # Its own is started fresh and removed at the end: nothing a phase left (or an older
    # version of the mirror) is used by the next stack. One the user names is left alone.
    work_dir = Path(os.environ["TERRALESS_WORK_DIR"])
    if owns_work_dir:
        shutil.rmtree(work_dir, ignore_errors=True)
    port = int(os.environ.get("TERRALESS_PORT", "8000"))
    _free_port_check(port)
    _free_port_check(int(os.environ.get("TERRALESS_TLS_PORT", "8443")))

    emulator = None
    if not os.environ.get("AWS_ENDPOINT_URL") and not os.environ.get("LOCALSTACK_HOST") \
            and os.environ.get("TERRALESS_USE_AWS") != "1":
        emulator = Emulator(int(os.environ.get("TERRALESS_MOTO_PORT", "4566")), home,
                            durable=os.environ.get("TERRALESS_DURABLE", "1") != "0")
        emulator.start()
        os.environ["AWS_ENDPOINT_URL"] = emulator.url
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        # clients reach the emulator's S3 as another host than the API, as on AWS (clients.presigning_s3)
        os.environ.setdefault("TERRALESS_PRESIGN_ENDPOINT", emulator.url.replace("127.0.0.1", "localhost"))
    os.environ.setdefault("TERRALESS_PUBLIC_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("TERRALESS_ALLOW_LOCAL_REPOS", "1")  # clone-url may be a local path
    os.environ["TERRALESS_SIGNING_SECRET"] = _secret_file(
        home / "signing-secret", os.environ.get("TERRALESS_SIGNING_SECRET"))

    stop = threading.Event()
    # SIGHUP (the terminal closed) stops the stack like SIGTERM and Ctrl-C
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return _serve(home, port, stop, emulator)
    finally:
        if emulator:
            emulator.stop()
        if owns_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)


def _serve(home: Path, port: int, stop: threading.Event, emulator: "Emulator | None") -> int:
    # lazy: imported only now, settings and clients must see the emulator's environment
    from ..aws import clients
    from ..config import reset, settings  # lazy: as above
    from ..services import identity  # lazy: as above
    from . import dispatch, provision  # lazy: as above
    from .server import HTTPServer  # lazy: as above

    reset()
    if emulator:
        emulator.use("admin")           # creating the resources is the deployer's job
    clients.reset()
    clients.apply_localstack_host()
    started = time.time()
    created = provision.provision()
    log.info("provisioned %d resources from infra/resources.yaml in %.2fs",
             len(created), time.time() - started)
    # What a previous stack had in flight (the journal brought its data back): settled once,
    # before anything is served. A dev-stack operation (on AWS nothing in flight is lost), so
    # it runs as the operator, like provisioning: the service's policy has no Scan.
    import app as app_module  # noqa: PLC0415 # lazy: the Chalice app, after the environment is set
    from ..services import restarts  # lazy: as above
    reconciled = restarts.reconcile()
    if any(reconciled.values()):
        print(f"after the restart: {json.dumps(reconciled)}", flush=True)
    if emulator:
        emulator.use("service")         # from here on, exactly the template's permissions

    admin_token = _secret_file(home / "admin-token", os.environ.get("TERRALESS_BOOTSTRAP_TOKEN"))
    identity.ensure_site_admin(admin_token)

    # The same API over HTTPS: the terraform CLI does service discovery over HTTPS only.
    from .tls import ensure_certificate, server_context  # lazy: as above
    tls_port = int(os.environ.get("TERRALESS_TLS_PORT", "8443"))
    cert, key = ensure_certificate(home / "tls")
    cli_rc = write_cli_config(home, f"localhost:{tls_port}", admin_token)
    info = {"api": settings().public_url, "tls_api": f"https://localhost:{tls_port}",
            "tls_cert": str(cert), "terraform_cli_config": str(cli_rc),
            "aws_endpoint": os.environ.get("AWS_ENDPOINT_URL"), "prefix": settings().prefix,
            "admin_token_file": str(home / "admin-token")}
    # written before the API answers, so whoever sees ping answer can read it
    (home / "dev.json").write_text(json.dumps(info, indent=2) + "\n")
    dispatcher = dispatch.Dispatcher(dispatch.subscriptions(app_module.app, app_module))
    dispatcher.start()
    # a SIGKILLed worker's terraform dies with it; what terraform started is adopted and ended
    from ..executor import isolation  # lazy: as above
    from .orphans import OrphanReaper  # lazy: as above
    reaper = OrphanReaper(isolation.runner_uid()) if isolation.runs_as_runner_user() else None
    if reaper is not None and not reaper.start():
        reaper = None
    from . import schedule  # lazy: as above
    scheduler = schedule.Scheduler(schedule.jobs(app_module.app, app_module))
    scheduler.start()
    tls_server = HTTPServer(app_module.app, "127.0.0.1", tls_port, server_context(cert, key))
    tls_server.start()
    server = HTTPServer(app_module.app, "127.0.0.1", port)
    server.start()
    print(f"Terraless is up: {settings().public_url}/api/v2/ping", flush=True)
    print(f"  terraform CLI: hostname = \"localhost:{tls_port}\"; export "
          f"TF_CLI_CONFIG_FILE={cli_rc} SSL_CERT_FILE={cert}", flush=True)
    print(f"  web console: {settings().public_url}/app/ (sign in with a user token)", flush=True)
    print(f"  AWS endpoint: {info['aws_endpoint'] or 'AWS (default credentials)'}", flush=True)
    if os.environ.get("TERRALESS_BOOTSTRAP_TOKEN"):
        print("  site-admin token: $TERRALESS_BOOTSTRAP_TOKEN", flush=True)
    else:
        # where it is, not what it is: a terminal's scrollback or a CI log is no place for it
        print(f"  site-admin token: in {home / 'admin-token'} (0600)", flush=True)
    print("Ctrl-C stops everything.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    print("stopping...", flush=True)
    scheduler.stop()
    dispatcher.stop()
    if reaper is not None:
        reaper.stop()
    server.stop()
    tls_server.stop()
    return 0


def write_cli_config(home: Path, hostname: str, token: str) -> Path:
    """A terraform CLI configuration for this stack: the site-admin token for the HTTPS
    hostname, and the provider mirror the workers use (so `terraform init` of a remote-backend
    configuration needs no network for the shipped providers)."""
    from ..executor import staging  # lazy: the CLI command needs no terraform until now

    path = home / "terraform.rc"
    path.write_text(f'credentials "{hostname}" {{\n  token = "{token}"\n}}\n\n'
                    + Path(staging.cli_config()).read_text())
    path.chmod(0o600)
    return path
