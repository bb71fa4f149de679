
import pytest

from chalicelib.domain.errors import NotFound
from chalicelib.services import signing


def test_round_trip_and_purpose_binding():
    credential = signing.sign("cv-upload", "cv-abc", 60)
    assert signing.verify("cv-upload", credential) == "cv-abc"
    with pytest.raises(NotFound):
        signing.verify("log-read", credential)


def test_forged_and_expired_credentials_are_refused(monkeypatch):
    credential = signing.sign("cv-upload", "cv-abc", 60)
    subject, expiry, mac = credential.rsplit(".", 2)
    for forged in (f"cv-xyz.{expiry}.{mac}", f"{subject}.{int(expiry) + 999}.{mac}", "junk"):
        with pytest.raises(NotFound):
            signing.verify("cv-upload", forged)
    expired = signing.sign("cv-upload", "cv-abc", -1)
    with pytest.raises(NotFound, match="expired"):
        signing.verify("cv-upload", expired)
