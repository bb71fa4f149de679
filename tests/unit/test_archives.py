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
])
def test_hostile_archives_are_rejected_with_a_reason(blob, code):
    with pytest.raises(ArchiveRejected) as info:
        check(blob)
    assert info.value.code == code and info.value.message
