"""Configuration versions: create, upload (archivist or presigned), the S3 upload event,
list/show, ingress attributes, archive, download, and backing-data actions on S3 versioning."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import BinaryIO

from ..aws import blobs, queues
from ..config import settings
from ..domain.access import Principal
from ..domain.archives import ArchiveRejected, inspect_archive
from ..domain.clock import iso, now, now_iso
from ..domain.configuration_versions import (SOURCE_API, ConfigurationVersion, CVStatus,
                                             source_for_clone_url)
from ..domain.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable, flag
from ..domain.ids import new_id
from ..storage import base, keys
from ..storage import configuration_versions as store
from ..storage import workspaces as workspace_store
from . import hooks, identity, signing, vcs, workspaces

log = logging.getLogger(__name__)

UPLOAD_PURPOSE = "cv-upload"
INGRESS_FIELDS = ("branch", "clone-url", "commit-message", "commit-sha", "commit-url",
                  "compare-url", "identifier", "is-pull-request", "on-default-branch",
                  "pull-request-number", "pull-request-url", "pull-request-title",
                  "pull-request-body", "tag", "sender-username", "sender-avatar-url",
                  "sender-html-url")


def _ingress(attrs: dict) -> dict | None:
    raw = attrs.get("ingress-attributes")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Unprocessable("ingress-attributes must be an object",
                            pointer="/data/attributes/ingress-attributes")
    return {k: raw[k] for k in INGRESS_FIELDS if k in raw}


def upload_url(cv: ConfigurationVersion, *, client_sends_no_token: bool = False) -> str:
    s = settings()
    if s.upload_mode == "presigned" or (s.upload_mode == "auto" and client_sends_no_token):
        return blobs.presign_put(keys.cv_archive(cv.id), ttl=s.upload_url_ttl)
    credential = signing.sign(UPLOAD_PURPOSE, cv.org, cv.id, s.upload_url_ttl)
    return f"{s.public_url}/_archivist/v1/object/{credential}"


def pending_upload_url(cv: ConfigurationVersion, *, client_sends_no_token: bool = False) -> str | None:
    """A fresh upload URL while the version still waits for its archive, of the kind that suits
    the client asking (upload_url)."""
    if cv.status != CVStatus.PENDING or cv.is_vcs:
        return None
    return upload_url(cv, client_sends_no_token=client_sends_no_token)


def create(principal: Principal, workspace_id: str, attrs: dict) -> ConfigurationVersion:
    principal.require_user_or_team("create configuration versions")
    ws = workspaces.get(principal, workspace_id)
    auto_queue = flag(attrs, "auto-queue-runs", True)
    speculative = flag(attrs, "speculative", False)
    provisional = flag(attrs, "provisional", False)
    ingress = _ingress(attrs)
    clone_url = (ingress or {}).get("clone-url")
    if clone_url is not None and not isinstance(clone_url, str):
        raise Unprocessable("clone-url must be a string",
                            pointer="/data/attributes/ingress-attributes/clone-url")
    # `fetch: true` with a clone URL makes Terraless fetch the code itself (VCS-style).
    fetch = flag(attrs, "fetch", False) if clone_url else False
    stamp = now_iso()

    def build(seq: int) -> ConfigurationVersion:
        return ConfigurationVersion(
            id=new_id("cv"), workspace_id=ws.id, org=ws.org, seq=seq, created_at=stamp,
            source=source_for_clone_url(clone_url) if fetch else SOURCE_API,
            speculative=speculative, provisional=provisional, auto_queue_runs=auto_queue,
            ingress=ingress, vcs=fetch, status_timestamps={"pending-at": stamp})

    cv = store.insert(ws, build)
    if fetch:
        request_fetch(cv)
    return cv


def request_fetch(cv: ConfigurationVersion) -> None:
    """pending|archived -> fetching, then a worker clones the repository."""
    move = cv.start_fetching(now_iso())
    store.save(cv, move)
    queues.send("fetches", {"cv_id": cv.id})


def fetch_from_vcs(cv_id: str) -> CVStatus | None:
    """Worker side of `request_fetch`. Idempotent: only a version still fetching is worked on;
    the archive lands in S3 and the upload event finishes the version as for any upload."""
    cv = store.find(cv_id)
    if cv is None or cv.status != CVStatus.FETCHING:
        return cv.status if cv else None
    ingress = cv.ingress or {}
    try:
        archive_bytes, sha = vcs.fetch_archive(ingress["clone-url"], commit=ingress.get("commit-sha"),
                                               branch=ingress.get("branch"),
                                               max_unpacked_bytes=settings().max_unpacked_bytes)
    except vcs.FetchFailed as failed:
        _save_if_still(cv, cv.mark_errored(now_iso(), code="vcs_fetch_failed", message=str(failed)))
        return cv.status
    if ingress.get("commit-sha") != sha:
        # record what was checked out; the status stays fetching (same-status write)
        cv.ingress = {**ingress, "commit-sha": sha}
        store.save(cv)
    blobs.put(keys.cv_archive(cv.id), archive_bytes, length=len(archive_bytes),
              content_type="application/x-tar")
    return cv.status


def get(principal: Principal, cv_id: str) -> ConfigurationVersion:
    cv = store.find(cv_id)
    if cv is None or not principal.can_see_org(cv.org):
        raise NotFound(f"configuration version {cv_id} not found")
    return cv


def list_page(principal: Principal, workspace_id: str, page: int, size: int):
    ws = workspaces.get(principal, workspace_id)
    return store.page(ws.id, ws.cv_seq, page, size), ws.cv_seq


def is_current(cv: ConfigurationVersion) -> bool:
    ws = workspace_store.find(cv.workspace_id)
    return ws is not None and ws.current_cv_id == cv.id


def mutate(cv_id: str, change, *, attempts: int = 8):
    """Load, apply a domain change, save on the status and version read; a concurrent write
    means reload and decide again."""
    return base.retry_change(
        f"configuration version {cv_id}", lambda: store.find(cv_id),
        lambda cv, result: store.save(cv, result if hasattr(result, "from_status") else None),
        change, attempts=attempts)


def count_run(cv_id: str, delta: int) -> None:
    """A run on this version started (+1) or ended (-1)."""
    try:
        mutate(cv_id, lambda cv: cv.count_run(delta))
    except (Conflict, NotFound):
        log.warning("could not count a run on configuration version %s", cv_id)


# -- upload ------------------------------------------------------------------------------------

def receive_upload(credential: str, body: bytes) -> None:
    """The archivist endpoint: the credential in the path names the version; any Authorization
    header the client adds (terraform <= 1.5, terrasnek) is ignored, and the object is written
    to S3, whose ObjectCreated event then validates it."""
    org, cv_id = signing.verify(UPLOAD_PURPOSE, credential)
    cv = store.find(cv_id)
    if cv is None or cv.org != org:
        raise NotFound("unknown upload URL")
    if cv.status != CVStatus.PENDING:
        raise Conflict(f"configuration version {cv_id} is {cv.status.value}; "
                       "its upload URL is no longer usable")
    if len(body) > settings().max_archive_bytes:
        raise PayloadTooLarge(f"archive is {len(body)} bytes; the limit is "
                              f"{settings().max_archive_bytes}")
    blobs.put(keys.cv_archive(cv_id), body, length=len(body), content_type="application/x-tar")


def process_uploaded_object(key: str, version: str | None) -> CVStatus | None:
    """Handle one S3 ObjectCreated record. Idempotent: a version that is no longer pending or
    fetching (an earlier delivery finished it) is left alone."""
    cv_id = keys.cv_id_of(key)
    if cv_id is None:
        log.warning("ignoring object %s", key)
        return None
    cv = store.find(cv_id)
    if cv is None or cv.status not in (CVStatus.PENDING, CVStatus.FETCHING):
        return cv.status if cv else None
    s = settings()
    meta = blobs.head(key, version)
    if meta is None:
        return None  # overwritten or deleted since the event; a later event will follow
    size = int(meta["ContentLength"])
    version = version or meta.get("VersionId")
    try:
        if size > s.max_archive_bytes:
            raise ArchiveRejected("too_large", f"the archive is {size} bytes; the limit is "
                                  f"{s.max_archive_bytes}")
        inspect_archive(blobs.open_stream(key, version), max_files=s.max_archive_files,
                        max_unpacked_bytes=s.max_unpacked_bytes)
    except ArchiveRejected as rejected:
        move = cv.mark_errored(now_iso(), code=rejected.code, message=rejected.message)
        if _save_if_still(cv, move):
            hooks.cv_processed(cv)
        return cv.status
    move = cv.mark_uploaded(now_iso(), blob_version=version, size=size)
    if _save_if_still(cv, move):
        _promote_to_current(cv)
        hooks.cv_uploaded(cv)
        hooks.cv_processed(cv)
    return cv.status


def latest_for_runs(ws) -> str | None:
    """The configuration version a run without one uses: the workspace's latest — which may
    still be processing right after its upload (the run then waits for it: a run must never
    plan older code) — else the current uploaded one."""
    for cv in store.newest(ws.id):
        if cv.speculative or cv.provisional:
            continue
        if cv.usable_for_runs or received(cv):
            return cv.id
    return ws.current_cv_id


def received(cv) -> bool:
    """Its archive arrived and is being validated (or it is being fetched from VCS): a run may
    wait for it. A version created but never uploaded is no one's code."""
    return cv.status == CVStatus.FETCHING or (
        cv.status == CVStatus.PENDING and blobs.head(keys.cv_archive(cv.id)) is not None)


