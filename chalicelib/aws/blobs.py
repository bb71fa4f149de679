"""The blob bucket (versioned); its key layout is storage/keys.py."""
from __future__ import annotations

from typing import BinaryIO, Iterator

from botocore.exceptions import ClientError

from ..config import settings
from .clients import client, presigning_s3


def put(key: str, body: BinaryIO | bytes, *, length: int | None = None,
        content_type: str = "application/octet-stream") -> str | None:
    extra = {"ContentLength": length} if length is not None else {}
    resp = client("s3").put_object(Bucket=settings().bucket, Key=key, Body=body,
                                   ContentType=content_type, **extra)
    return resp.get("VersionId")


def head(key: str, version: str | None = None) -> dict | None:
    try:
        kwargs = {"VersionId": version} if version else {}
        return client("s3").head_object(Bucket=settings().bucket, Key=key, **kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound", "NoSuchVersion",
                                             "405", "MethodNotAllowed"):
            return None
        raise


def open_stream(key: str, version: str | None = None) -> BinaryIO:
    kwargs = {"VersionId": version} if version else {}
    return client("s3").get_object(Bucket=settings().bucket, Key=key, **kwargs)["Body"]


def read(key: str, version: str | None = None) -> bytes:
    return open_stream(key, version).read()


def presign_get(key: str, *, ttl: int, version: str | None = None) -> str:
    params = {"Bucket": settings().bucket, "Key": key}
    if version:
        params["VersionId"] = version
    return presigning_s3().generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)


def presign_put(key: str, *, ttl: int) -> str:
    return presigning_s3().generate_presigned_url(
        "put_object", Params={"Bucket": settings().bucket, "Key": key}, ExpiresIn=ttl)


def _versions(key: str) -> Iterator[dict]:
    """Every version and delete marker of exactly `key`, newest first."""
    paginator = client("s3").get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=settings().bucket, Prefix=key):
        entries = [dict(v, marker=False) for v in page.get("Versions", [])]
        entries += [dict(m, marker=True) for m in page.get("DeleteMarkers", [])]
        for entry in entries:
            if entry["Key"] == key:
                yield entry


def soft_delete(key: str) -> None:
    """Hide the object behind a delete marker; every version stays restorable."""
    client("s3").delete_object(Bucket=settings().bucket, Key=key)


def restore(key: str) -> None:
    """Remove the delete markers on top of the object, bringing the newest version back."""
    for entry in list(_versions(key)):
        if entry["marker"]:
            client("s3").delete_object(Bucket=settings().bucket, Key=key,
                                       VersionId=entry["VersionId"])


def delete_every_version(key: str) -> int:
    removed = 0
    for entry in list(_versions(key)):
        client("s3").delete_object(Bucket=settings().bucket, Key=key, VersionId=entry["VersionId"])
        removed += 1
    return removed
