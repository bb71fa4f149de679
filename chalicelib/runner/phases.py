"""One phase, as the runner executes it: the work description says what to run; everything
the phase needs from the service (its configuration, the current state, its saved plan) and
everything it produces (logs, plan, JSON plan, new state, the outcome) goes through the runner
API with the phase's credential. The runner decides nothing about the run's status: it reports
what happened and the service records it."""
from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import time
from pathlib import Path

from . import log
from . import monitor as monitoring
from .client import PhaseApi, RunnerApiError
from .monitor import HeldOutput, Heartbeat, LogStream, Monitor, StateCheckpoints, mask
from .process import Tools, run_to_end


OVERRIDE_FILE = "zzz_terraless_override.tf"
# The phase's terraform variables (workspace, sets, the run's own), also given with -var-file
# so that they override any *.auto.tfvars of the configuration, as in HCP Terraform.
VARS_FILE = "zzz_terraless_variables.auto.tfvars.json"
HCL_VARS_FILE = "zzz_terraless_variables.auto.tfvars"
STATE_FILE = "terraform.tfstate"
PLAN_FILE = "plan.bin"
BASH = "/bin/bash"
# a key HCL can hold as an argument name (the service also takes keys that start with a digit,
# as HCP Terraform does: no configuration can declare those)
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")