def _save_if_still(cv: ConfigurationVersion, move) -> bool:
    try:
        store.save(cv, move)
        return True
    except Conflict:
        log.info("configuration version %s was finished by another delivery", cv.id)
        return False


def _promote_to_current(cv: ConfigurationVersion) -> None:
    """The newest uploaded non-provisional version becomes the workspace's current one."""
    if cv.provisional or cv.speculative:
        return
    try:
        workspace_store.promote_cv(cv.workspace_id, cv.id, cv.seq)
    except Conflict:
        pass    # a newer version is already current, or the workspace is gone


# -- archive, download, backing data -----------------------------------------------------------

def archive(principal: Principal, cv_id: str) -> None:
    cv = get(principal, cv_id)
    move = cv.archive(now_iso(), is_current=is_current(cv))
    store.save(cv, move)
    blobs.delete_every_version(keys.cv_archive(cv.id))


def download_url(principal: Principal, cv_id: str) -> str:
    cv = get(principal, cv_id)
    if not cv.downloadable:
        raise NotFound(f"configuration version {cv_id} is {cv.status.value}; nothing to download")
    return blobs.presign_get(keys.cv_archive(cv.id), ttl=settings().download_url_ttl,
                             version=cv.blob_version)


def read_archive(cv: ConfigurationVersion) -> BinaryIO:
    return blobs.open_stream(keys.cv_archive(cv.id), cv.blob_version)


