"""The Lambda artefacts: the function package and the terraform layer.

- Function package: app.py, chalicelib, Chalice's runtime module (chalice/app.py, as `chalice
  package` ships it) and the runtime dependencies only — no moto, cfn-lint, pytest or the
  Chalice CLI — installed from wheels for Lambda's platform (python3.11 runs on Amazon Linux 2,
  glibc 2.26: manylinux2014 up to manylinux_2_26 wheels), every module byte-compiled with
  unchecked-hash .pyc files (valid whatever the unpacked files' times; nothing is compiled on
  a read-only /var/task).
- Terraform layer (/opt): bin/terraform and the null provider's filesystem mirror, with their
  execute bits in the zip.
Both are deterministic zips (fixed times, sorted entries): their hashes name them in S3.
"""
from __future__ import annotations

import compileall
import hashlib
import importlib.metadata
import io
import os
import py_compile
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# pinned to the versions this installation runs (and its tests pass with)
PINNED = ("pynamodb", "aws-lambda-powertools", "pyyaml", "croniter", "python-hcl2",
          "cryptography", "boto3", "dulwich")
# google-re2's wheels here need glibc 2.27; pip picks its newest release built for Lambda's
UNPINNED = ("google-re2",)
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_24_x86_64", "manylinux_2_26_x86_64")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "terraless" / "lambda-site"
NULL_PROVIDER_DIR = "terraform/plugins/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64"
# Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
UNZIPPED_LIMIT = 250 * 1024 * 1024      # function and all its layers, unzipped
ZIPPED_DIRECT_LIMIT = 50 * 1024 * 1024  # a zip uploaded directly (deploy goes through S3)


@dataclass
class Artefacts:
    function_zip: bytes
    layer_zip: bytes

    @staticmethod
    def unzipped(data: bytes) -> int:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())

    def sizes(self) -> dict:
        function, layer = self.unzipped(self.function_zip), self.unzipped(self.layer_zip)
        return {"function_zip": len(self.function_zip), "function_unzipped": function,
                "layer_zip": len(self.layer_zip), "layer_unzipped": layer,
                "unzipped_total": function + layer, "unzipped_limit": UNZIPPED_LIMIT,
                "zipped_direct_limit": ZIPPED_DIRECT_LIMIT}


def requirements() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in PINNED] + list(UNPINNED)


def site_packages() -> Path:
    """The runtime dependencies for Lambda, installed once per requirement set (cached)."""
    wanted = requirements()
    target = CACHE / hashlib.sha256("\n".join(wanted + list(PLATFORMS)).encode()).hexdigest()[:16]
    if (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + f".{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(partial), *platforms, "--python-version", "3.11",
                    "--implementation", "cp", "--only-binary=:all:", *wanted],
                   check=True, capture_output=True, text=True)
    for junk in partial.glob("bin"):
        shutil.rmtree(junk)
    (partial / ".complete").write_text("\n".join(wanted) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _chalice_runtime() -> dict[str, Path]:
    """What `chalice package` ships of Chalice itself: the runtime module, not the CLI."""
    import chalice  # lazy: only packaging looks for its files
    base = Path(chalice.__file__).parent
    return {"chalice/__init__.py": base / "__init__.py", "chalice/app.py": base / "app.py"}


def _entries(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.name != ".complete"}


def _zip(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(files):
            data, mode = files[name]
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16     # a regular file and its mode bits
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _compiled(tree: Path) -> dict[str, tuple[bytes, int]]:
    """Every .py of `tree` and its unchecked-hash .pyc (compiled here, by this Python 3.11)."""
    # sources named as Lambda unpacks them (/var/task/...): tracebacks read right, and the
    # bytes do not depend on where the package was built (its hash names it in S3)
    compileall.compile_dir(str(tree), quiet=2, workers=1, stripdir=str(tree), prependdir="/var/task",
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    files = {}
    for path in tree.rglob("*"):
        if path.is_file() and path.suffix != ".pyc" or (path.suffix == ".pyc" and "__pycache__" in path.parts
                                                         and ".cpython-311" in path.name):
            files[str(path.relative_to(tree))] = (path.read_bytes(), 0o644)
    return files


def function_zip(work: Path) -> bytes:
    tree = work / "function"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(site_packages(), tree, ignore=shutil.ignore_patterns("__pycache__", ".complete"))
    for name, source in {"app.py": ROOT / "app.py", **_chalice_runtime()}.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, tree / name)
    shutil.copytree(ROOT / "chalicelib", tree / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return _zip(_compiled(tree))


def layer_zip() -> bytes:
    """/opt/bin/terraform and the null provider's mirror, executable."""
    from ..executor import staging  # lazy: only packaging reads the installed binaries
    provider = staging._null_provider_binary()
    files = {"bin/terraform": (Path(staging.binary()).read_bytes(), 0o755)}
    if provider is not None:
        files[f"{NULL_PROVIDER_DIR}/{provider.name}"] = (provider.read_bytes(), 0o755)
    return _zip(files)


def build(work: Path) -> Artefacts:
    work.mkdir(parents=True, exist_ok=True)
    return Artefacts(function_zip=function_zip(work), layer_zip=layer_zip())
