"""The dev stack's durability: a journal of the emulator's durable writes, replayed at start.

moto keeps everything in memory. The emulator's WSGI application is wrapped here: every request
that changes durable data — DynamoDB tables and items, S3 buckets and objects — runs under one
lock, and once moto has answered it with success, the request (method, path, headers, body) is
appended to `<home>/journal.jsonl` *before* the answer leaves: what the API acknowledged is on
disk, in the order it was applied, and failed writes (a condition that did not hold) are not
there. At the next start the emulator replays the journal into its fresh backends before it
serves anything; then the stack reconciles what was in flight (services/restarts.py).

KMS keys are journaled too (CreateKey, tags, aliases): a sealed value names its key by id and
moto draws key ids and key material at random, so a CreateKey entry carries the key's id and
material (`annotate`) and replay gives the new key both back (`restore`, which knows moto's
KMS backend). The journal is the home's copy of the emulator's whole state, 0600, like the
emulator's memory it replaces.

Not journaled, by design: SQS messages and Step Functions executions (work in flight — the
restart reconciliation settles it instead of replaying it, so nothing acts twice), IAM (the
emulator seeds its identities at every start). S3 version ids are random and the service
stores some (a configuration version's archive): replay gives each replayed object version the
id it had (`keep_version`, which knows moto's S3 backend), and rewrites any later request
naming an id it could not keep.

The journal is written with a flush, not an fsync: it survives any stop of the stack (SIGKILL
included), not a power cut of the machine."""
from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

log = logging.getLogger(__name__)

DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
                   "CreateTable", "UpdateTable", "DeleteTable", "UpdateTimeToLive"}
KMS_WRITES = {"CreateKey", "TagResource", "UntagResource", "CreateAlias", "UpdateAlias",
              "DeleteAlias", "EnableKeyRotation", "DisableKey", "EnableKey", "ScheduleKeyDeletion"}
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=[^&]*?%2F\d{8}%2F[^%&]+%2F([a-z0-9-]+)%2Faws4_request")
_KEPT_ENV = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
             "RAW_URI", "REQUEST_URI", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL")


def durable_kind(environ: dict) -> str | None:
    """"dynamodb", "s3" or "kms" for a request that changes durable data, else None."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        return "dynamodb" if target.split(".", 1)[-1] in DYNAMODB_WRITES else None
    if target.startswith("TrentService."):
        return "kms" if target.split(".", 1)[-1] in KMS_WRITES else None
    if environ.get("REQUEST_METHOD") not in ("PUT", "POST", "DELETE"):
        return None
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or \
        _QUERY_SCOPE.search(environ.get("QUERY_STRING", ""))
    if match:
        return "s3" if match.group(1) == "s3" else None
    # SigV2 query authentication (presigned uploads of older clients) exists for S3 only
    return "s3" if "AWSAccessKeyId=" in environ.get("QUERY_STRING", "") else None


def _body(environ: dict) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length:
        return stream.read(length)
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or \
            environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


class Journal:
    """WSGI middleware in front of moto's application."""

    def __init__(self, app, path: Path, annotate=None) -> None:
        """`annotate(kind, environ, answer_body) -> dict` adds fields to an entry."""
        self.app, self.path, self.annotate = app, path, annotate
        self._lock = threading.Lock()
        self._file = open(path, "ab")      # noqa: SIM115 - open for the emulator's lifetime
        path.chmod(0o600)
        self.writes = 0

    def __call__(self, environ, start_response):
        kind = durable_kind(environ)
        if kind is None:
            return self.app(environ, start_response)
        body = _body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        answer: dict = {}

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)
        with self._lock:
            result = self.app(environ, capture)
            try:
                chunks = [bytes(c) for c in result]
            finally:
                if hasattr(result, "close"):
                    result.close()
            code = int(str(answer.get("status", "500")).split()[0])
            if code < 300:
                extra = self.annotate(kind, environ, b"".join(chunks)) if self.annotate else None
                self._append(environ, body, answer.get("headers") or [], extra or {})
        return chunks

    def _append(self, environ: dict, body: bytes, headers: list, extra: dict) -> None:
        entry = {**extra, "env": {k: environ[k] for k in _KEPT_ENV if k in environ},
                 "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
                 "body": base64.b64encode(body).decode("ascii"),
                 "version_id": dict((k.lower(), v) for k, v in headers).get("x-amz-version-id")}
        self._file.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        self.writes += 1


def replay(app, path: Path, keep_version=None, restore=None) -> dict:
    """Applies a journal to a fresh emulator (authorization off: its identities are new).
    `keep_version(path_info, new_id, old_id) -> bool` renames a replayed S3 version back to
    its journaled id; `restore(entry, answer_body)` puts back what an annotated entry
    recorded. Returns what it did."""
    started, applied, failed = time.time(), 0, 0
    if not path.exists():
        return {"entries": 0, "failed": 0, "seconds": 0.0}
    versions: dict[str, str] = {}
    with open(path, "rb") as journal:
        for number, line in enumerate(journal, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                # a line cut short by a kill while it was written: that write was never
                # acknowledged (the answer leaves after the line is complete)
                log.warning("journal line %d is incomplete: ignored", number)
                continue
            status, new_version, answer_body = _apply(app, entry, versions)
            if status < 300:
                applied += 1
                if restore is not None and entry.get("kms_key"):
                    restore(entry, answer_body)
                old = entry.get("version_id")
                if old and new_version and new_version != old and not (
                        keep_version and keep_version(entry["env"].get("PATH_INFO", ""), new_version, old)):
                    versions[old] = new_version
            else:
                failed += 1
                log.warning("journal entry %d replayed with status %d", number, status)
    return {"entries": applied, "failed": failed, "seconds": round(time.time() - started, 3)}


def _remap(query: str, versions: dict[str, str]) -> str:
    if "versionId=" not in query:
        return query
    pairs = [(k, versions.get(v, v) if k == "versionId" else v)
             for k, v in parse_qsl(query, keep_blank_values=True)]
    return urlencode(pairs)


def _apply(app, entry: dict, versions: dict[str, str]) -> tuple[int, str | None]:
    body = base64.b64decode(entry["body"])
    environ = dict(entry["env"], **entry["headers"])
    query = _remap(environ.get("QUERY_STRING", ""), versions)
    if query != environ.get("QUERY_STRING", ""):
        environ["QUERY_STRING"] = query
        for raw in ("RAW_URI", "REQUEST_URI"):
            if raw in environ:
                environ[raw] = environ[raw].split("?", 1)[0] + "?" + query
    environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                    "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
                    "wsgi.version": (1, 0), "wsgi.multithread": False,
                    "wsgi.multiprocess": False, "wsgi.run_once": False})
    answer: dict = {}

    def capture(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return lambda data: None
    result = app(environ, capture)
    try:
        answer_body = b"".join(bytes(c) for c in result)
    finally:
        if hasattr(result, "close"):
            result.close()
    headers = dict((k.lower(), v) for k, v in answer.get("headers") or [])
    return (int(str(answer.get("status", "500")).split()[0]), headers.get("x-amz-version-id"),
            answer_body)
