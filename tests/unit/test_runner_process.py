"""The runner's commands (runner/process.py): a cancel's Ctrl-C reaches them however the
service was started."""
from __future__ import annotations

import signal
import threading

from chalicelib.runner.process import Process
from tests.conftest import poll

# a Terrakube step script's shape: `sh` that stops on Ctrl-C
STEP = "trap 'exit 130' INT\ntouch started\nwhile :; do sleep 0.1; done\n"


def _interrupted_exit_code(tmp_path) -> int | None:
    proc = Process(["/bin/sh", "-c", STEP], tmp_path, {"PATH": "/usr/bin:/bin"}, lambda line: None)
    try:
        poll(lambda: (tmp_path / "started").exists(), bool, timeout=10, interval=0.02)
        proc.interrupt()
        return proc.wait(timeout=10)
    finally:
        proc.kill()


def test_a_step_script_is_interrupted_even_when_the_service_ignores_sigint(tmp_path):
    # `terraless agent … &` from a script: the shell starts it with SIGINT ignored, which every
    # child inherits, and `sh` cannot trap a signal ignored on entry
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        codes = []
        # started from a thread that is not the main one, as a phase's commands are
        worker = threading.Thread(target=lambda: codes.append(_interrupted_exit_code(tmp_path)))
        worker.start()
        worker.join(timeout=30)
    finally:
        signal.signal(signal.SIGINT, before)
    assert codes == [130]
