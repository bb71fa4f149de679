"""Plan and apply tasks handed out by the run state machine, and its events.

A task message carries the run id and a task token. The worker claims the phase with a
conditional write (a duplicate or redelivered message finds the phase already claimed or over
and does nothing), runs terraform, heartbeats while it runs, watches for cancel requests,
records the outcome through the domain, and completes the token with what the state machine
should do next."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..aws import blobs, executions
from ..config import settings
from ..domain.clock import now_iso
from ..domain.errors import Conflict
from ..domain.runs import Run, RunStatus
from ..services import configuration_versions, logs, runs, state_versions
from ..storage import repositories as repo
from ..storage.models import WorkspaceModel
from . import terraform
from .batch import dead_letter, sqs_handler

log = logging.getLogger(__name__)

PLAN_FILE = "plan.bin"
OVERRIDE_FILE = "zzz_terraless_override.tf"
TFVARS_FILE = "zzz_terraless_run.auto.tfvars"
CANCEL_POLL_SECONDS = 0.5


def plan_key(run_id: str) -> str:
    return f"plans/{run_id}/{PLAN_FILE}"


def plan_json_key(run_id: str) -> str:
    return f"plans/{run_id}/plan.json"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def warm() -> None:
    """A worker container's init phase (as Lambda runs module code before the first event):
    create the AWS clients and learn the terraform binary, so the first run does not pay."""
    from ..aws.clients import client
    for service in ("s3", "sqs", "stepfunctions", "sts", "dynamodb"):
        client(service)
    terraform.binary_version()
    terraform.cli_config()
    try:
        WorkspaceModel.describe_table()     # opens pynamodb's connection
    except Exception:  # noqa: BLE001 - warming is best effort
        pass


# -- entry points (one per queue; app.py wires them) -----------------------------------------------




def _task_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    run_task(message["run_id"], message["phase"], message["task_token"])


def _event_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    if message.get("event") == "awaiting_confirmation":
        runs.on_awaiting_confirmation(message["run_id"], message["task_token"])
    elif message.get("event") == "failed":
        runs.on_phase_failed(message["run_id"], str(message.get("error") or "failed"),
                             str(message.get("cause") or ""))


def _dead_letter_record(record: SQSRecord) -> None:
    message = dead_letter(record, "run_id")
    if message:
        runs.on_dead_letter(message["run_id"], message.get("task_token"),
                            message.get("phase", "run"))


# -- a phase -------------------------------------------------------------------------------------

def run_task(run_id: str, phase: str, token: str) -> None:
    run = repo.find_run(run_id)
    if run is None or run.is_final:
        executions.succeed(token, {"outcome": "finished"})   # canceled while queued: end it
        return
    queued = RunStatus.PLAN_QUEUED if phase == "plan" else RunStatus.APPLY_QUEUED
    if run.status != queued:
        log.info("run %s is %s: %s task already handled", run_id, run.status.value, phase)
        return
    with Heartbeat(token) as beat:
        _run_claimed(run_id, phase, token, beat)


def _run_claimed(run_id: str, phase: str, token: str, beat: "Heartbeat") -> None:
    def claim(r: Run):
        r.worker = worker_name()
        return (r.start_planning if phase == "plan" else r.start_applying)(now_iso())
    try:
        run, _ = runs.mutate(run_id, claim)
    except Conflict:
        return      # another delivery claimed it first
    workdir = Path(tempfile.mkdtemp(prefix=f"{run_id}-{phase}-", dir=_runs_dir()))
    phase_obj = run.plan if phase == "plan" else run.apply
    writer = logs.LogWriter(phase_obj.id)
    try:
        (_plan if phase == "plan" else _apply)(run, workdir, writer, token, _Monitor(run.id, beat))
    except Exception as exc:  # noqa: BLE001 - any failure of the phase errors the run
        log.exception("%s of %s failed", phase, run_id)
        writer.write(f"\nError: {exc}\n")
        _end_errored(run_id, f"{phase} failed: {exc}", writer, phase_obj.id, token)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _runs_dir() -> str:
    path = Path(settings().work_dir) / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


class Heartbeat:
    """Heartbeats the task token from the moment the task is received until it is done, in a
    thread, so no step of the phase (downloads, init, storing state) can outlast the state
    machine's heartbeat. `lost` turns true when the state machine no longer knows the task:
    a token refused after it had been accepted, or refused for a whole heartbeat period. (A
    token may be refused for a moment at first: moto's engine sends the task message before it
    arms the task's heartbeat, and a fast worker beats in between.)"""

    def __init__(self, token: str) -> None:
        self.token, self.lost = token, False
        self.period = float(settings().heartbeat_seconds)
        self.every = max(1.0, self.period / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="heartbeat")

    @staticmethod
    def gives_up(refused: bool, accepted_before: bool, seconds_since_start: float,
                 period: float) -> bool:
        return refused and (accepted_before or seconds_since_start >= period)

    def _loop(self) -> None:
        started, accepted = time.monotonic(), False
        while True:
            try:
                refused = not executions.heartbeat(self.token)
                if self.gives_up(refused, accepted, time.monotonic() - started, self.period):
                    self.lost = True
                    return
                accepted = accepted or not refused
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("heartbeat failed", exc_info=True)
            # until the token is accepted, look again soon: it is the state machine's window
            if self._stop.wait(self.every if accepted else min(self.every, 0.5)):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_probe(run_id: str):
    """What a run's monitor asks: has the run been force-canceled or asked to cancel?"""
    def probe() -> str | None:
        run = repo.find_run(run_id)
        if run is None or run.status == RunStatus.FORCE_CANCELED:
            return "force_canceled"
        return "canceled" if run.cancel_requested_at else None
    return probe


class _Monitor:
    """Watches the run (or job) for cancel / force-cancel through `probe`, and the heartbeat
    for a lost task."""

    def __init__(self, run_id: str, beat: Heartbeat, probe=None) -> None:
        self.run_id, self.beat = run_id, beat
        self.probe = probe or run_probe(run_id)
        self.last_poll = 0.0
        self.cancel_at: float | None = None
        self.outcome: str | None = None   # canceled | force_canceled | lost

    def tick(self, proc: terraform.Process) -> None:
        now = time.monotonic()
        if self.beat.lost and self.outcome is None:
            self.outcome = "lost"              # the state machine gave up on this task
            proc.kill()
        if now - self.last_poll >= CANCEL_POLL_SECONDS:
            self.last_poll = now
            seen = self.probe()
            if seen == "force_canceled":
                self.outcome = "force_canceled"
                proc.kill()
            elif seen == "canceled" and self.cancel_at is None:
                self.outcome, self.cancel_at = "canceled", now
                proc.interrupt()
            elif self.cancel_at is not None and proc.interrupted < 2 and \
                    now - self.cancel_at > settings().cancel_grace_seconds:
                proc.interrupt()               # second Ctrl-C: terraform exits at once


def _terraform(args: list[str], cwd: Path, writer: logs.LogWriter, monitor: _Monitor,
               **process_options) -> int:
    proc = terraform.Process(args, cwd, writer.write, **process_options)
    while True:
        code = proc.wait(0.1)
        writer.flush()
        if code is not None:
            return code
        monitor.tick(proc)


def _prepare(run: Run, workdir: Path, writer: logs.LogWriter) -> Path:
    return prepare_workdir(run.cv_id, run.workspace_id, run.options.variables, workdir, writer)


def prepare_workdir(cv_id: str, workspace_id: str, variables: list, workdir: Path,
                    writer: logs.LogWriter) -> Path:
    """The configuration version unpacked, local state from the workspace's current state
    version, the run's variables: the directory terraform runs in."""
    cv = repo.load_cv(cv_id)
    with tarfile.open(fileobj=configuration_versions.read_archive(cv), mode="r|gz") as tar:
        tar.extractall(workdir / "config", filter="data")
    ws = WorkspaceModel.get(workspace_id)
    cwd = (workdir / "config" / (ws.working_directory or "")).resolve()
    if not str(cwd).startswith(str((workdir / "config").resolve())) or not cwd.is_dir():
        raise RuntimeError(f"working directory {ws.working_directory!r} is not in the configuration")
    # Whatever backend the configuration names (e.g. "remote" pointing back at us), the
    # worker runs on local state that it loads from and stores to state versions.
    (cwd / OVERRIDE_FILE).write_text('terraform {\n  backend "local" {}\n}\n')
    state = state_versions.current_state_bytes(ws)
    if state:
        (cwd / "terraform.tfstate").write_bytes(state)
    if variables:
        (cwd / TFVARS_FILE).write_text("".join(f"{v['key']} = {v['value']}\n" for v in variables))
    writer.write(f"Terraform v{terraform.binary_version()}\non linux_amd64\n"
                 "Initializing Terraform configuration...\n")
    return cwd


def _init(cwd: Path, writer: logs.LogWriter, monitor: _Monitor) -> None:
    init_log = logs.LogWriter("unused")
    code = _terraform(["init", "-input=false", "-no-color"], cwd, _Discard(init_log), monitor)
    if code != 0:
        writer.write(init_log.text())
        log.warning("terraform init failed in %s:\n%s", cwd, init_log.text()[-3000:])
        raise RuntimeError("terraform init failed")


class _Discard:
    """Collects init output without publishing it (it is shown only when init fails)."""

    def __init__(self, sink: logs.LogWriter) -> None:
        self.sink = sink

    def write(self, text: str) -> None:
        self.sink.write(text)

    def flush(self, force: bool = False) -> None:
        pass


class _Steps:
    """Durations of a phase's steps, logged at debug level (where the time goes)."""

    def __init__(self, run_id: str) -> None:
        self.run_id, self.last, self.parts = run_id, time.perf_counter(), []

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.parts.append(f"{name}={now - self.last:.3f}s")
        self.last = now

    def log(self) -> None:
        log.debug("%s steps: %s", self.run_id, " ".join(self.parts))


def _plan(run: Run, workdir: Path, writer: logs.LogWriter, token: str, monitor: _Monitor) -> None:
    steps = _Steps(run.id)
    cwd = _prepare(run, workdir, writer)
    steps.mark("prepare")
    _init(cwd, writer, monitor)
    steps.mark("init")
    args = ["plan", "-input=false", "-no-color", f"-out={PLAN_FILE}", "-detailed-exitcode"]
    opts = run.options
    if opts.is_destroy:
        args.append("-destroy")
    if opts.refresh_only:
        args.append("-refresh-only")
    if not opts.refresh:
        args.append("-refresh=false")
    args += [f"-target={a}" for a in opts.target_addrs] + [f"-replace={a}" for a in opts.replace_addrs]
    code = _terraform(args, cwd, writer, monitor)
    steps.mark("plan")
    if _ended_by_monitor(run.id, monitor, writer, run.plan.id, token):
        return
    if code not in (0, 2):
        _end_errored(run.id, "terraform plan failed", writer, run.plan.id, token)
        return
    # Counts come from terraform's own summary line, so the run is recorded as planned
    # without waiting for `terraform show -json` (which runs after, for json-output).
    counts = parse_plan_counts(writer.text())
    blobs.put(plan_key(run.id), (cwd / PLAN_FILE).read_bytes())
    writer.archive()
    steps.mark("store")

    decided: dict[str, str] = {}

    def finish(r: Run):
        _refuse_if_cancel(r)
        r.plan.log_archived = True
        move, decided["outcome"] = r.finish_plan(
            now_iso(), has_changes=code == 2, additions=counts[0], changes=counts[1],
            destructions=counts[2])
        return move
    try:
        done, _ = runs.mutate(run.id, finish)
    except _CancelSeen:
        # a cancel landed after terraform finished but before the result was recorded
        monitor.outcome = monitor.outcome or "canceled"
        _ended_by_monitor(run.id, monitor, writer, run.plan.id, token)
        return
    outcome = decided["outcome"]
    steps.mark("record")
    executions.succeed(token, {"outcome": outcome})
    if outcome == "finished":
        runs.finished(done)
    _store_plan_json(run.id, cwd)
    steps.mark("json")
    steps.log()


def _store_plan_json(run_id: str, cwd: Path) -> None:
    """The plan in JSON (GET /plans/:id/json-output), produced after the run moved on."""
    # niced: on a shared worker host it must not slow the apply that may already be starting
    shown = subprocess.run([terraform.binary(), "show", "-json", PLAN_FILE], cwd=cwd,
                           env=terraform.base_env(cwd), capture_output=True, timeout=600,
                           preexec_fn=lambda: os.nice(10))
    if shown.returncode == 0:
        blobs.put(plan_json_key(run_id), shown.stdout, content_type="application/json")
    else:
        log.warning("terraform show -json failed for %s: %s", run_id, shown.stderr[-500:])


def _apply(run: Run, workdir: Path, writer: logs.LogWriter, token: str, monitor: _Monitor) -> None:
    steps = _Steps(run.id)
    cwd = _prepare(run, workdir, writer)
    (cwd / PLAN_FILE).write_bytes(blobs.read(plan_key(run.id)))
    steps.mark("prepare")
    _init(cwd, writer, monitor)
    steps.mark("init")
    before = (cwd / "terraform.tfstate").read_bytes() if (cwd / "terraform.tfstate").exists() else None
    code = _terraform(["apply", "-input=false", "-no-color", "-auto-approve", PLAN_FILE], cwd,
                      writer, monitor)
    steps.mark("apply")
    # Whatever happened, a changed state is kept: a failed or interrupted apply may still have
    # created real resources.
    sv_id = _store_state(run, cwd, before)
    steps.mark("state")
    if _ended_by_monitor(run.id, monitor, writer, run.apply.id, token, sv_id=sv_id):
        return
    if code != 0:
        _end_errored(run.id, "terraform apply failed", writer, run.apply.id, token, sv_id=sv_id)
        return
    added, changed, destroyed = parse_apply_counts(writer.text())
    writer.archive()

    def finish(r: Run):
        r.apply.log_archived = True
        r.state_version_id = sv_id or r.state_version_id
        return r.finish_apply(now_iso(), additions=added, changes=changed, destructions=destroyed)
    done, _ = runs.mutate(run.id, finish)
    steps.mark("record")
    executions.succeed(token, {"outcome": "applied"})
    runs.finished(done)
    steps.mark("finish")
    steps.log()


def _store_state(run: Run, cwd: Path, before: bytes | None) -> str | None:
    path = cwd / "terraform.tfstate"
    if not path.exists():
        return None
    after = path.read_bytes()
    if after == before:
        return None
    ws = WorkspaceModel.get(run.workspace_id)
    return state_versions.store(ws, after, run_id=run.id, created_by=run.created_by).id


class _CancelSeen(Exception):
    pass


def _refuse_if_cancel(run: Run) -> None:
    if run.cancel_requested_at or run.status == RunStatus.FORCE_CANCELED:
        raise _CancelSeen()


def _ended_by_monitor(run_id: str, monitor: _Monitor, writer: logs.LogWriter, phase_id: str,
                      token: str, sv_id: str | None = None) -> bool:
    """Cancel, force-cancel or a lost task ended terraform: record that and say so."""
    if monitor.outcome is None:
        return False
    writer.write({"canceled": "\nThe run was canceled.\n",
                  "force_canceled": "\nThe run was force-canceled.\n",
                  "lost": "\nThe run's task was abandoned by the state machine.\n"}[monitor.outcome])
    if monitor.outcome == "canceled":
        _close_phase(run_id, phase_id, writer, sv_id, lambda r: r.mark_canceled(now_iso()))
    else:
        writer.archive()    # force-cancel and lost tasks were recorded by whoever ended them
    executions.succeed(token, {"outcome": "canceled"})
    return True


def _close_phase(run_id: str, phase_id: str, writer: logs.LogWriter, sv_id: str | None,
                 move) -> None:
    """End a phase that did not succeed: the log to S3, then the run's final move (keeping any
    state version the phase produced) and the workspace handed on. A run that reached a final
    status meanwhile is left as it is."""
    writer.archive()

    def close(r: Run):
        (r.plan if r.plan.id == phase_id else r.apply).log_archived = True
        r.state_version_id = sv_id or r.state_version_id
        return move(r)
    try:
        done, _ = runs.mutate(run_id, close)
    except Conflict:
        return
    runs.finished(done)


def _end_errored(run_id: str, reason: str, writer: logs.LogWriter, phase_id: str, token: str,
                 sv_id: str | None = None) -> None:
    detail = _error_summary(writer.text())
    _close_phase(run_id, phase_id, writer, sv_id,
                 lambda r: r.fail(now_iso(), f"{reason}: {detail}" if detail else reason))
    executions.succeed(token, {"outcome": "errored"})


def _error_summary(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    return (errors[0] if errors else (lines[-1] if lines else ""))[:500]


# -- reading terraform's results -------------------------------------------------------------------

_PLAN_RE = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")


def parse_plan_counts(text: str) -> tuple[int, int, int]:
    """From terraform's summary line; a replacement counts as one add and one destroy, as in
    `show -json` (["delete","create"]). No line (no changes, outputs only, refresh-only): 0s."""
    match = _PLAN_RE.search(text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else (0, 0, 0)


_APPLY_RE = re.compile(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed")
_DESTROY_RE = re.compile(r"Destroy complete! Resources: (\d+) destroyed")


def parse_apply_counts(text: str) -> tuple[int, int, int]:
    match = _APPLY_RE.search(text)
    if match:
        return int(match.group(1)), int(match.group(2)), int(match.group(3))
    match = _DESTROY_RE.search(text)
    if match:
        return 0, 0, int(match.group(1))
    return 0, 0, 0


handle_tasks = sqs_handler(_task_record)
handle_events = sqs_handler(_event_record)
handle_dead_letters = sqs_handler(_dead_letter_record)
