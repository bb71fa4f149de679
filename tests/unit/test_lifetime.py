"""A stack that starts ends what a previous stack of the same home left running
(local/lifetime.py reclaim), and nothing else: the pid file must name a process whose command
line carries the marker."""
from __future__ import annotations

import subprocess
import sys

from chalicelib.local import lifetime
from tests.conftest import poll


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_leftover_of_the_same_home_is_ended(tmp_path):
    marker = f"chalicelib.local.emulator {tmp_path}"
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker],
                            start_new_session=True)
    poll(lambda: marker in lifetime._command_line(left.pid), bool, timeout=10)   # exec'd
    pid_file = tmp_path / "emulator.pid"
    lifetime.record(pid_file, left.pid)
    assert lifetime.reclaim(pid_file, marker) is True
    left.wait(timeout=10)
    assert not _running(left.pid) and not pid_file.exists()


def test_a_pid_file_naming_another_process_ends_nothing(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        pid_file = tmp_path / "emulator.pid"
        lifetime.record(pid_file, bystander.pid)        # a reused pid: not our emulator
        assert lifetime.reclaim(pid_file, f"chalicelib.local.emulator {tmp_path}") is False
        assert _running(bystander.pid) and not pid_file.exists()
        assert lifetime.reclaim(tmp_path / "missing.pid", "x") is False
    finally:
        bystander.kill()
        bystander.wait()


def test_a_child_dies_with_its_parent(tmp_path):
    """session_dying_with: the child (here a grandchild of the test) is killed by the kernel
    when the process that started it dies, however it dies."""
    out = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", f"""
import subprocess, os, sys, time
sys.path.insert(0, {str(tmp_path.parents[0])!r})
from chalicelib.local.lifetime import session_dying_with
child = subprocess.Popen(["sleep", "120"], preexec_fn=session_dying_with(os.getpid()))
open({str(out)!r}, "w").write(str(child.pid))
time.sleep(120)
"""], cwd=str(__import__("pathlib").Path(lifetime.__file__).parents[2]))
    child = int(poll(lambda: out.read_text() if out.exists() else "", bool, timeout=30))
    assert _running(child)
    parent.kill()
    parent.wait()
    poll(lambda: _running(child), lambda alive: not alive, timeout=10)
