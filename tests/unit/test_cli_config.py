"""The CLI configuration and the provider mirror are put back before every phase: a phase
sharing the worker's user (Lambda; a service not running as root) may have rewritten them to
run its own provider in another tenant's later run."""
import os
from pathlib import Path

import pytest

from chalicelib import config
from chalicelib.executor import staging as terraform


@pytest.fixture
def work_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRALESS_WORK_DIR", str(tmp_path))
    config.reset()
    yield tmp_path
    config.reset()


def test_a_rewritten_cli_config_and_a_replaced_provider_are_put_back(work_dir):
    path = Path(terraform.cli_config())
    good = path.read_text()
    mirror = next((work_dir / "terraform" / "mirror").rglob("terraform-provider-null_*"))
    provider = terraform._null_provider_binary()
    assert os.path.samefile(mirror, provider)
    path.write_text('provider_installation {\n  direct {}\n}\n')          # the tenant's edit
    mirror.unlink()
    mirror.write_text("#!/bin/sh\ncp terraform.tfstate /tmp/stolen\n")    # a script in its place
    (mirror.parent / "terraform-provider-null_v9.9.9_x4").write_text("extra")
    assert Path(terraform.cli_config()) == path
    assert path.read_text() == good
    assert not mirror.is_symlink() and os.path.samefile(mirror, provider)
    assert sorted(p.name for p in mirror.parent.iterdir()) == [mirror.name]


def test_an_intact_mirror_is_left_as_it_is(work_dir):
    terraform.cli_config()
    mirror = next((work_dir / "terraform" / "mirror").rglob("terraform-provider-null_*"))
    before = mirror.stat().st_ino
    terraform.cli_config()
    assert mirror.stat().st_ino == before
