"""Archive validation (issue: hardening): a gzip bomb — 512 MiB of zeros in well under 1 MB —
through the upload validator (domain/archives.py), in MB/s of unpacked data, against plain
zlib inflating the same bytes to nowhere in the same run. Target >= 100 MB/s."""
from __future__ import annotations

import io
import statistics
import time
import zlib

from chalicelib.domain.archives import inspect_archive

UNPACKED = 512 * 1024 * 1024
REPEATS = 3


def _bomb() -> bytes:
    from tests.unit.test_archives import bomb  # the same generator the tests use
    return bomb(UNPACKED)


def _inflate_only(blob: bytes) -> None:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = blob
    while data:
        inflate.decompress(data, 256 * 1024)
        data = inflate.unconsumed_tail


def _best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> dict:
    blob = _bomb()
    validate = _best(lambda: inspect_archive(io.BytesIO(blob), max_files=10,
                                             max_unpacked_bytes=UNPACKED + 1024 * 1024))
    inflate = _best(lambda: _inflate_only(blob))
    mb = UNPACKED / 1e6
    return {"archive_bytes": len(blob), "unpacked_mb": round(mb), "validate_s": round(validate, 2),
            "validate_mb_s": round(mb / validate), "zlib_mb_s": round(mb / inflate),
            "ratio": round(validate / inflate, 2)}


def report(r: dict) -> str:
    return (f"archive validation: a {r['archive_bytes'] // 1024} KiB gzip bomb unpacking to "
            f"{r['unpacked_mb']} MB validated in {r['validate_s']} s = {r['validate_mb_s']} MB/s "
            f"(zlib alone: {r['zlib_mb_s']} MB/s; {r['ratio']}x; target >= 100 MB/s)")
