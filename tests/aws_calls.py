"""Which deployed function made which AWS call: a recorder for tests under moto.

Every botocore call is attributed to the innermost app entry point on its thread's stack (an SQS
or schedule handler, the API, the runner); a thread inherits the entry point of the code that
started it, a pool task that of its submitter. Calls made by moto itself (its Step Functions
engine sends the state machine's messages) and by the test outside any entry point are not any
function's. Operations become the IAM actions AWS authorizes them by."""
from __future__ import annotations

import concurrent.futures
import sys
import threading
from collections import defaultdict

import botocore.client

# operations AWS authorizes by other actions (a transaction by its items', a HEAD by its GET)
_S3 = {"HeadObject": ["GetObject"], "ListObjectVersions": ["ListBucketVersions"],
       "ListObjectsV2": ["ListBucket"], "ListObjects": ["ListBucket"], "HeadBucket": ["ListBucket"],
       "CopyObject": ["GetObject", "PutObject"]}
_SQS = {"SendMessageBatch": ["SendMessage"], "DeleteMessageBatch": ["DeleteMessage"],
        "ChangeMessageVisibilityBatch": ["ChangeMessageVisibility"]}
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
             "ConditionCheck": "ConditionCheckItem"}
_FREE = {("sts", "GetCallerIdentity")}


def iam_actions(service: str, operation: str, params: dict) -> list[str]:
    if (service, operation) in _FREE:
        return []
    if service == "dynamodb" and operation == "TransactWriteItems":
        return sorted({f"dynamodb:{_TRANSACT[k]}" for item in params.get("TransactItems", [])
                       for k in item})
    if service == "dynamodb" and operation == "TransactGetItems":
        return ["dynamodb:GetItem"]
    if service == "dynamodb" and operation == "BatchWriteItem":
        return sorted({"dynamodb:PutItem" if "PutRequest" in r else "dynamodb:DeleteItem"
                       for requests in params.get("RequestItems", {}).values() for r in requests})
    if service == "s3" and operation in ("GetObject", "DeleteObject") and params.get("VersionId"):
        return [f"s3:{operation}Version"]
    if service == "s3" and operation == "DeleteObjects":
        objects = params.get("Delete", {}).get("Objects", [])
        return sorted({"s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject"
                       for o in objects})
    mapped = (_S3 if service == "s3" else _SQS if service == "sqs" else {}).get(operation)
    return [f"{service}:{a}" for a in (mapped or [operation])]


class Recorder:
    def __init__(self, entry_points: dict) -> None:
        """entry_points: code object -> function name."""
        self.entry_points = entry_points
        self.calls: dict[str, set[str]] = defaultdict(set)
        self._local = threading.local()
        self._undo: list = []

    def _label(self) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            if "/moto/" in frame.f_code.co_filename:
                return "moto"
            name = self.entry_points.get(frame.f_code)
            if name:
                return name
            frame = frame.f_back
        return getattr(self._local, "inherited", None) or \
            getattr(threading.current_thread(), "_aws_entry_point", None)

    def install(self) -> "Recorder":
        recorder = self
        original_call = botocore.client.BaseClient._make_api_call
        original_start = threading.Thread.start
        original_submit = concurrent.futures.ThreadPoolExecutor.submit

        def make_api_call(client, operation, params):
            label = recorder._label()
            if label and label != "moto":
                service = client.meta.service_model.signing_name
                recorder.calls[label].update(iam_actions(service, operation, params))
            return original_call(client, operation, params)

        def start(thread):
            thread._aws_entry_point = recorder._label()
            return original_start(thread)

        def submit(pool, fn, *args, **kwargs):
            label = recorder._label()

            def labelled(*a, **k):
                previous = getattr(recorder._local, "inherited", None)
                recorder._local.inherited = label
                try:
                    return fn(*a, **k)
                finally:
                    recorder._local.inherited = previous
            return original_submit(pool, labelled, *args, **kwargs)

        # the signing key is read from Secrets Manager once per process (on AWS): every use of
        # it counts as the call, so each function that signs or verifies is seen needing it
        from chalicelib.services import signing
        original_key = signing.master_key

        def master_key():
            label = recorder._label()
            if label and label != "moto":
                recorder.calls[label].add("secretsmanager:GetSecretValue")
            return original_key()

        signing.master_key = master_key
        botocore.client.BaseClient._make_api_call = make_api_call
        threading.Thread.start = start
        concurrent.futures.ThreadPoolExecutor.submit = submit
        self._undo = [(botocore.client.BaseClient, "_make_api_call", original_call),
                      (threading.Thread, "start", original_start),
                      (concurrent.futures.ThreadPoolExecutor, "submit", original_submit),
                      (signing, "master_key", original_key)]
        return self

    def uninstall(self) -> None:
        for owner, name, original in self._undo:
            setattr(owner, name, original)


def entry_points(app_module) -> dict:
    """The code objects where each deployed function's work begins, in this process."""
    import chalice.app

    from chalicelib.api import function_url
    from chalicelib.deploy import permissions
    from chalicelib.executor import inprocess

    points = {chalice.app.Chalice.__call__.__code__: "http",
              function_url.handle.__code__: "http",
              inprocess.execute.__code__: "runner"}
    for name in permissions.FUNCTIONS:
        handler = getattr(app_module, name, None)
        func = getattr(handler, "func", handler)
        if callable(func) and hasattr(func, "__code__"):
            points[func.__code__] = name
    return points
