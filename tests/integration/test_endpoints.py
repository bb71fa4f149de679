"""Endpoint choice: LOCALSTACK_HOST (through localstack-client) or AWS_ENDPOINT_URL reach an
emulator other than the in-process mock; nothing is hard-coded."""
import pytest


@pytest.fixture
def moto_server():
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


@pytest.mark.parametrize("variable", ["LOCALSTACK_HOST", "AWS_ENDPOINT_URL"])
def test_resources_are_created_where_the_endpoint_points(moto_server, monkeypatch, variable):
    import boto3

    from chalicelib import config
    from chalicelib.aws import clients
    from chalicelib.local import provision
    monkeypatch.setenv(variable, moto_server if variable == "LOCALSTACK_HOST" else f"http://{moto_server}")
    monkeypatch.setenv("TERRALESS_PREFIX", "elsewhere")
    config.reset()
    clients.reset()
    try:
        created = provision.provision()
        assert created["BlobsBucket"] == "elsewhere-blobs"
        # look at the emulator directly: the tables are there, not in any mock
        ddb = boto3.client("dynamodb", endpoint_url=f"http://{moto_server}", region_name="us-east-1")
        assert "elsewhere-runs" in ddb.list_tables()["TableNames"]
        s3 = boto3.client("s3", endpoint_url=f"http://{moto_server}", region_name="us-east-1")
        assert s3.get_bucket_versioning(Bucket="elsewhere-blobs")["Status"] == "Enabled"
    finally:
        config.reset()
        clients.reset()
