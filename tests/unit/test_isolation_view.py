"""What a phase sees of the host in the unprivileged ("userns") sandbox: executor/local.phase_view."""
from pathlib import Path

from chalicelib.executor import local


def test_the_view_hides_the_service_and_binds_back_only_the_phase(tmp_path, monkeypatch):
    work, home = tmp_path / "work", tmp_path / "stack-home"
    phase, code = work / "runs" / "plan-x-w1-abc", work / "runner" / "0123"
    monkeypatch.setenv("TERRALESS_WORK_DIR", str(work))
    monkeypatch.setenv("TERRALESS_HOME", str(home))
    from chalicelib import config
    config.reset()
    try:
        view = local.phase_view(phase, code, "/usr/bin/python3")
    finally:
        monkeypatch.undo()
        config.reset()
    assert {home, work, Path.home().resolve(), Path("/tmp"), Path("/dev/shm")} <= set(view.hidden)
    assert view.writable == [phase]                   # not the work directory, not another phase
    assert set(view.read_only) == {code, work / "terraform", Path("/usr")}
    assert not [p for p in view.read_only if p in view.hidden]
