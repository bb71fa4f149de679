"""terraform (or a step's bash) as a child of the runner: its own process group, output
streamed line by line, interruptible like Ctrl-C, and nothing of it left when it ends.

The runner holds nothing of the service: the environment a command gets is built here from
the work description alone."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from pathlib import Path

PR_SET_PDEATHSIG = 1
SIG_DFL = 0
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _child_setup() -> None:
    """Between fork and exec: a process group of its own (a cancel's SIGINT reaches terraform
    and its providers; the whole group is killed at the end), in the runner's session (the
    executor ends whatever is left of that session when the runner is gone), death with the
    runner. SIGINT back to its default: a service started in the background by a shell
    (`terraless agent … &`) hands an ignored SIGINT down to every child, and a `sh` step
    script cannot trap a signal ignored on entry — a cancel would never reach it. (libc's
    signal(): Python's signal.signal refuses a thread that is not its main one, and a phase's
    commands are started from a worker thread.)"""
    os.setpgid(0, 0)
    _libc.signal(signal.SIGINT, SIG_DFL)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def enter_pid_namespace() -> None:
    """The executor gave the runner's children a PID namespace of their own
    (executor/isolation.py). The runner forks before anything else: the child, the namespace's
    init, returns and runs the phase (a process outside the namespace it makes children in
    could not start threads); this process waits for it, exits with its status, and takes it
    along if killed (parent-death signal). When the runner's init ends, however it ends, the
    kernel kills every process left in the namespace — a provisioner's daemonized command, a
    provider plugin — and inside it nothing can signal its init."""
    child = os.fork()
    if child == 0:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) % 256)


class Tools:
    """What the privileged side staged for the phase (paths it verified before launch)."""

    def __init__(self, description: dict, phase_root: Path) -> None:
        self.terraform = description["binary"]
        self.cli_config = description["cli_config"]
        self.version = description.get("version", "unknown")
        self.engine = description.get("engine", "terraform")
        self.name = "OpenTofu" if self.engine == "tofu" else "Terraform"
        self.phase_root = phase_root

    def env(self, cwd: Path, extra: dict[str, str] | None = None, *, on_path: bool = False) -> dict:
        """HOME and TMPDIR are the phase's own. TMPDIR sits at the phase's root, not below the
        working directory: go-plugin puts terraform's provider sockets there, and a Unix
        socket path is capped at 108 bytes."""
        home, tmp = cwd / ".home", self.phase_root / "t"
        home.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        path = "/usr/local/bin:/usr/bin:/bin"
        if on_path:                        # step scripts call `terraform ...`
            path = f"{Path(self.terraform).parent}:{path}"
        env = {"PATH": path, "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8",
               "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
               "TF_CLI_CONFIG_FILE": self.cli_config}
        env.update(extra or {})
        return env


class Process:
    """A command with merged stdout/stderr delivered to `on_line` as it is printed."""

    def __init__(self, argv: list[str], cwd: Path, env: dict, on_line) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_child_setup)
        self._reader = threading.Thread(target=self._pump, args=(on_line,), daemon=True)
        self._reader.start()
        self.interrupted = 0

    def _pump(self, on_line) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            on_line(raw.decode("utf-8", "replace"))

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        # Nothing of the phase outlives its command: provider plugins terraform left behind
        # (a killed terraform), a provisioner's background `sleep` — the whole process group.
        self._signal(signal.SIGKILL)
        self._reader.join(timeout=5)
        return code

    def interrupt(self) -> None:
        """Ctrl-C; a second call is terraform's 'interrupt again to exit immediately'."""
        self.interrupted += 1
        self._signal(signal.SIGINT)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def run_to_end(argv: list[str], cwd: Path, env: dict, *, timeout: float, nice: int = 0):
    """A command to completion (`terraform show -json`), output captured."""
    def setup() -> None:
        _child_setup()
        if nice:
            os.nice(nice)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=timeout,
                          preexec_fn=setup)
