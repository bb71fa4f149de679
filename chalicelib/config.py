"""Settings from the environment, parsed once per process (tests call `reset()`).

Resource names follow the single rule of infra/resources.yaml: `<prefix>-<logical name>`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    prefix: str
    region: str
    # Absolute base URL clients reach the API at; upload and download links are built on it.
    public_url: str
    # HMAC key for credentials carried in URL paths (upload URLs, later log-read URLs).
    signing_secret: str
    # on AWS: the Secrets Manager secret holding it (read once per process); overrides the above
    signing_secret_arn: str | None
    # the KMS key (id, ARN or alias) whose data keys seal sensitive variables and saved plans
    variables_key: str
    max_archive_bytes: int
    max_archive_files: int
    max_unpacked_bytes: int       # what an archive may unpack to (validation and extraction)
    upload_url_ttl: int
    download_url_ttl: int
    # "archivist": upload-url is Terraless's own endpoint, which accepts a bearer header and
    # writes the object to S3 (works with every client on real S3 too);
    # "presigned": upload-url is a presigned S3 PUT (largest archives; clients must not send
    # an Authorization header, which real S3 rejects next to a presigned signature);
    # "auto" (default): presigned for the clients known to send none, else the archivist.
    upload_mode: str
    backing_data_retention_days: int
    cts_organization: str
    # Consul polling (CONSUL_HTTP_ADDR set): seconds between polls within the minute tick
    consul_poll_seconds: int
    token_cache_seconds: float
    # run lifecycle
    heartbeat_seconds: int
    phase_timeout_seconds: int
    # how long a phase may wait for a worker (its task has no heartbeat until pickup)
    queue_timeout_seconds: int
    confirm_timeout_seconds: int
    force_cancel_cooloff_seconds: int
    cancel_grace_seconds: int
    run_dedup_seconds: int
    log_url_ttl: int
    # workers
    terraform_bin: str | None
    # OpenTofu for the workspaces whose engine is "tofu" (none: such runs are refused)
    tofu_bin: str | None
    # the version of that binary, when it is known without running it (a deployed function:
    # the terraform layer's, which only the runner function mounts)
    terraform_version: str | None
    work_dir: str
    # where a phase's runner executes (chalicelib/executor): "local" (a sandboxed process on
    # this host), "lambda" (the unprivileged runner function), "in-process" (tests under moto)
    executor: str
    # the API as a runner reaches it: the local executor forwards the sandbox's one socket
    # there; the runner function calls it over HTTPS
    runner_api_url: str
    runner_function: str
    # S3 bucket names are global: a deployed stack names its bucket after its account and
    # region (infra/resources.yaml) and tells its functions; the dev stack keeps <prefix>-blobs
    blobs_bucket: str | None = None
    # how long a runner may work on a phase before it stops terraform and stores what it has
    # (0: no limit of its own; the runner function's is its remaining invocation time)
    runner_time_limit_seconds: int = 0

    def resource(self, logical: str) -> str:
        return f"{self.prefix}-{logical}"

    @property
    def bucket(self) -> str:
        return self.blobs_bucket or self.resource("blobs")

    def table(self, logical: str) -> str:
        return self.resource(logical)

    def queue(self, logical: str) -> str:
        return self.resource(logical)


@lru_cache(maxsize=1)
def settings() -> Settings:
    port = os.environ.get("TERRALESS_PORT", "8000")
    return Settings(
        prefix=os.environ.get("TERRALESS_PREFIX", "terraless"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        public_url=os.environ.get("TERRALESS_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        signing_secret=os.environ.get("TERRALESS_SIGNING_SECRET", ""),
        signing_secret_arn=os.environ.get("TERRALESS_SIGNING_SECRET_ARN") or None,
        variables_key=os.environ.get("TERRALESS_VARIABLES_KEY") or
        f"alias/{os.environ.get('TERRALESS_PREFIX', 'terraless')}-variables",
        max_archive_bytes=_int("TERRALESS_MAX_ARCHIVE_BYTES", 50 * 1024 * 1024),
        max_archive_files=_int("TERRALESS_MAX_ARCHIVE_FILES", 10_000),
        max_unpacked_bytes=_int("TERRALESS_MAX_UNPACKED_BYTES", 100 * 1024 * 1024),
        upload_url_ttl=_int("TERRALESS_UPLOAD_URL_TTL", 3600),
        download_url_ttl=_int("TERRALESS_DOWNLOAD_URL_TTL", 60),
        upload_mode=os.environ.get("TERRALESS_UPLOAD_MODE", "auto"),
        backing_data_retention_days=_int("TERRALESS_BACKING_DATA_RETENTION_DAYS", 30),
        cts_organization=os.environ.get("TERRALESS_CTS_ORGANIZATION", "cts"),
        consul_poll_seconds=_int("TERRALESS_CONSUL_POLL_SECONDS", 10),
        token_cache_seconds=float(os.environ.get("TERRALESS_TOKEN_CACHE_SECONDS", "5")),
        heartbeat_seconds=_int("TERRALESS_HEARTBEAT_SECONDS", 30),
        phase_timeout_seconds=_int("TERRALESS_PHASE_TIMEOUT_SECONDS", 4 * 3600),
        queue_timeout_seconds=_int("TERRALESS_QUEUE_TIMEOUT_SECONDS", 24 * 3600),
        confirm_timeout_seconds=_int("TERRALESS_CONFIRM_TIMEOUT_SECONDS", 30 * 24 * 3600),
        force_cancel_cooloff_seconds=_int("TERRALESS_FORCE_CANCEL_COOLOFF_SECONDS", 60),
        cancel_grace_seconds=_int("TERRALESS_CANCEL_GRACE_SECONDS", 10),
        run_dedup_seconds=_int("TERRALESS_RUN_DEDUP_SECONDS", 10),
        log_url_ttl=_int("TERRALESS_LOG_URL_TTL", 24 * 3600),
        terraform_bin=os.environ.get("TERRALESS_TERRAFORM_BIN") or None,
        tofu_bin=os.environ.get("TERRALESS_TOFU_BIN") or None,
        terraform_version=os.environ.get("TERRALESS_TERRAFORM_VERSION") or None,
        work_dir=os.environ.get("TERRALESS_WORK_DIR", os.path.join(
            os.environ.get("TMPDIR", "/tmp"), "terraless-work")),
        executor=os.environ.get("TERRALESS_EXECUTOR", "local"),
        runner_api_url=os.environ.get("TERRALESS_RUNNER_API_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        runner_function=os.environ.get("TERRALESS_RUNNER_FUNCTION", "terraless-runner"),
        blobs_bucket=os.environ.get("TERRALESS_BLOBS_BUCKET") or None,
        runner_time_limit_seconds=_int("TERRALESS_RUNNER_TIME_LIMIT_SECONDS", 0),
    )


def reset() -> None:
    """Forget parsed settings (tests change the environment between cases)."""
    settings.cache_clear()
