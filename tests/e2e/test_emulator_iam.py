"""The dev stack's emulator enforces IAM (chalicelib/local/emulator.py): the service works
with the deploy template's policy and nothing more, so a permission missing from the template
fails here, not on AWS; unknown or absent credentials get nothing."""
import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.e2e


def _refused(call) -> int:
    """The HTTP status of a refused call (moto's DynamoDB names the error "403")."""
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_service_identity_has_the_template_actions_and_no_others(dev_stack):
    ddb = dev_stack.aws_client("dynamodb", "service")
    assert "Item" not in ddb.get_item(TableName="terraless-runs", Key={"id": {"S": "run-none"}})
    # not in .chalice/policy.json: no Scan, no table deletion or description, no IAM, no
    # secrets but its own
    assert _refused(lambda: ddb.scan(TableName="terraless-tokens")) == 403
    assert _refused(lambda: ddb.describe_table(TableName="terraless-runs")) == 403
    assert _refused(lambda: ddb.delete_table(TableName="terraless-runs")) == 403
    iam = dev_stack.aws_client("iam", "service")
    assert _refused(lambda: iam.create_user(UserName="planted")) == 403
    s3 = dev_stack.aws_client("s3", "service")
    assert _refused(lambda: s3.delete_bucket(Bucket="terraless-blobs")) == 403
    # the admin identity (provisioning, these tests) may: the refusals above are the policy's
    assert dev_stack.aws_client("dynamodb").scan(TableName="terraless-tokens", Limit=1)["ScannedCount"] >= 0
    # what it may do, it can
    assert dev_stack.aws_client("sqs", "service").get_queue_url(QueueName="terraless-plans")["QueueUrl"]


@pytest.mark.parametrize("key", [("testing", "testing"), ("AKIAIOSFODNN7EXAMPLE", "x" * 40)])
def test_unknown_credentials_get_nothing(dev_stack, key):
    ddb = boto3.client("dynamodb", endpoint_url=dev_stack.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id=key[0], aws_secret_access_key=key[1])
    assert _refused(lambda: ddb.list_tables()) in (400, 403)
    s3 = boto3.client("s3", endpoint_url=dev_stack.aws_endpoint, region_name="us-east-1",
                      aws_access_key_id=key[0], aws_secret_access_key=key[1])
    assert _refused(lambda: s3.list_objects_v2(Bucket="terraless-blobs")) == 403


def test_a_wrong_secret_for_a_real_key_is_refused(dev_stack):
    import json
    key = json.loads((dev_stack.home / "emulator-credentials.json").read_text())["service"]
    ddb = boto3.client("dynamodb", endpoint_url=dev_stack.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id=key["access_key_id"], aws_secret_access_key="wrong" * 8)
    assert _refused(lambda: ddb.describe_table(TableName="terraless-runs")) in (400, 403)


def test_presigned_urls_are_authorized_by_the_key_they_name(dev_stack):
    """moto cannot check a presigned URL's signature; the stack's emulator still refuses one
    naming a key whose policy lacks the action, or an unknown key, or once it has expired."""
    import httpx
    admin = dev_stack.aws_client("s3")
    admin.put_object(Bucket="terraless-blobs", Key="iam-probe/object", Body=b"x")

    def presigned(identity: str, expires: int = 60) -> str:
        return dev_stack.aws_client("s3", identity).generate_presigned_url(
            "get_object", Params={"Bucket": "terraless-blobs", "Key": "iam-probe/object"},
            ExpiresIn=expires)
    assert httpx.get(presigned("service")).content == b"x"
    assert httpx.get(presigned("states")).status_code == 403     # only sqs:SendMessage
    unknown = boto3.client("s3", endpoint_url=dev_stack.aws_endpoint, region_name="us-east-1",
                           aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key="x" * 40)
    url = unknown.generate_presigned_url("get_object", Params={
        "Bucket": "terraless-blobs", "Key": "iam-probe/object"}, ExpiresIn=60)
    assert httpx.get(url).status_code == 403
    assert httpx.get(presigned("service", expires=-10)).status_code == 403
