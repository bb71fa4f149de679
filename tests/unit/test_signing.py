"""URL credentials (services/signing.py): bound to a purpose, an organization and one object,
until they expire; each organization's key is its own."""
import hashlib
import hmac

import pytest

from chalicelib.domain.errors import NotFound
from chalicelib.services import signing


def test_round_trip_and_purpose_binding():
    credential = signing.sign("cv-upload", "acme", "cv-abc", 60)
    assert signing.verify("cv-upload", credential) == ("acme", "cv-abc")
    with pytest.raises(NotFound):
        signing.verify("log-read", credential)


def test_forged_and_expired_credentials_are_refused():
    credential = signing.sign("cv-upload", "acme", "cv-abc", 60)
    scope, subject, expiry, mac = credential.rsplit(".", 3)
    for forged in (f"{scope}.cv-xyz.{expiry}.{mac}",            # another object
                   f"evil.{subject}.{expiry}.{mac}",             # another organization
                   f"{scope}.{subject}.{int(expiry) + 999}.{mac}",   # a later expiry
                   "junk", f"{credential}" + "0" * 600):
        with pytest.raises(NotFound):
            signing.verify("cv-upload", forged)
    with pytest.raises(NotFound, match="expired"):
        signing.verify("cv-upload", signing.sign("cv-upload", "acme", "cv-abc", -1))


def test_each_organization_signs_with_its_own_derived_key():
    """A MAC made with the master key itself, or with another organization's key, is refused:
    knowing one tenant's key signs nothing of another's."""
    credential = signing.sign("log-read", "acme", "plan-1", 60)
    scope, subject, expiry, _ = credential.rsplit(".", 3)
    with_master = hmac.new(signing.master_key(), f"{subject}:{expiry}".encode(),
                           hashlib.sha256).hexdigest()[:40]
    other_key = signing.derived_key("log-read/other")
    with_other = hmac.new(other_key, f"{subject}:{expiry}".encode(), hashlib.sha256).hexdigest()[:40]
    for mac in (with_master, with_other):
        with pytest.raises(NotFound):
            signing.verify("log-read", f"{scope}.{subject}.{expiry}.{mac}")
    assert signing.derived_key("log-read/acme") != signing.derived_key("log-read/other")