def soft_delete_backing_data(principal: Principal, cv_id: str,
                             days: int | None = None) -> ConfigurationVersion:
    """Soft-deleted backing data is deleted for good after `days` (the request's
    delete-older-than-n-days, else TERRALESS_BACKING_DATA_RETENTION_DAYS) by the scheduled
    purge, unless restored first."""
    keep = settings().backing_data_retention_days if days is None else days
    purge_at = iso(now() + timedelta(days=keep))
    return _backing_data(principal, cv_id, lambda cv: cv.soft_delete_backing_data(
        now_iso(), is_current=is_current(cv), purge_at=purge_at), blobs.soft_delete)


def restore_backing_data(principal: Principal, cv_id: str) -> ConfigurationVersion:
    return _backing_data(principal, cv_id, lambda cv: cv.restore_backing_data(now_iso()),
                         blobs.restore)


def permanently_delete_backing_data(principal: Principal, cv_id: str) -> ConfigurationVersion:
    cv = _backing_data(principal, cv_id, lambda cv: cv.permanently_delete_backing_data(now_iso()),
                       blobs.delete_every_version)
    cv.blob_version = None
    return cv


def _backing_data(principal: Principal, cv_id: str, move, on_blob) -> ConfigurationVersion:
    """A backing-data action: the domain move, its conditional save, then the S3 side."""
    cv = get(principal, cv_id)
    store.save(cv, move(cv))
    on_blob(keys.cv_archive(cv.id))
    return cv


def purge_due_backing_data() -> list[str]:
    """The scheduled purge: permanently delete soft-deleted backing data whose time has come."""
    purged = []
    for cv_id in store.ids_due_for_purge(now_iso()):
        try:
            permanently_delete_backing_data(identity.system_principal(), cv_id)
            purged.append(cv_id)
        except (Conflict, BadRequest):
            log.info("configuration version %s changed before its purge", cv_id)
    return purged
