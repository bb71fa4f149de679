"""Credentials carried in URL paths (upload URLs, log-read URLs).

go-tfe replaces a log URL's query string and sends no Authorization header to upload or log
URLs, so the credential must live in the path: `<organization>.<subject>.<expiry>.<hmac>`.

No single key signs for every tenant: each purpose and organization has its own key, derived
from the master key (HMAC-SHA256 of "terraless/<purpose>/<organization>"), and a credential
is good only for the object it names (the subject), in the organization it names, until it
expires. The master key lives only on the privileged side: an environment value in the dev
stack (a file in its 0700 home, out of every runner's reach), a Secrets Manager secret on AWS
(TERRALESS_SIGNING_SECRET_ARN), which the runner function's role cannot read."""
from __future__ import annotations

import hashlib
import hmac
import os
import time
from functools import lru_cache

from ..config import settings
from ..domain.errors import NotFound


def require_key() -> None:
    """At start: a stack with no signing key configured refuses to start (there is no public
    fallback key)."""
    if os.environ.get("TERRALESS_ROLE") == "runner":
        return      # the runner function never signs nor verifies anything
    if not (settings().signing_secret_arn or settings().signing_secret):
        raise RuntimeError("no signing key: set TERRALESS_SIGNING_SECRET_ARN (or, outside AWS, "
                           "TERRALESS_SIGNING_SECRET)")


def master_key() -> bytes:
    arn = settings().signing_secret_arn
    if arn:
        return _stored_secret(arn)
    secret = settings().signing_secret
    if not secret:
        # no public fallback: a deployed stack names its secret store; the dev stack and the
        # tests set TERRALESS_SIGNING_SECRET
        raise RuntimeError("no signing key: set TERRALESS_SIGNING_SECRET_ARN (or, outside AWS, "
                           "TERRALESS_SIGNING_SECRET)")
    return secret.encode()


@lru_cache(maxsize=4)
def _stored_secret(arn: str) -> bytes:
    from ..aws.clients import client  # lazy: only deployments that keep the key in a secret store
    return client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"].encode()


def derived_key(label: str) -> bytes:
    return hmac.new(master_key(), f"terraless/{label}".encode(), hashlib.sha256).digest()


def _mac(purpose: str, scope: str, subject: str, expiry: int) -> str:
    key = derived_key(f"{purpose}/{scope}")
    return hmac.new(key, f"{subject}:{expiry}".encode(), hashlib.sha256).hexdigest()[:40]


def sign(purpose: str, scope: str, subject: str, ttl: int) -> str:
    expiry = int(time.time()) + ttl
    return f"{scope}.{subject}.{expiry}.{_mac(purpose, scope, subject, expiry)}"


def verify(purpose: str, credential: str) -> tuple[str, str]:
    """(organization, subject); an unknown, forged or expired credential is a 404 (the URL
    does not exist for the caller). The caller checks the subject belongs to the
    organization."""
    try:
        scope, subject, expiry_text, mac = credential.rsplit(".", 3)
        expiry = int(expiry_text)
    except ValueError:
        raise NotFound("unknown or malformed URL") from None
    if len(credential) > 512 or not scope or not subject or \
            not hmac.compare_digest(mac, _mac(purpose, scope, subject, expiry)):
        raise NotFound("unknown or malformed URL")
    if expiry < time.time():
        raise NotFound("this URL has expired")
    return scope, subject
