"""Validation of uploaded configuration archives (.tar.gz), before any run may unpack one.

Reads the archive as a stream (no seeking, no extraction) and rejects what a worker must never
unpack: non-gzip or non-tar data, empty archives, absolute or `..` paths, links that leave the
root, device files and FIFOs, and archives over the configured size or file count.
"""
from __future__ import annotations

import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"


class ArchiveRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ArchiveReport:
    files: int
    unpacked_bytes: int


def _unsafe_path(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def _escapes_root(link_from_dir: str, target: str) -> bool:
    if target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(link_from_dir, target))
    return resolved == ".." or resolved.startswith("../")


def inspect_archive(stream: BinaryIO, *, max_files: int, max_unpacked_bytes: int) -> ArchiveReport:
    head = stream.read(2)
    if not head:
        raise ArchiveRejected("empty_archive", "the uploaded archive is empty")
    if head != GZIP_MAGIC:
        raise ArchiveRejected("not_gzip", "the upload is not gzip-compressed (expected .tar.gz)")
    files = unpacked = 0
    try:
        with tarfile.open(fileobj=_Prepend(head, stream), mode="r|gz") as tar:
            for member in tar:
                files += 1
                if files > max_files:
                    raise ArchiveRejected(
                        "too_many_files", f"the archive holds more than {max_files} entries")
                name = member.name
                if _unsafe_path(name):
                    raise ArchiveRejected("unsafe_path", f"unsafe path in archive: {name!r}")
                if member.isdev():
                    raise ArchiveRejected(
                        "device_file", f"device or FIFO entries are not allowed: {name!r}")
                if member.issym() and _escapes_root(posixpath.dirname(name), member.linkname):
                    raise ArchiveRejected("link_escapes_root",
                                          f"symlink {name!r} -> {member.linkname!r} leaves the root")
                if member.islnk() and (_unsafe_path(member.linkname)
                                       or _escapes_root("", member.linkname)):
                    raise ArchiveRejected("link_escapes_root",
                                          f"hard link {name!r} -> {member.linkname!r} leaves the root")
                unpacked += max(member.size, 0)
                if unpacked > max_unpacked_bytes:
                    raise ArchiveRejected(
                        "too_large", f"the archive unpacks to more than {max_unpacked_bytes} bytes")
    except ArchiveRejected:
        raise
    except (tarfile.ReadError, tarfile.StreamError) as exc:
        if files == 0 and "empty" in str(exc).lower():
            raise ArchiveRejected("empty_archive", "the archive holds no files") from exc
        raise ArchiveRejected("not_tar", f"the gzip data is not a tar archive ({exc})") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveRejected("corrupt_archive", f"the gzip stream is corrupt ({exc})") from exc
    if files == 0:
        raise ArchiveRejected("empty_archive", "the archive holds no files")
    return ArchiveReport(files=files, unpacked_bytes=unpacked)


class _Prepend:
    """A read-only stream that yields `head` and then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)
