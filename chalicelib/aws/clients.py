"""boto3 clients, created on first use and cached (never at import time: a client made before
moto's mock starts would talk to real AWS).

Endpoint choice: `AWS_ENDPOINT_URL` (botocore honours it, per service too) → emulator or
LocalStack; else `LOCALSTACK_HOST` → localstack-client's endpoints; else real AWS.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from botocore.config import Config

from ..config import settings

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_session: list = []  # one boto3 session: it caches the loaded service models


def _custom_endpoint() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("LOCALSTACK_HOST"))


def _make(service: str, endpoint_url: str | None = None) -> Any:
    cfg = Config(
        region_name=settings().region,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4" if service == "s3" else None,
        # Emulators are addressed by host:port; bucket-in-hostname would not resolve.
        s3={"addressing_style": "path"} if _custom_endpoint() else None,
    )
    if os.environ.get("LOCALSTACK_HOST") and not os.environ.get("AWS_ENDPOINT_URL"):
        import localstack_client.session  # lazy: only when the user points at LocalStack this way

        return localstack_client.session.Session(region_name=settings().region).client(
            service, config=cfg)
    if not _session:
        # boto3 (and s3transfer under it) cost ~150 ms beyond botocore, which pynamodb loads
        # anyway; a function imports them only when it first calls AWS through a client
        import boto3  # lazy: as said
        _session.append(boto3.session.Session())
    return _session[0].client(service, config=cfg, endpoint_url=endpoint_url)


def presigning_s3() -> Any:
    """The S3 client that signs the URLs handed to clients: at S3's own address, or at
    TERRALESS_PRESIGN_ENDPOINT where clients reach it by another name. The dev stack's
    emulator shares the API's host (another port), and Go's HTTP client keeps the bearer
    token on a redirect to the same host name: S3 refuses a request with two authentications
    (moto answers 500, which go-tfe retries for minutes). On AWS, S3 is its own host."""
    endpoint = os.environ.get("TERRALESS_PRESIGN_ENDPOINT")
    if not endpoint:
        return client("s3")
    found = _clients.get("s3-presign")
    if found is None:
        with _lock:
            found = _clients.get("s3-presign")
            if found is None:
                found = _clients["s3-presign"] = _make("s3", endpoint)
    return found


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is None:
        with _lock:
            found = _clients.get(service)
            if found is None:
                found = _clients[service] = _make(service)
    return found


def reset() -> None:
    """Forget clients and the session (and the credentials it resolved)."""
    with _lock:
        _clients.clear()
        _session.clear()


def apply_localstack_host() -> None:
    """pynamodb honours AWS_ENDPOINT_URL(_DYNAMODB) but not LOCALSTACK_HOST: translate it."""
    if os.environ.get("LOCALSTACK_HOST") and not os.environ.get("AWS_ENDPOINT_URL"):
        import localstack_client.config  # lazy: only with LOCALSTACK_HOST

        os.environ.setdefault("AWS_ENDPOINT_URL_DYNAMODB",
                              localstack_client.config.get_service_endpoint("dynamodb"))
