"""What the run sandbox costs a phase (executor/isolation.py): terraform init + plan (+ apply) of
the same configuration, bare (the worker's user, the host network) and sandboxed (the runner
user in its own network namespace, the working directory handed over before each command), in
the same run, alternating, medians of several rounds; and the unprivileged stack's sandbox
(runner/sandbox.py: namespaces, mounts, its own /proc), entered once per phase, against the same
runner-like start without it. The target of the run-isolation issue: at most 150 ms per phase."""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROUNDS = 5
ONE = 'resource "null_resource" "one" {}\n'
MANY = 'resource "null_resource" "many" {\n  count = 200\n}\n'


def _phase(files: dict[str, str], sandboxed: bool) -> float:
    from chalicelib.executor import isolation, staging
    from chalicelib.runner.process import Tools
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        cwd = Path(tmp)
        os.chmod(cwd, 0o711)
        for name, text in files.items():
            (cwd / name).write_text(text)
        start = time.perf_counter()
        for args in (["init", "-input=false"], ["plan", "-input=false", "-out=p.bin"],
                     ["apply", "-input=false", "p.bin"]):
            env = Tools(staging.tools(), cwd).env(cwd)
            if sandboxed:
                isolation.hand_over(cwd)
            proc = subprocess.run([staging.runnable_binary(), *args], cwd=cwd, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  preexec_fn=isolation.child_setup if sandboxed else os.setsid)
            assert proc.returncode == 0, args
        return time.perf_counter() - start


SANDBOX = Path(__file__).resolve().parents[1] / "chalicelib" / "runner" / "sandbox.py"
# What an unprivileged stack's runner does first (runner/sandbox.py): its namespaces and view,
# then the PID namespace's init settles (its /proc, no capabilities) and the phase could start.
ENTER = ("import os, runpy, sys; box = runpy.run_path(sys.argv[1]); box['enter'](sys.argv[2]); "
         "pid = os.fork()\nif pid == 0:\n    box['settle_as_init'](); os._exit(0)\n"
         "os.waitpid(pid, 0)")


def _unprivileged_start(sandboxed: bool, view: str) -> float:
    """A Python started as `nobody` (setpriv), as an unprivileged stack starts a runner."""
    code = ENTER if sandboxed else "import runpy, sys; runpy.run_path(sys.argv[1])"
    start = time.perf_counter()
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                    "/usr/bin/python3", "-I", "-c", code, str(SANDBOX), view], check=True)
    return time.perf_counter() - start


def _userns_entry() -> dict:
    """The unprivileged sandbox costs once per phase (the runner enters it before anything):
    a runner-like start with it vs without, medians of 20, alternating."""
    from chalicelib.executor.isolation import View
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        phase = Path(tmp) / "phase"
        phase.mkdir()
        os.chmod(tmp, 0o755)
        os.chown(phase, 65534, 65534)
        view = View(hidden=[Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path.home()],
                    writable=[phase], read_only=[SANDBOX.parent]).to_json()
        bare, boxed = [], []
        _unprivileged_start(True, view)
        for _ in range(20):
            bare.append(_unprivileged_start(False, view))
            boxed.append(_unprivileged_start(True, view))
    b, s = statistics.median(bare), statistics.median(boxed)
    return {"bare_ms": round(b * 1000, 1), "sandboxed_ms": round(s * 1000, 1),
            "extra_ms_per_phase": round((s - b) * 1000, 1)}


def run() -> dict:
    from chalicelib.executor import isolation
    results = {"mode": isolation.mode()}
    if os.geteuid() == 0 and isolation.user_namespaces_work():
        results["userns_entry"] = _userns_entry()
    if isolation.mode() == "none":
        results["skipped"] = "the sandbox is off here (not root, or TERRALESS_SANDBOX=off)"
        return results
    for label, files in (("1_resource", {"main.tf": ONE}), ("200_resources", {"main.tf": MANY})):
        bare, boxed = [], []
        _phase(files, False)                       # warm caches (unmeasured)
        for _ in range(ROUNDS):
            bare.append(_phase(files, False))
            boxed.append(_phase(files, True))
        b, s = statistics.median(bare), statistics.median(boxed)
        # init + plan + apply: three processes, i.e. the commands of a plan phase and an apply phase
        results[label] = {"bare_s": round(b, 3), "sandboxed_s": round(s, 3),
                          "ratio": round(s / b, 3), "extra_ms_per_phase": round((s - b) * 1000 / 2, 1)}
    return results


def report(r: dict) -> str:
    if "skipped" in r:
        return f"isolation: skipped ({r['skipped']})"
    lines = [f"isolation ({r['mode']}): terraform init+plan+apply, median of {ROUNDS}, same run"]
    if "userns_entry" in r:
        u = r["userns_entry"]
        lines.append(f"  unprivileged sandbox (userns), entered once per phase: a runner start as nobody "
                     f"{u['sandboxed_ms']} ms vs {u['bare_ms']} ms without, "
                     f"+{u['extra_ms_per_phase']} ms per phase (target <= 150)")
    for label in ("1_resource", "200_resources"):
        x = r[label]
        lines.append(f"  {label}: bare {x['bare_s']} s, sandboxed {x['sandboxed_s']} s, "
                     f"ratio {x['ratio']}, +{x['extra_ms_per_phase']} ms per phase (target <= 150)")
    return "\n".join(lines)