def extract(tar: tarfile.TarFile, dest: Path, *, max_bytes: int = 1 << 62,
            max_files: int = 1 << 62) -> None:
    """The archive's files and directories (and links that stay inside) under `dest`, nothing
    else: tarfile's "data" filter, checked here by hand where the interpreter the runner
    user can execute predates it (Debian's 3.11.2). The upload's size limits are enforced
    again here, before anything is written."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    members, total = [], 0
    for count, member in enumerate(tar, 1):
        total += max(member.size, 0)
        if total > max_bytes or count > max_files:
            raise PhaseFailed(f"the configuration unpacks to more than {max_bytes} bytes or "
                              f"{max_files} files")
        target = (root / member.name).resolve()
        if member.name.startswith("/") or not (target == root or root in target.parents):
            raise PhaseFailed(f"archive member {member.name!r} is outside the configuration")
        if member.issym() or member.islnk():
            base = target.parent if member.issym() else root
            linked = (base / member.linkname).resolve()
            if member.linkname.startswith("/") or not (linked == root or root in linked.parents):
                raise PhaseFailed(f"archive link {member.name!r} points outside the configuration")
        elif not (member.isfile() or member.isdir()):
            continue                      # devices, FIFOs: never
        member.mode = (member.mode | 0o600) & 0o755
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        members.append(member)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(root, members=members, filter="data")
    else:
        tar.extractall(root, members=members, numeric_owner=True)


def hcl_assignment(key: str, value: str) -> str:
    """An HCL variable as the service validated it (domain/variables.hcl_assignment: the
    parentheses keep a newline inside the value from ending the assignment)."""
    return f"{key} = (\n{value}\n)\n"


def variable_files(given: dict) -> dict[str, str]:
    """The terraform variables files of a phase: plain values as JSON, HCL ones as HCL, whose
    argument names must be identifiers (a key that is not one is left out of it)."""
    files = {}
    if given.get("terraform"):
        files[VARS_FILE] = json.dumps(given["terraform"])
    hcl = {k: v for k, v in (given.get("hcl") or {}).items() if IDENTIFIER.match(k)}
    if hcl:
        files[HCL_VARS_FILE] = "".join(hcl_assignment(k, v) for k, v in hcl.items())
    return files


class PhaseFailed(Exception):
    """A step of the phase failed before or around terraform (init, a download)."""


class Phase:
    def __init__(self, work: dict, api: PhaseApi) -> None:
        self.work, self.api = work, api
        self.root = Path(work["workdir"])
        self.tools = Tools(work["tools"], self.root)
        self.log = LogStream(lambda seq, text: api.post("logs", {"seq": seq, "text": text}))
        self.beat = Heartbeat(monitoring.beat_of(api), work["heartbeat_seconds"])
        limit = work.get("time_limit_seconds") or 0
        self.monitor = Monitor(self.beat, monitoring.probe_of(api), work["cancel_grace_seconds"],
                               deadline=time.monotonic() + limit if limit > 0 else None)
        self.cwd: Path | None = None
        self.var_env: dict[str, str] = {}
        self.var_files: list[str] = []
        self._variables: threading.Thread | None = None
        self._given: dict | BaseException = {}
        self._last = time.perf_counter()
        self.steps: list[str] = []         # where the phase's time went (logged at debug)

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.steps.append(f"{name}={now - self._last:.3f}s")
        self._last = now

    # -- steps every operation shares ------------------------------------------------------

    def prepare(self) -> Path:
        """The configuration unpacked, the workspace's current state; the run's variables are
        fetched meanwhile, in a thread (resolving them is the service's slowest answer), and
        are in place before the first command that uses them (variables_in_place)."""
        self._variables = threading.Thread(target=self._fetch_variables, daemon=True,
                                           name="variables")
        self._variables.start()
        archive = self.api.get("configuration") or b""
        config = self.root / "config"
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            extract(tar, config, max_bytes=self.work.get("max_unpacked_bytes", 1 << 62),
                    max_files=self.work.get("max_files", 1 << 62))
        cwd = (config / self.work.get("working_directory", "")).resolve()
        if not str(cwd).startswith(str(config.resolve())) or not cwd.is_dir():
            raise PhaseFailed(f"working directory {self.work.get('working_directory')!r} is "
                              "not in the configuration")
        # Whatever backend the configuration names (e.g. "remote" pointing back at us), the
        # phase runs on local state that the service loads from and stores to state versions.
        (cwd / OVERRIDE_FILE).write_text('terraform {\n  backend "local" {}\n}\n')
        state = self.api.get("state")
        if state:
            (cwd / STATE_FILE).write_bytes(state)
        self.log.write(f"{self.tools.name} v{self.tools.version}\non linux_amd64\n"
                       f"Initializing {self.tools.name} configuration...\n")
        self.cwd = cwd
        self.mark("prepare")
        return cwd

    def _fetch_variables(self) -> None:
        try:
            self._given = json.loads(self.api.get("variables") or b"{}")
        except BaseException as exc:  # noqa: BLE001 - raised where the variables are needed
            self._given = exc

    def variables_in_place(self) -> None:
        """Terraform variables into files in the working directory, env variables into the
        environment of every command; sensitive values are masked in everything sent back.
        `terraform init` does not wait for them (it installs from the local mirror only)."""
        if self._variables is None:
            return
        self._variables.join()
        self._variables, given, cwd = None, self._given, self.cwd
        assert cwd is not None
        if isinstance(given, BaseException):
            raise PhaseFailed(f"the phase's variables could not be read: {given}")
        self.log.masks = given.get("masks") or []
        self.var_env = given.get("env") or {}
        for name, text in variable_files(given).items():
            (cwd / name).write_text(text)
            self.var_files.append(f"-var-file={name}")

    def masked(self, text: str) -> str:
        return mask(text, self.log.masks)

    def terraform(self, args: list[str], writer=None) -> int:
        assert self.cwd is not None
        if args[:1] != ["init"]:
            self.variables_in_place()
        env = self.tools.env(self.cwd, {**self.var_env, **self.work.get("env", {})})
        return monitoring.run([self.tools.terraform, *args], self.cwd, env, writer or self.log,
                              self.monitor)

    def init(self) -> bool:
        """False when the monitor interrupted it (a cancel during init is a cancel)."""
        held = HeldOutput()
        if self.terraform(["init", "-input=false", "-no-color"], held) != 0:
            if self.monitor.outcome is not None:
                return False
            self.log.write(held.text())
            raise PhaseFailed("terraform init failed")
        self.mark("init")
        return True

    def scripts(self, when: str) -> bool:
        """A job step's BASH commands for `when`, in priority order; False at the first that
        fails or is interrupted."""
        assert self.cwd is not None
        self.variables_in_place()
        env = self.tools.env(self.cwd, {**self.var_env, **self.work.get("env", {}),
                                        "workingDirectory": str(self.cwd)}, on_path=True)
        for command in self.work.get("scripts", {}).get(when, []):
            self.log.write(f"\nRunning {command['runtime']} command (priority {command['priority']})\n")
            code = monitoring.run([BASH, "-c", command["script"]], self.cwd, env, self.log, self.monitor)
            if self.monitor.outcome is not None:
                return False
            if code != 0:
                self.log.write(f"Error: the command exited with status {code}\n")
                return False
        return True

    def state_bytes(self) -> bytes | None:
        assert self.cwd is not None
        path = self.cwd / STATE_FILE
        return path.read_bytes() if path.exists() else None

    def upload_state(self, before: bytes | None) -> str | None:
        """A state terraform changed becomes the workspace's new state version, whatever the
        phase's outcome: a failed or interrupted apply may still have changed real resources."""
        after = self.state_bytes()
        if after is None or after == before:
            return None
        return self.store_state(after)

    def store_state(self, data: bytes) -> str | None:
        return json.loads(self.api.put("state", data, "application/json") or b"{}").get("id")

    def fetch_plan(self, *, required: bool) -> bool:
        assert self.cwd is not None
        plan = self.api.get("plan", missing_ok=not required)
        if plan is None:
            return False
        (self.cwd / PLAN_FILE).write_bytes(plan)
        return True

    def report(self, **facts) -> dict:
        self.mark("terraform")
        self.log.flush(force=True)
        answer = self.api.post("outcome", {"interrupted": self.monitor.outcome, **facts})
        self.mark("report")
        return answer

    # -- operations --------------------------------------------------------------------------

    def execute(self) -> None:
        with self.beat:
            try:
                OPERATIONS[self.work["operation"]](self)
            except Exception as exc:  # noqa: BLE001 - any failure of the phase is reported
                log.exception("phase %s failed", self.work["phase_id"])
                self.log.write(f"\nError: {exc}\n")
                self.report(ok=False, error=self.masked(str(exc)))
            finally:
                self.log.flush(force=True)
        self.mark("after")
        log.debug("phase %s steps: %s", self.work["phase_id"], " ".join(self.steps))
        try:
            self.api.post("close", {})
        except RunnerApiError as exc:
            if exc.status != 401:          # 401: the report already closed it
                log.warning("closing the lease failed: %s", exc)
        except Exception:  # noqa: BLE001 - the privileged side closes it when the runner is gone
            log.warning("closing the lease failed", exc_info=True)


def _plan(phase: Phase) -> None:
    phase.prepare()
    is_job = phase.work["kind"] == "job"
    if is_job and not phase.scripts("before"):
        phase.report(ok=False)
        return
    if not phase.init():
        phase.report(ok=False)
        return
    phase.variables_in_place()
    code = phase.terraform(phase.work["args"] + phase.var_files)
    ok = phase.monitor.outcome is None and code in (0, 2)
    if ok:
        phase.api.put("plan", (phase.cwd / PLAN_FILE).read_bytes())
    if ok and is_job:
        ok = phase.scripts("after")
    phase.report(ok=ok, exit_code=code)
    if ok and phase.work.get("plan_json"):
        _plan_json(phase)


def _plan_json(phase: Phase) -> None:
    """The plan in JSON (GET /plans/:id/json-output), produced after the run moved on."""
    assert phase.cwd is not None
    env = phase.tools.env(phase.cwd)
    # niced: on a shared host it must not slow the apply that may already be starting
    shown = run_to_end([phase.tools.terraform, "show", "-json", PLAN_FILE], phase.cwd, env,
                       timeout=600, nice=10)
    if shown.returncode == 0:
        phase.api.put("plan-json", phase.masked(shown.stdout.decode()).encode(), "application/json")
    else:
        log.warning("terraform show -json failed: %s", shown.stderr[-500:])


def _apply(phase: Phase) -> None:
    phase.prepare()
    is_run = phase.work["kind"] == "run"
    # a run applies its saved plan; a job's apply uses the plan of its plan step, if any
    with_plan = phase.fetch_plan(required=is_run) if phase.work.get("plan_args") else False
    if not is_run and not phase.scripts("before"):
        phase.report(ok=False)
        return
    if not phase.init():
        phase.report(ok=False)
        return
    before = phase.state_bytes()
    phase.variables_in_place()
    with StateCheckpoints(phase.state_bytes, phase.store_state, before) as checkpoints:
        code = phase.terraform(phase.work["plan_args"] if with_plan
                               else phase.work["args"] + phase.var_files)
    sv_id = phase.upload_state(checkpoints.last) or checkpoints.last_id
    ok = phase.monitor.outcome is None and code == 0
    if ok and not is_run and not phase.scripts("after"):
        ok = False
    phase.report(ok=ok, exit_code=code, state_version=sv_id)


def _scripts_only(phase: Phase) -> None:
    phase.prepare()
    phase.report(ok=phase.scripts("all"))


OPERATIONS = {"plan": _plan, "apply": _apply, "scripts": _scripts_only}


def execute(work: dict, api: PhaseApi) -> None:
    started = time.monotonic()
    Phase(work, api).execute()
    log.debug("phase %s took %.3fs", work["phase_id"], time.monotonic() - started)
