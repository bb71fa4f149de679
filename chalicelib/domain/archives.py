"""Validation of uploaded configuration archives (.tar.gz), before any run may unpack one.

Reads the archive as a stream (no seeking, no extraction) and rejects what a worker must never
unpack: non-gzip or non-tar data, empty archives, absolute or `..` paths, links that leave the
root, device files and FIFOs, and archives over the configured size or file count.
"""
from __future__ import annotations

import io
import posixpath
import tarfile
import time
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


def inspect_archive(stream: BinaryIO, *, max_files: int, max_unpacked_bytes: int,
                    max_seconds: float = 60.0) -> ArchiveReport:
    head = stream.read(2)
    if not head:
        raise ArchiveRejected("empty_archive", "the uploaded archive is empty")
    if head != GZIP_MAGIC:
        raise ArchiveRejected("not_gzip", "the upload is not gzip-compressed (expected .tar.gz)")
    gunzipped = _Gunzip(head, stream, limit=max_unpacked_bytes + 1024 * 1024,
                        deadline=time.monotonic() + max_seconds)
    files = unpacked = 0
    links: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=gunzipped, mode="r|") as tar:
            for member in tar:
                files += 1
                if files > max_files:
                    raise ArchiveRejected(
                        "too_many_files", f"the archive holds more than {max_files} entries")
                _check_member(member, links)
                unpacked += max(member.size, 0)
                if unpacked > max_unpacked_bytes:
                    raise ArchiveRejected(
                        "too_large", f"the archive unpacks to more than {max_unpacked_bytes} bytes")
    except ArchiveRejected:
        raise
    except (zlib.error, EOFError) as exc:
        raise ArchiveRejected("corrupt_archive", f"the gzip stream is corrupt ({exc})") from exc
    except tarfile.TarError as exc:
        if gunzipped.produced == 0:
            raise ArchiveRejected("empty_archive", "the archive holds no files") from exc
        raise ArchiveRejected("not_tar", f"the gzip data is not a tar archive ({exc})") from exc
    if files == 0:
        raise ArchiveRejected("empty_archive", "the archive holds no files")
    return ArchiveReport(files=files, unpacked_bytes=unpacked)


def _resolve(path: str, links: dict[str, str], depth: int = 0) -> str | None:
    """`path` (relative to the root) with every symlink component followed as the OS would —
    links through links included; None if it leaves the root or loops (40 hops, as Linux)."""
    parts, resolved = [p for p in path.split("/") if p not in ("", ".")], []
    while parts:
        if depth > 40:
            return None
        part = parts.pop(0)
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        candidate = "/".join(resolved + [part])
        if candidate in links:
            target = links[candidate]
            if target.startswith("/"):
                return None
            depth += 1      # the target is relative to the root: start over from it
            parts, resolved = [p for p in target.split("/") if p not in ("", ".")] + parts, []
            continue
        resolved.append(part)
    return "/".join(resolved)


def _check_member(member: tarfile.TarInfo, links: dict[str, str]) -> None:
    name = member.name
    if _unsafe_path(name):
        raise ArchiveRejected("unsafe_path", f"unsafe path in archive: {name!r}")
    if member.isdev():
        raise ArchiveRejected("device_file", f"device or FIFO entries are not allowed: {name!r}")
    if member.issym():
        # resolved with every link seen so far, as extraction will see them (`y -> .` then
        # `x -> y/y/../..` passes a lexical check and leaves the root)
        if _escapes_root(posixpath.dirname(name), member.linkname) or \
                _resolve(posixpath.join(posixpath.dirname(name), member.linkname), links) is None:
            raise ArchiveRejected("link_escapes_root",
                                  f"symlink {name!r} -> {member.linkname!r} leaves the root")
        links[posixpath.normpath(name)] = posixpath.join(posixpath.dirname(name), member.linkname)
        return
    if _resolve(posixpath.dirname(name), links) is None:
        raise ArchiveRejected("link_escapes_root", f"{name!r} is reached through a link that leaves the root")
    if member.islnk() and (_unsafe_path(member.linkname) or _escapes_root("", member.linkname)):
        raise ArchiveRejected("link_escapes_root",
                              f"hard link {name!r} -> {member.linkname!r} leaves the root")


class _Gunzip:
    """A forward-only stream of the decompressed bytes. Decompressing here, not in tarfile,
    keeps gzip corruption (zlib.error) apart from tar errors, and caps the output so a gzip
    bomb cannot exhaust memory or time. Linear: each inflate step yields at most STEP bytes
    (a 64 KiB chunk of zeros would otherwise inflate to 64 MiB at once) and reads are served
    from it by offset, never by re-slicing what is left (which made a 900 MiB bomb take
    minutes); the whole pass has a deadline."""

    STEP = 256 * 1024

    def __init__(self, head: bytes, stream: BinaryIO, *, limit: int, deadline: float) -> None:
        self._source = _Prepend(head, stream)
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buffer = b""
        self._pos = 0
        self._limit, self._deadline = limit, deadline
        self.produced = 0
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        want = size if size is not None and size >= 0 else 1 << 62
        parts, have = [], 0
        while have < want:
            if self._pos < len(self._buffer):
                take = min(want - have, len(self._buffer) - self._pos)
                parts.append(self._buffer[self._pos:self._pos + take])
                self._pos += take
                have += take
                continue
            if self._eof:
                break
            self._buffer, self._pos = self._inflate_step(), 0
        return b"".join(parts)

    def _inflate_step(self) -> bytes:
        while True:
            if time.monotonic() > self._deadline:
                raise ArchiveRejected("too_slow", "validating the archive took too long")
            if self._inflate.unconsumed_tail:
                data = self._inflate.decompress(self._inflate.unconsumed_tail, self.STEP)
            else:
                chunk = self._source.read(64 * 1024)
                if not chunk:
                    if not self._inflate.eof:
                        raise EOFError("the gzip stream ends early")
                    self._eof = True
                    return b""
                data = self._inflate.decompress(chunk, self.STEP)
            if self._inflate.eof and self._inflate.unused_data:
                # concatenated gzip members are legal; tar data never needs them here
                self._source = _Prepend(self._inflate.unused_data, self._source)  # type: ignore
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self.produced += len(data)
            if self.produced > self._limit:
                raise ArchiveRejected("too_large", "the archive unpacks to more than the limit")
            if data:
                return data


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


def pack_tgz(files: dict[str, str], *, mtime: int | None = None) -> bytes:
    """A .tar.gz of text files (generated configurations, benchmarks and tests)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), int(time.time()) if mtime is None else mtime
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
