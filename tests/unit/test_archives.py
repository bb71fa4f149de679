"""Hostile and valid archives, through the same validator the upload handler uses."""
import gzip
import io
import tarfile

import pytest

from chalicelib.domain.archives import ArchiveRejected, inspect_archive

LIMITS = {"max_files": 5, "max_unpacked_bytes": 10_000}


def tgz(*members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file(name, data=b"x = 1\n"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def check(blob: bytes, **limits):
    return inspect_archive(io.BytesIO(blob), **{**LIMITS, **limits})


def test_valid_archive_with_safe_links_passes():
    report = check(tgz(file("main.tf"), file("modules/a/main.tf"),
                       special("modules/b", tarfile.SYMTYPE, "a"),
                       special("copy.tf", tarfile.LNKTYPE, "main.tf")))
    assert report.files == 4


@pytest.mark.parametrize("blob, code", [
    (b"", "empty_archive"),
    (b"plain text, not gzip", "not_gzip"),
    (gzip.compress(b"this is gzip but not a tar archive" * 20), "not_tar"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt_archive"),
    (tgz(), "empty_archive"),
    (tgz(file("/etc/passwd")), "unsafe_path"),
    (tgz(file("../outside.tf")), "unsafe_path"),
    (tgz(file("a/../../outside.tf")), "unsafe_path"),
    (tgz(special("evil", tarfile.SYMTYPE, "/etc/passwd")), "link_escapes_root"),
    (tgz(special("sub/evil", tarfile.SYMTYPE, "../../x")), "link_escapes_root"),
    (tgz(special("hard", tarfile.LNKTYPE, "../x")), "link_escapes_root"),
    (tgz(special("dev", tarfile.CHRTYPE)), "device_file"),
    (tgz(special("blk", tarfile.BLKTYPE)), "device_file"),
    (tgz(special("fifo", tarfile.FIFOTYPE)), "device_file"),
    (tgz(*[file(f"f{i}.tf") for i in range(6)]), "too_many_files"),
    (tgz(file("big.tf", b"0" * 20_000)), "too_large"),
], ids=lambda value: value if isinstance(value, str) else f"{len(value)}-bytes")
# ids by size, not the bytes: a gzip header holds its time, and pytest-xdist's processes must
# collect the same names
def test_hostile_archives_are_rejected_with_a_reason(blob, code):
    with pytest.raises(ArchiveRejected) as info:
        check(blob)
    assert info.value.code == code and info.value.message


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read as a file (a bomb's one member, never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def bomb(unpacked: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo("zeros.tf")
        info.size = unpacked
        tar.addfile(info, io.BufferedReader(_Zeros(unpacked)))
    return buf.getvalue()


def test_a_highly_compressed_archive_is_validated_in_one_linear_pass():
    """90 MiB of zeros in ~90 KB: accepted under a 100 MiB cap (a quadratic reader took over
    two minutes for 64 MiB), refused over a smaller one."""
    blob = bomb(90 * 1024 * 1024)
    assert len(blob) < 200_000
    report = check(blob, max_unpacked_bytes=100 * 1024 * 1024)
    assert report.unpacked_bytes == 90 * 1024 * 1024
    with pytest.raises(ArchiveRejected) as refused:
        check(blob, max_unpacked_bytes=10 * 1024 * 1024)
    assert refused.value.code == "too_large"


def test_validation_has_a_deadline():
    with pytest.raises(ArchiveRejected) as refused:
        check(bomb(8 * 1024 * 1024), max_unpacked_bytes=100 * 1024 * 1024, max_seconds=0)
    assert refused.value.code == "too_slow"


@pytest.mark.parametrize("members", [
    # a lexical check passes `y/y/../../outside`; through `y -> .` it is `../outside`
    [special("y", tarfile.SYMTYPE, "."), special("x", tarfile.SYMTYPE, "y/y/../../outside")],
    [special("a", tarfile.SYMTYPE, "b"), special("b", tarfile.SYMTYPE, "../escape")],
    [special("d", tarfile.SYMTYPE, "."), special("d2", tarfile.SYMTYPE, "d/d/d/.."),
     special("e", tarfile.SYMTYPE, "d2/..")],
])
def test_links_are_resolved_through_links(members):
    with pytest.raises(ArchiveRejected) as refused:
        check(tgz(file("main.tf"), *members))
    assert refused.value.code == "link_escapes_root"


def test_links_through_links_that_stay_inside_pass():
    check(tgz(file("main.tf"), special("y", tarfile.SYMTYPE, "."),
              special("x", tarfile.SYMTYPE, "y/y/main.tf"), file("sub/a.tf"),
              special("sub/up", tarfile.SYMTYPE, "..")))


def test_the_runner_enforces_the_limits_again_when_it_extracts(tmp_path):
    from chalicelib.runner.phases import PhaseFailed, extract
    blob = tgz(file("main.tf", b"x" * 5000), file("b.tf", b"y" * 5000))
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        with pytest.raises(PhaseFailed):
            extract(tar, tmp_path / "c", max_bytes=6000)
    assert not list((tmp_path / "c").rglob("*.tf"))
