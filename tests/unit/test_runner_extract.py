"""The runner unpacks a configuration archive itself (runner/phases.py `extract`): files,
directories and links that stay inside, nothing else — even where the interpreter the sandbox
user runs has no tarfile "data" filter."""
import io
import tarfile

import pytest

from chalicelib.runner.phases import PhaseFailed, extract


def archive(*members: tuple[tarfile.TarInfo, bytes]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    buf.seek(0)
    return tarfile.open(fileobj=buf, mode="r:gz")


def member(name: str, kind=tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


def test_files_and_inner_links_are_unpacked(tmp_path):
    extract(archive((member("main.tf"), b"# ok\n"), (member("mod", tarfile.DIRTYPE), b""),
                    (member("mod/x.tf", mode=0o4777), b"# x\n"),
                    (member("alias.tf", tarfile.SYMTYPE, "main.tf"), b"")), tmp_path / "c")
    assert (tmp_path / "c" / "main.tf").read_text() == "# ok\n"
    assert (tmp_path / "c" / "alias.tf").read_text() == "# ok\n"
    assert (tmp_path / "c" / "mod" / "x.tf").stat().st_mode & 0o7777 == 0o755   # no setuid, no o+w


@pytest.mark.parametrize("bad", [
    member("../escape.tf"), member("/etc/evil.tf"), member("a/../../escape.tf"),
    member("link", tarfile.SYMTYPE, "/etc/passwd"), member("link", tarfile.SYMTYPE, "../../x"),
    member("hard", tarfile.LNKTYPE, "../outside"),
])
def test_members_that_leave_the_configuration_fail_the_phase(tmp_path, bad):
    with pytest.raises(PhaseFailed):
        extract(archive((bad, b"x" if bad.isfile() else b"")), tmp_path / "c")
    assert not (tmp_path / "escape.tf").exists()


def test_devices_and_fifos_are_skipped(tmp_path):
    extract(archive((member("fifo", tarfile.FIFOTYPE), b""), (member("main.tf"), b"#\n")), tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["main.tf"]
