"""The pynamodb models and the resource names of config.py must match infra/resources.yaml,
the one description of the resources."""
from chalicelib.config import settings
from chalicelib.local.provision import load_template
from chalicelib.storage.models import ALL_MODELS


def tables():
    out = {}
    for body in load_template()["Resources"].values():
        if body["Type"] == "AWS::DynamoDB::Table":
            props = body["Properties"]
            name = props["TableName"]["Fn::Sub"].replace("${Prefix}", settings().prefix)
            out[name] = props
    return out


def keys(schema):
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def test_every_model_has_its_table_with_the_same_keys_and_indexes():
    declared = tables()
    for model in ALL_MODELS:
        props = declared[model.Meta.table_name]
        model_keys = {"HASH": model._hash_keyname}
        if model._range_keyname:
            model_keys["RANGE"] = model._range_keyname
        assert keys(props["KeySchema"]) == model_keys, model.__name__
        declared_indexes = {i["IndexName"]: keys(i["KeySchema"])
                            for i in props.get("GlobalSecondaryIndexes", [])}
        for index in model._indexes.values():
            index_keys = {("HASH" if a.is_hash_key else "RANGE"): name
                          for name, a in index.Meta.attributes.items()
                          if a.is_hash_key or a.is_range_key}
            assert declared_indexes.get(index.Meta.index_name) == index_keys, \
                (model.__name__, index.Meta.index_name)
    # the one table not modelled with pynamodb belongs to Powertools' idempotency utility
    assert set(declared) - {m.Meta.table_name for m in ALL_MODELS} == {settings().table("idempotency")}


def test_bucket_and_queue_names_follow_the_rule_config_uses():
    resources = load_template()["Resources"]
    bucket = resources["BlobsBucket"]["Properties"]
    # the dev stack names its bucket (BlobsBucketName); a deployed stack's default name carries
    # its account and region, since bucket names are global
    given, default = bucket["BucketName"]["Fn::If"][1:]
    assert given == {"Ref": "BlobsBucketName"} and settings().bucket == f"{settings().prefix}-blobs"
    assert default == {"Fn::Sub": "${Prefix}-${AWS::AccountId}-${AWS::Region}-blobs"}
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    queue = resources["UploadsQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert queue.replace("${Prefix}", settings().prefix) == settings().queue("uploads")


def test_the_runner_role_may_write_its_logs_and_nothing_else():
    """The runner function executes tenant code: no DynamoDB, S3, SQS, Step Functions, IAM,
    Lambda or any other action than its own logs."""
    role = load_template()["Resources"]["RunnerRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    actions = [a for policy in role["Policies"] for stmt in policy["PolicyDocument"]["Statement"]
               for a in ([stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"])]
    assert actions and all(a.startswith("logs:") for a in actions), actions
    assert not any(a.split(":")[0] in ("dynamodb", "s3", "sqs", "states", "iam", "lambda", "sts")
                   for a in actions)
    assert "ManagedPolicyArns" not in role and "PermissionsBoundary" not in role
    for policy in role["Policies"]:
        for stmt in policy["PolicyDocument"]["Statement"]:
            # its own log groups, not every log group of the account
            assert stmt["Effect"] == "Allow"
            assert ":log-group:/aws/lambda/${Prefix}-runner" in stmt["Resource"]["Fn::Sub"]
