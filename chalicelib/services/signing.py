"""Credentials carried in URL paths (upload URLs; later log-read URLs).

go-tfe replaces a log URL's query string and sends no Authorization header to upload or log
URLs, so the credential must live in the path: `<subject>.<expiry>.<hmac>`.
"""
from __future__ import annotations

import hashlib
import hmac
import time

from ..config import settings
from ..domain.errors import NotFound


def _mac(purpose: str, subject: str, expiry: int) -> str:
    message = f"{purpose}:{subject}:{expiry}".encode()
    return hmac.new(settings().signing_secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def sign(purpose: str, subject: str, ttl: int) -> str:
    expiry = int(time.time()) + ttl
    return f"{subject}.{expiry}.{_mac(purpose, subject, expiry)}"


def verify(purpose: str, credential: str) -> str:
    """Returns the subject; an unknown, forged or expired credential is a 404 (the URL does not
    exist for the caller)."""
    try:
        subject, expiry_text, mac = credential.rsplit(".", 2)
        expiry = int(expiry_text)
    except ValueError:
        raise NotFound("unknown or malformed URL") from None
    if not hmac.compare_digest(mac, _mac(purpose, subject, expiry)):
        raise NotFound("unknown or malformed URL")
    if expiry < time.time():
        raise NotFound("this URL has expired")
    return subject
