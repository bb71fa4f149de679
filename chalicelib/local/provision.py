"""Create the resources of infra/resources.yaml on an emulator (moto, LocalStack) or an account.

This interprets the CloudFormation template itself rather than calling CloudFormation: moto's
CloudFormation ignores bucket versioning and notifications, which the service depends on. Only
the resource types the template uses are understood; an unknown type is an error, so nothing in
the one description is silently skipped. Creation is idempotent.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..aws.clients import client
from ..config import settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "resources.yaml"


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.safe_load(path.read_text())


class _Resolver:
    def __init__(self, template: dict, params: dict[str, str], account: str, region: str) -> None:
        self.template, self.params = template, params
        self.pseudo = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws",
                       "AWS::StackName": params.get("Prefix", "terraless"), "AWS::URLSuffix": "amazonaws.com"}
        self.physical: dict[str, str] = {}
        self.arns: dict[str, str] = {}

    def ref(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"unresolved Ref {name}")

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.template.get("Conditions", {})[name]))

    def _evaluate(self, expression: Any) -> Any:
        """The condition functions the template uses: Fn::Equals, Fn::Not (and Condition)."""
        if isinstance(expression, dict) and len(expression) == 1:
            (fn, arg), = expression.items()
            if fn == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if fn == "Fn::Not":
                return not self._evaluate(arg[0])
            if fn == "Condition":
                return self.condition(arg)
        raise ValueError(f"unsupported condition {expression!r}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                if attr != "Arn":
                    raise KeyError(f"unsupported attribute {logical}.{attr}")
                return self.arns[logical]
            if fn == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.condition(condition) else when_false)
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(
                    extra[m.group(1)] if m.group(1) in extra else
                    self.arns[m.group(1)[:-4]] if m.group(1).endswith(".Arn") else
                    self.ref(m.group(1))), text)
        return {k: self.resolve(v) for k, v in value.items()}


def _table(props: dict) -> tuple[str, str]:
    ddb = client("dynamodb")
    name = props["TableName"]
    kwargs = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode",
                                    "GlobalSecondaryIndexes") if k in props}
    try:
        desc = ddb.create_table(TableName=name, **kwargs)["TableDescription"]
    except ddb.exceptions.ResourceInUseException:
        desc = ddb.describe_table(TableName=name)["Table"]
        _add_missing_indexes(ddb, name, props, desc)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        try:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])})
        except ddb.exceptions.ClientError as exc:  # already enabled on a re-run
            if "already enabled" not in str(exc).lower():
                raise
    return name, desc["TableArn"]


def _add_missing_indexes(ddb, name: str, props: dict, desc: dict) -> None:
    """A table kept from an earlier start (the dev stack's journal) gets the indexes the
    template added since, as a stack update would."""
    have = {index["IndexName"] for index in desc.get("GlobalSecondaryIndexes", [])}
    for index in props.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] not in have:
            ddb.update_table(TableName=name, AttributeDefinitions=props["AttributeDefinitions"],
                             GlobalSecondaryIndexUpdates=[{"Create": index}])


def _queue(props: dict) -> tuple[str, str]:
    sqs = client("sqs")
    attrs = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                "ReceiveMessageWaitTimeSeconds", "FifoQueue"):
        if key in props:
            attrs[key] = str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
    if "RedrivePolicy" in props:
        attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _queue_policy(props: dict) -> tuple[str, str]:
    sqs = client("sqs")
    for url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return "policy", ""


def _bucket(props: dict) -> tuple[str, str]:
    s3 = client("s3")
    name = props["BucketName"]
    try:
        if settings().region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={
                "LocationConstraint": settings().region})
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    if props.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": props["VersioningConfiguration"]["Status"]})
    queues = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
    if queues:
        configs = []
        for q in queues:
            config = {"QueueArn": q["Queue"], "Events": [q["Event"]]}
            rules = q.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            if rules:
                config["Filter"] = {"Key": {"FilterRules": rules}}
            configs.append(config)
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"QueueConfigurations": configs})
    return name, f"arn:aws:s3:::{name}"


def _role(props: dict, logical: str, prefix: str) -> tuple[str, str]:
    iam = client("iam")
    name = props.get("RoleName") or f"{prefix}-{logical}"
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            props["AssumeRolePolicyDocument"]))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                            PolicyDocument=json.dumps(policy["PolicyDocument"]))
    return name, arn


def _secret(props: dict) -> tuple[str, str]:
    """A generated secret (GenerateSecretString), created once; an existing one is kept."""
    sm = client("secretsmanager")
    name = props["Name"]
    try:
        return name, sm.describe_secret(SecretId=name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        pass
    length = int((props.get("GenerateSecretString") or {}).get("PasswordLength", 48))
    value = sm.get_random_password(PasswordLength=length, ExcludePunctuation=True)["RandomPassword"]
    return name, sm.create_secret(Name=name, SecretString=value,
                                  Description=props.get("Description", ""))["ARN"]


def _kms_key(props: dict, logical: str, prefix: str) -> tuple[str, str]:
    """A customer key, created once: found again by its tag (aliases point at it by id)."""
    kms = client("kms")
    tag = f"{prefix}-{logical}"
    for page in kms.get_paginator("list_keys").paginate():
        for key in page["Keys"]:
            tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            if {"TagKey": "terraless:logical", "TagValue": tag} in tags:
                return key["KeyId"], key["KeyArn"]
    meta = kms.create_key(Description=props.get("Description", ""),
                          Tags=[{"TagKey": "terraless:logical", "TagValue": tag}])["KeyMetadata"]
    return meta["KeyId"], meta["Arn"]


def _kms_alias(props: dict) -> tuple[str, str]:
    kms = client("kms")
    name = props["AliasName"]
    try:
        kms.create_alias(AliasName=name, TargetKeyId=props["TargetKeyId"])
    except kms.exceptions.AlreadyExistsException:
        kms.update_alias(AliasName=name, TargetKeyId=props["TargetKeyId"])
    return name, name


def _state_machine(props: dict) -> tuple[str, str]:
    sfn = client("stepfunctions")
    definition = props.get("Definition")
    text = json.dumps(definition) if definition is not None else props["DefinitionString"]
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", str(value))
    name = props["StateMachineName"]
    existing = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name]
    if existing:
        arn = existing[0]["stateMachineArn"]
        sfn.update_state_machine(stateMachineArn=arn, definition=text, roleArn=props["RoleArn"])
        return arn, arn
    arn = sfn.create_state_machine(name=name, definition=text, roleArn=props["RoleArn"],
                                   type=props.get("StateMachineType", "STANDARD"))["stateMachineArn"]
    return arn, arn


def _order(resources: dict) -> list[str]:
    """Dependency order: DependsOn, Ref and GetAtt edges."""
    def deps(body: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(body, dict):
            for k, v in body.items():
                if k == "Ref" and isinstance(v, str) and v in resources:
                    found.add(v)
                elif k == "Fn::GetAtt":
                    found.add(v[0] if isinstance(v, list) else v.split(".")[0])
                elif k == "Fn::Sub":
                    text = v if isinstance(v, str) else v[0]
                    found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", text)
                              if m.split(".")[0] in resources}
                    found |= deps(v)
                else:
                    found |= deps(v)
        elif isinstance(body, list):
            for v in body:
                found |= deps(v)
        return found

    graph = {name: deps(body.get("Properties", {})) | set(
        [body["DependsOn"]] if isinstance(body.get("DependsOn"), str) else body.get("DependsOn", []))
        for name, body in resources.items()}
    ordered: list[str] = []
    while graph:
        ready = sorted(n for n, d in graph.items() if d <= set(ordered))
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(graph)}")
        ordered += ready
        for n in ready:
            del graph[n]
    return ordered


def provision(template: dict | None = None, prefix: str | None = None) -> dict[str, str]:
    """Create every resource; returns logical name -> physical id."""
    template = template or load_template()
    prefix = prefix or settings().prefix
    account = client("sts").get_caller_identity()["Account"]
    params = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    params["Prefix"] = prefix
    params["BlobsBucketName"] = settings().bucket      # the dev stack's name, not a global one
    resolver = _Resolver(template, params, account, settings().region)
    resources = template["Resources"]
    # A bucket's DependsOn on the queue policy (needed by CloudFormation) is a real edge here too.
    for logical in _order(resources):
        body = resources[logical]
        props = resolver.resolve(body.get("Properties", {}))
        kind = body["Type"]
        if kind == "AWS::DynamoDB::Table":
            physical, arn = _table(props)
        elif kind == "AWS::SQS::Queue":
            physical, arn = _queue(props)
        elif kind == "AWS::SQS::QueuePolicy":
            physical, arn = _queue_policy(props)
        elif kind == "AWS::S3::Bucket":
            physical, arn = _bucket(props)
        elif kind == "AWS::IAM::Role":
            physical, arn = _role(props, logical, prefix)
        elif kind == "AWS::StepFunctions::StateMachine":
            physical, arn = _state_machine(props)
        elif kind == "AWS::SecretsManager::Secret":
            physical, arn = _secret(props)
        elif kind == "AWS::KMS::Key":
            physical, arn = _kms_key(props, logical, prefix)
        elif kind == "AWS::KMS::Alias":
            physical, arn = _kms_alias(props)
        else:
            raise ValueError(f"{logical}: resource type {kind} is not understood by the provisioner")
        resolver.physical[logical], resolver.arns[logical] = physical, arn
    return dict(resolver.physical)
