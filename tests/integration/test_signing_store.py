"""On AWS the signing master key lives in Secrets Manager (infra/resources.yaml SigningSecret):
with TERRALESS_SIGNING_SECRET_ARN set, the service signs and verifies with the stored key, and
credentials made with any other key (the environment's) are refused."""
import pytest

from chalicelib.domain.errors import NotFound


def test_the_stored_key_signs_and_an_environment_key_no_longer_does(aws, monkeypatch):
    from chalicelib import config
    from chalicelib.aws.clients import client
    from chalicelib.services import signing

    with_env_key = signing.sign("log-read", "acme", "plan-1", 60)
    arn = client("secretsmanager").describe_secret(SecretId=f"{config.settings().prefix}-signing-key")["ARN"]
    stored = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    monkeypatch.setenv("TERRALESS_SIGNING_SECRET_ARN", arn)
    config.reset()
    signing._stored_secret.cache_clear()
    try:
        assert signing.master_key() == stored.encode() and len(stored) == 48
        credential = signing.sign("log-read", "acme", "plan-1", 60)
        assert signing.verify("log-read", credential) == ("acme", "plan-1")
        with pytest.raises(NotFound):
            signing.verify("log-read", with_env_key)
    finally:
        monkeypatch.delenv("TERRALESS_SIGNING_SECRET_ARN")
        config.reset()
        signing._stored_secret.cache_clear()
