"""moto_server with IAM enforcement on, seeded with the identities of the stack.

`python -m chalicelib.local.emulator <spec.json> <credentials.json> <host> <port>` replays the
journal named by TERRALESS_JOURNAL (local/journal.py) if there is one, creates, in the emulator's own IAM backend and before it serves a request, one user per entry
of the spec (its inline policy, an access key), writes the keys to the credentials file
(0600), and then serves with every request authenticated and authorized
(`INITIAL_NO_AUTH_ACTION_COUNT=0`). The dev stack's service runs as the `service` identity,
whose policy is the deploy template's (.chalice/policy.json); the state machine engine inside
moto calls SQS with the fixed key "ak", which is given the run state machine role's policy.

What moto checks, measured with moto 5.x: signatures, and each request's *action* against the
identity's policies; for S3 the resource ARN too. For other services moto evaluates every
statement against the resource "*", and it cannot evaluate conditions such as
`iam:PassedToService`: policy_for_emulator() therefore widens Resource to "*" (S3 statements
excepted) and drops Condition blocks. A missing *action* in the template fails in `make test`;
a too-narrow resource pattern would only fail on AWS."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

STATES_ENGINE_KEY = ("ak", "sk")   # moto/stepfunctions/parser/asl/utils/boto_client.py
# AWS authorizes these operations by the permissions of their parts (a batch by its single
# action, a transaction by each item's action) and GetCallerIdentity by none at all; moto
# checks the operation's own name. Each is allowed where AWS would allow it.
AUTHORIZED_BY = {
    "sqs:SendMessage": ("sqs:SendMessageBatch",),
    "sqs:DeleteMessage": ("sqs:DeleteMessageBatch",),
    "sqs:ChangeMessageVisibility": ("sqs:ChangeMessageVisibilityBatch",),
    "dynamodb:PutItem": ("dynamodb:TransactWriteItems", "dynamodb:BatchWriteItem"),
    "dynamodb:UpdateItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:DeleteItem": ("dynamodb:TransactWriteItems", "dynamodb:BatchWriteItem"),
    "dynamodb:ConditionCheckItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:GetItem": ("dynamodb:TransactGetItems",),
}
ALWAYS_ALLOWED = ("sts:GetCallerIdentity",)


def policy_for_emulator(document: dict) -> dict:
    statements = []
    for statement in document.get("Statement", []):
        statement = {k: v for k, v in statement.items() if k != "Condition"}
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else list(actions)
        if not all(a.startswith("s3:") for a in actions):
            statement["Resource"] = "*"
        implied = sorted({alias for a in actions for alias in AUTHORIZED_BY.get(a, ())} - set(actions))
        statement["Action"] = actions + implied
        statements.append(statement)
    statements.append({"Effect": "Allow", "Action": list(ALWAYS_ALLOWED), "Resource": "*"})
    return {"Version": document.get("Version", "2012-10-17"), "Statement": statements}


def _seed(spec: dict) -> dict:
    from moto.core import DEFAULT_ACCOUNT_ID  # lazy: only inside the emulator's process
    from moto.iam.models import iam_backends  # lazy: as above

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    keys = {}
    for name, entry in spec.items():
        iam.create_user("us-east-1", entry["user"], path="/", tags=[])
        iam.put_user_policy(entry["user"], "policy", json.dumps(entry["policy"]))
        key = iam.create_access_key(entry["user"])
        if entry.get("fixed_key"):
            key.access_key_id, key.secret_access_key = entry["fixed_key"]
        keys[name] = {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}
    return keys


def _authorize_presigned_s3() -> None:
    """moto's enforcement reads the Authorization header only, and fails (500) on a presigned
    URL, whose credential is in its query string. Here a presigned request is authorized by
    the access key it names — which must exist and whose policy must allow the action — and
    refused once expired; its signature is not verified (moto cannot)."""
    import time  # lazy: as above
    from datetime import datetime, timezone  # lazy: as above
    from urllib.parse import parse_qs, urlparse  # lazy: as above

    from moto.core.authorization import ActionAuthenticatorMixin  # lazy: as above
    from moto.iam.access_control import S3IAMRequest  # lazy: as above
    original = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action

    from moto import settings  # lazy: as above

    def authorize(self, bucket_name=None, key_name=None):
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            return original(self, bucket_name, key_name)      # the journal's replay
        query = parse_qs(urlparse(self.uri).query) or dict(getattr(self, "querystring", {}) or {})
        if self.headers.get("Authorization"):
            return original(self, bucket_name, key_name)
        if "X-Amz-Credential" in query:               # SigV4 query authentication
            credential = query["X-Amz-Credential"][0]
            signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=timezone.utc).timestamp()
            expires = signed + int(query.get("X-Amz-Expires", ["0"])[0])
        elif "AWSAccessKeyId" in query:               # SigV2 query authentication
            credential = f"{query['AWSAccessKeyId'][0]}/19700101/us-east-1/s3/aws4_request"
            expires = int(query.get("Expires", ["0"])[0])
        else:
            return original(self, bucket_name, key_name)
        if expires < time.time():
            from moto.s3.exceptions import S3AccessDeniedError  # lazy: as above
            raise S3AccessDeniedError()
        headers = dict(self.headers.items())
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credential}, "
                                    "SignedHeaders=host, Signature=presigned")
        target = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
        S3IAMRequest(account_id=self.current_account, method=self.method, path=self.raw_path,
                     data=self.data, body=self.raw_body, headers=headers,
                     action=self._get_action()).check_action_permitted(f"arn:aws:s3:::{target}")
    ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = authorize


def _keep_s3_version(path_info: str, new_id: str, old_id: str) -> bool:
    """Gives the object version (or delete marker) a replayed write created the id it had
    before the restart (moto draws version ids at random): ids the service stored stay good."""
    from urllib.parse import unquote  # lazy: as above

    from moto.core import DEFAULT_ACCOUNT_ID  # lazy: as above
    from moto.s3.models import s3_backends  # lazy: as above
    bucket_name, _, key_name = path_info.lstrip("/").partition("/")
    try:
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket_name]
        versions = bucket.keys.getlist(unquote(key_name)) or []
    except KeyError:
        return False
    for version in versions:
        if getattr(version, "_version_id", None) == new_id:
            version._version_id = old_id
            return True
    return False


def _kms_backend_with(key_id: str):
    from moto.core import DEFAULT_ACCOUNT_ID  # lazy: as above
    from moto.kms.models import kms_backends  # lazy: as above
    for _, backend in kms_backends[DEFAULT_ACCOUNT_ID].items():
        if key_id in backend.keys:
            return backend
    return None


def _annotate_kms_key(kind: str, environ: dict, answer: bytes) -> dict | None:
    """A CreateKey entry carries the key's id and material (moto draws both at random; sealed
    values name the key by id and need its material)."""
    if kind != "kms" or not environ.get("HTTP_X_AMZ_TARGET", "").endswith(".CreateKey"):
        return None
    import base64  # lazy: as above
    key_id = json.loads(answer)["KeyMetadata"]["KeyId"]
    backend = _kms_backend_with(key_id)
    if backend is None:
        return None
    return {"kms_key": {"id": key_id,
                        "material": base64.b64encode(backend.keys[key_id].key_material).decode()}}


def _restore_kms_key(entry: dict, answer: bytes) -> None:
    """The replayed CreateKey made a key with a new id and material: it gets the old ones
    back (and its tags follow it), so every later entry and every sealed value finds it."""
    import base64  # lazy: as above
    old, new_id = entry["kms_key"], json.loads(answer)["KeyMetadata"]["KeyId"]
    backend = _kms_backend_with(new_id)
    if backend is None or new_id == old["id"]:
        return
    key = backend.keys.pop(new_id)
    key.id, key.arn = old["id"], key.arn.replace(new_id, old["id"])
    key.key_material = base64.b64decode(old["material"])
    backend.keys[old["id"]] = key
    if new_id in backend.tagger.tags:
        backend.tagger.tags[old["id"]] = backend.tagger.tags.pop(new_id)


def _serve(host: str, port: int, journal_path: Path | None) -> None:
    """moto_server's own main, with the journal (local/journal.py) around its application:
    replayed before the first request is served, then appended to by every durable write."""
    from moto import settings  # lazy: as above
    from moto.moto_server.werkzeug_app import (  # lazy: as above
        DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
    from werkzeug.serving import run_simple  # lazy: as above

    from .journal import Journal, replay  # lazy: as above
    os.environ["MOTO_PORT"] = str(port)
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    if journal_path is not None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")    # the identities are new
        done = replay(app, journal_path, _keep_s3_version, _restore_kms_key)
        print(f"journal replayed: {json.dumps(done)}", flush=True)
        app = Journal(app, journal_path, _annotate_kms_key)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def main() -> None:
    from ..executor.isolation import protect_process  # lazy: the emulator's process only
    protect_process()       # its environment and memory: not for a phase of the same uid
    spec_path, credentials_path, host, port = sys.argv[1:5]
    journal = os.environ.get("TERRALESS_JOURNAL")
    keys = _seed(json.loads(Path(spec_path).read_text()))
    _authorize_presigned_s3()
    fd = os.open(credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(keys, out)
    _serve(host, int(port), Path(journal) if journal else None)


if __name__ == "__main__":
    main()
