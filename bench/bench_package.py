"""Cold start of the deployed API (issue: `terraless deploy`): `import app` from the unpacked
function package in a fresh Python without site-packages (as Lambda imports the handler), with
the shipped .pyc files vs the same package without them (every module compiled at import, as a
package without bytecode would be on a read-only /var/task). Median of RUNS, alternating. Also
which heavy modules the API path imports (boto3/s3transfer are needed only by the handlers that
call AWS through boto3 clients)."""
from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

RUNS = 9
PROBE = ("import sys, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter(); import app; "
         "print(round((time.perf_counter() - t) * 1000, 1), "
         "','.join(m for m in ('boto3', 's3transfer', 'botocore', 'pynamodb', 'cryptography', 'yaml') "
         "if m in sys.modules))")


def _unpack(data: bytes, into: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(into)


def _import_ms(task: Path) -> tuple[float, float, str]:
    env = {"PATH": "/usr/bin:/bin", "TERRALESS_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", PROBE, str(task)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    wall = (time.perf_counter() - start) * 1000
    return float(out[0]), wall, out[1] if len(out) > 1 else ""


def run() -> dict:
    from chalicelib.deploy import package

    root = Path(tempfile.mkdtemp(prefix="terraless-bench-package-"))
    try:
        artefacts = package.build(root / "build")
        shipped, bare = root / "shipped", root / "bare"
        _unpack(artefacts.function_zip, shipped)
        _unpack(artefacts.function_zip, bare)
        for cache in list(bare.rglob("__pycache__")):
            shutil.rmtree(cache)
        _import_ms(shipped)        # the page cache warm for both
        _import_ms(bare)
        with_pyc, without, walls, modules = [], [], [], ""
        for _ in range(RUNS):
            ms, wall, modules = _import_ms(shipped)
            with_pyc.append(ms)
            walls.append(wall)
            without.append(_import_ms(bare)[0])
        return {"import_ms_with_pyc": statistics.median(with_pyc),
                "import_ms_without_pyc": statistics.median(without),
                "process_ms_with_pyc": round(statistics.median(walls), 1),
                "ratio": round(statistics.median(with_pyc) / statistics.median(without), 2),
                "api_path_imports": modules, "sizes": artefacts.sizes()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(r: dict) -> str:
    s = r["sizes"]
    mb = 1024 * 1024
    return "\n".join([
        f"cold import app from the package: {r['import_ms_with_pyc']} ms with the shipped .pyc vs "
        f"{r['import_ms_without_pyc']} ms without ({r['ratio']}x; whole process "
        f"{r['process_ms_with_pyc']} ms; target <= 300 ms); the API path imports: {r['api_path_imports']}",
        f"package: function {s['function_zip'] / mb:.1f} MB zipped / {s['function_unzipped'] / mb:.1f} MB "
        f"unzipped, terraform layer {s['layer_zip'] / mb:.1f} / {s['layer_unzipped'] / mb:.1f} MB; "
        f"{s['unzipped_total'] / mb:.1f} MB of Lambda's {s['unzipped_limit'] / mb:.0f} MB unzipped"])


if __name__ == "__main__":
    print(report(run()))
    os._exit(0)
