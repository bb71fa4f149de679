"""A stack without a signing key does not start: there is no public fallback key (the runner
function, which never signs, is the one exception)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_app(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TERRALESS_", "AWS_"))}
    return subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, capture_output=True,
                          text=True, env={**clean, "AWS_DEFAULT_REGION": "us-east-1", **env}, timeout=120)


def test_no_signing_key_no_start():
    done = _import_app()
    assert done.returncode != 0 and "no signing key" in done.stderr


def test_a_key_or_the_runner_role_starts():
    assert _import_app(TERRALESS_SIGNING_SECRET="s3cret").returncode == 0
    assert _import_app(TERRALESS_SIGNING_SECRET_ARN="arn:aws:secretsmanager:us-east-1:1:secret:k").returncode == 0
    assert _import_app(TERRALESS_ROLE="runner").returncode == 0
