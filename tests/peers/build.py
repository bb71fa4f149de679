"""Real peers, built from their Go modules by the tests themselves: each peer is a small wrapper
module here (its go.mod pins the release and repeats the release's own `replace` lines; go.sum
pins every dependency), built once into a cache outside the repository, keyed by the wrapper's
go.mod and go.sum. `python -m tests.peers.build opentofu` builds one by hand.

Without a Go toolchain a peer cannot be built: with CI=true that fails the run; elsewhere the
tests that need it are skipped with a notice naming the command above."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "terraless" / "peers"


@dataclass(frozen=True)
class Peer:
    name: str
    package: str        # the main package to build, or the package whose tests are built
    binary: str
    ldflags: str = "-s -w"
    tests: bool = False  # `go test -c`: the package's test binary, with its test-fixtures beside it

    @property
    def module(self) -> Path:
        return HERE / self.name

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in ("go.mod", "go.sum"):
            digest.update((self.module / part).read_bytes())
        return digest.hexdigest()[:16]

    def path(self) -> Path:
        return CACHE / f"{self.name}-{self.key()}" / self.binary


PEERS = {
    "opentofu": Peer("opentofu", "github.com/opentofu/opentofu/cmd/tofu", "tofu",
                     ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no"),
    # go-tfe's integration tests: run from the directory holding its test-fixtures
    "go-tfe": Peer("go-tfe", "github.com/hashicorp/go-tfe", "go-tfe.test", tests=True),
    # Consul v1.16.1, the last MPL-2.0 release: `consul agent -dev` for CTS's conditions
    "consul": Peer("consul", "github.com/hashicorp/consul", "consul"),
}


class CannotBuild(Exception):
    pass


def build(name: str) -> Path:
    """The peer's binary, built if the cache does not hold it yet."""
    peer = PEERS[name]
    target = peer.path()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise CannotBuild(f"no Go toolchain to build {name}: install Go, then "
                          f"`python -m tests.peers.build {name}`")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{peer.binary}.{os.getpid()}")
    started = time.monotonic()
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    command = [go, "test", "-c"] if peer.tests else [go, "build"]
    done = subprocess.run([*command, "-trimpath", "-ldflags", peer.ldflags, "-o", str(partial),
                           peer.package], cwd=peer.module, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise CannotBuild(f"building {name} failed:\n{done.stderr[-3000:]}")
    if peer.tests:
        source = subprocess.run([go, "list", "-m", "-f", "{{.Dir}}", peer.package],
                                cwd=peer.module, capture_output=True, text=True, env=env)
        fixtures = target.parent / "test-fixtures"
        if not fixtures.exists():     # two test processes may build it at once: both copies agree
            shutil.copytree(Path(source.stdout.strip()) / "test-fixtures", fixtures, dirs_exist_ok=True)
            subprocess.run(["chmod", "-R", "u+w", str(fixtures)], check=True)  # the module cache's are read-only
    partial.rename(target)
    print(f"built {name} in {time.monotonic() - started:.0f} s: {target} "
          f"({target.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return target


if __name__ == "__main__":
    for wanted in sys.argv[1:] or list(PEERS):
        print(build(wanted))
