"""`terraless deploy` / `terraless destroy`: one CloudFormation stack per prefix.

deploy: template (deploy/template.py) → function code zip → an artefacts bucket of the stack's
own → SAM translated here (deploy/sam.py) → create or update the stack and wait → the public URL
(the API function's URL) set as a parameter → the first site-admin token, printed once.
Works wherever boto3 points: AWS (`--profile`, `--region`) or an emulator (`AWS_ENDPOINT_URL`).

destroy: the stack, the job-flow state machines the service created at run time, the functions'
log groups and the artefacts bucket. Tables, the blobs bucket and the KMS key are retained by
the template (DeletionPolicy: Retain) and stay unless `--delete-data` is given.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from . import package, sam, template

ROOT = Path(__file__).resolve().parents[2]
STACK_DEADLINE_SECONDS = 3600
_DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
_FAILED = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
           "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED")


@dataclass
class Deployment:
    prefix: str
    region: str
    stack: str
    status: str
    url: str | None
    admin_token: str | None
    resources: int
    # types the target's CloudFormation accepted but did not create (an emulator's gaps)
    not_created: list[str] = field(default_factory=list)
    sizes: dict = field(default_factory=dict)


def _session(region: str | None, profile: str | None) -> boto3.session.Session:
    return boto3.session.Session(profile_name=profile, region_name=region or
                                 os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                                 or "us-east-1")


def stack_name(prefix: str) -> str:
    return prefix


def _artefacts_bucket(session, prefix: str) -> str:
    account = session.client("sts").get_caller_identity()["Account"]
    name = f"{prefix}-{account}-{session.region_name}-artefacts"
    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        kwargs = {} if session.region_name == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": session.region_name}}
        s3.create_bucket(Bucket=name, **kwargs)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    return name


def _stack_status(cfn, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def _wait(cfn, name: str, *, deleting: bool = False) -> str:
    deadline = time.monotonic() + STACK_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        status = _stack_status(cfn, name)
        if deleting and status in (None, "DELETE_COMPLETE"):
            return "DELETE_COMPLETE"
        if status in _DONE or status in _FAILED:
            return status
        time.sleep(2)
    raise TimeoutError(f"stack {name} did not settle within {STACK_DEADLINE_SECONDS} s")


def _unchanged(cfn, name: str, body: dict, parameters: dict[str, str]) -> bool:
    """The stack already runs this template with these parameters: nothing to update (what
    CloudFormation would answer; moto 5.2 instead updates every resource, and fails on the
    runner's layer reference)."""
    deployed = cfn.get_template(StackName=name)["TemplateBody"]
    deployed = json.loads(deployed) if isinstance(deployed, str) else deployed
    given = {p["ParameterKey"]: p.get("ParameterValue")
             for p in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Parameters", [])}
    return deployed == body and all(given.get(k) == v for k, v in parameters.items())


def _apply(cfn, name: str, template_url: str, parameters: dict[str, str], body: dict) -> str:
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    kwargs = dict(StackName=name, TemplateURL=template_url, Parameters=params,
                  Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    status = _stack_status(cfn, name)
    if status is None:
        cfn.create_stack(**kwargs)
    elif status in _DONE and _unchanged(cfn, name, body, parameters):
        return status
    else:
        try:
            cfn.update_stack(**kwargs)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    status = _wait(cfn, name)
    if status not in _DONE:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"][:10]
        reasons = "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                            for e in events if "FAILED" in e["ResourceStatus"])
        raise RuntimeError(f"stack {name} ended {status}: {reasons}")
    return status


def _function_url(session, prefix: str) -> str | None:
    try:
        return session.client("lambda").get_function_url_config(
            FunctionName=f"{prefix}-http")["FunctionUrl"].rstrip("/")
    except ClientError:
        return None     # an emulator whose CloudFormation does not create function URLs


def _first_admin_token(session, prefix: str) -> str | None:
    """In a process of its own: the service's tables are named after the prefix it imports with."""
    env = dict(os.environ, TERRALESS_PREFIX=prefix, AWS_REGION=session.region_name,
               AWS_DEFAULT_REGION=session.region_name)
    if session.profile_name and session.profile_name != "default":
        env["AWS_PROFILE"] = session.profile_name
    done = subprocess.run([sys.executable, "-m", "chalicelib.deploy.bootstrap"], env=env,
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip() or None


def deploy(prefix: str, *, region: str | None = None, profile: str | None = None,
           public_url: str | None = None) -> Deployment:
    session = _session(region, profile)
    name = stack_name(prefix)
    with tempfile.TemporaryDirectory() as tmp:
        sam_template = json.loads(Path(template.build_template(str(Path(tmp) / "sam.json"))).read_text())
        artefacts = package.build(Path(tmp) / "package")
    bucket = _artefacts_bucket(session, prefix)
    s3 = session.client("s3")
    code_key = f"code/{hashlib.sha256(artefacts.function_zip).hexdigest()}.zip"
    layer_key = f"layers/{hashlib.sha256(artefacts.layer_zip).hexdigest()}.zip"
    s3.put_object(Bucket=bucket, Key=code_key, Body=artefacts.function_zip)
    s3.put_object(Bucket=bucket, Key=layer_key, Body=artefacts.layer_zip)
    parameters = {"Prefix": prefix, "PublicUrl": public_url or ""}
    cfn_template = sam.translate(sam_template, bucket, code_key, parameters, layer_key)
    body = json.dumps(cfn_template).encode()
    template_key = f"templates/{hashlib.sha256(body).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    # CloudFormation reads the template itself, with the caller's permissions (over 51 KB it
    # cannot be sent inline): a virtual-hosted S3 URL, the form it accepts
    template_url = f"https://{bucket}.s3.{session.region_name}.amazonaws.com/{template_key}"
    cfn = session.client("cloudformation")
    status = _apply(cfn, name, template_url, parameters, cfn_template)
    url = public_url or _function_url(session, prefix)
    if url and url != parameters["PublicUrl"]:
        # the function URL exists only once the stack does: set it where the functions read it
        parameters["PublicUrl"] = url
        status = _apply(cfn, name, template_url, parameters, cfn_template)
    # (moto lists a resource it skipped as an entry without a logical id)
    created = {r["LogicalResourceId"] for r in
               cfn.get_paginator("list_stack_resources").paginate(StackName=name).build_full_result()
               ["StackResourceSummaries"] if r["LogicalResourceId"]}
    not_created = sorted({body["Type"] for logical, body in cfn_template["Resources"].items()
                          if logical not in created})
    return Deployment(prefix=prefix, region=session.region_name, stack=name, status=status,
                      url=url, admin_token=_first_admin_token(session, prefix),
                      resources=len(created), not_created=not_created, sizes=artefacts.sizes())


def _empty_bucket(s3, bucket: str) -> None:
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchBucket", "404"):
            raise


def _exists(session, kind: str, physical: str) -> bool:
    try:
        if kind == "AWS::DynamoDB::Table":
            session.client("dynamodb").describe_table(TableName=physical)
        elif kind == "AWS::S3::Bucket":
            session.client("s3").head_bucket(Bucket=physical)
        elif kind == "AWS::KMS::Key":
            state = session.client("kms").describe_key(KeyId=physical)["KeyMetadata"]["KeyState"]
            return state not in ("PendingDeletion", "PendingReplicaDeletion")
        return True
    except ClientError as exc:
        # only a definite "not found" means gone (moto 5.2's KMS fails DescribeKey on a key its
        # CloudFormation created: such a key counts as kept)
        return exc.response["Error"]["Code"] not in (
            "ResourceNotFoundException", "NoSuchBucket", "404", "NotFoundException")


def destroy(prefix: str, *, region: str | None = None, profile: str | None = None,
            delete_data: bool = False) -> dict:
    session = _session(region, profile)
    name = stack_name(prefix)
    cfn = session.client("cloudformation")
    retained: list[str] = []
    if _stack_status(cfn, name) is not None:
        resources = cfn.get_paginator("list_stack_resources").paginate(StackName=name).build_full_result()[
            "StackResourceSummaries"]
        retained = [f"{r['ResourceType']} {r['PhysicalResourceId']}" for r in resources
                    if r["ResourceType"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key")]
        cfn.delete_stack(StackName=name)
        _wait(cfn, name, deleting=True)
        # what the template retains (DeletionPolicy: Retain) outlives the stack; the rest went with it
        retained = [entry for entry in retained if _exists(session, *entry.split(" ", 1))]
    removed: list[str] = [f"stack {name}"]
    sfn = session.client("stepfunctions")
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"].startswith(f"{prefix}-job-flow-"):
                sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])
                removed.append(f"state machine {machine['name']}")
    logs = session.client("logs")
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=f"/aws/lambda/{prefix}-"):
        for group in page["logGroups"]:
            logs.delete_log_group(logGroupName=group["logGroupName"])
            removed.append(f"log group {group['logGroupName']}")
    s3 = session.client("s3")
    account = session.client("sts").get_caller_identity()["Account"]
    _empty_bucket(s3, f"{prefix}-{account}-{session.region_name}-artefacts")
    removed.append("artefacts bucket")
    if delete_data:
        kept: list[str] = []
        for entry in retained:
            kind, physical = entry.split(" ", 1)
            if kind == "AWS::DynamoDB::Table":
                session.client("dynamodb").delete_table(TableName=physical)
            elif kind == "AWS::S3::Bucket":
                _empty_bucket(s3, physical)
            elif kind == "AWS::KMS::Key":
                try:
                    session.client("kms").schedule_key_deletion(KeyId=physical, PendingWindowInDays=7)
                except ClientError as exc:
                    kept.append(f"{entry} (deletion refused: {exc.response['Error']['Code']})")
                    continue
            removed.append(entry)
        retained = kept
    return {"removed": removed, "retained": retained}
