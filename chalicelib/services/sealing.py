"""Envelope encryption of sensitive values and of saved plans (which carry every variable's
value): AES-256-GCM under a KMS data key (aws/kms.py); only the key's ciphertext is stored
next to what it seals. A workspace's or a variable set's sensitive variables share one data
key (its `owner key`, one KMS Decrypt per owner when a phase is prepared); each value is
bound to its variable by the GCM associated data, so a sealed value copied onto another
variable does not open."""
from __future__ import annotations

import base64
import os
import struct

from ..aws import kms

BLOB_MAGIC = b"TRLSEAL1"
_NONCE = 12


class Unsealable(Exception):
    """A sealed value or blob that does not open (tampered, or sealed for something else)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def owner_context(owner_id: str) -> dict[str, str]:
    return {"terraless:owner": owner_id}


def new_owner_key(owner_id: str) -> tuple[bytes, str]:
    """(plaintext key, its ciphertext as stored)."""
    plain, encrypted = kms.new_data_key(owner_context(owner_id))
    return plain, _b64(encrypted)


def open_owner_key(owner_id: str, encrypted: str) -> bytes:
    return kms.open_data_key(base64.b64decode(encrypted), owner_context(owner_id))


def _aead():
    """AES-GCM and its failure, imported on first use: cryptography costs ~30 ms to import and
    only requests that seal or open need it."""
    from cryptography.exceptions import InvalidTag  # lazy: as said
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # lazy: as said
    return AESGCM, InvalidTag


def seal(key: bytes, value: str, bound_to: str) -> str:
    AESGCM, _ = _aead()
    nonce = os.urandom(_NONCE)
    return _b64(nonce + AESGCM(key).encrypt(nonce, value.encode(), bound_to.encode()))


def unseal(key: bytes, sealed: str, bound_to: str) -> str:
    AESGCM, InvalidTag = _aead()
    raw = base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], bound_to.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise Unsealable(f"a sealed value of {bound_to} does not open") from exc


def seal_blob(data: bytes, subject: str) -> bytes:
    """A blob under its own data key: magic, key length, encrypted key, nonce, ciphertext."""
    AESGCM, _ = _aead()
    plain, encrypted = kms.new_data_key({"terraless:blob": subject})
    nonce = os.urandom(_NONCE)
    return (BLOB_MAGIC + struct.pack(">H", len(encrypted)) + encrypted + nonce
            + AESGCM(plain).encrypt(nonce, data, subject.encode()))


def open_blob(blob: bytes, subject: str) -> bytes:
    AESGCM, InvalidTag = _aead()
    if not blob.startswith(BLOB_MAGIC):
        raise Unsealable(f"the blob of {subject} is not sealed")
    at = len(BLOB_MAGIC)
    (length,) = struct.unpack(">H", blob[at:at + 2])
    encrypted = blob[at + 2:at + 2 + length]
    nonce = blob[at + 2 + length:at + 2 + length + _NONCE]
    body = blob[at + 2 + length + _NONCE:]
    plain = kms.open_data_key(encrypted, {"terraless:blob": subject})
    try:
        return AESGCM(plain).decrypt(nonce, body, subject.encode())
    except InvalidTag as exc:
        raise Unsealable(f"the blob of {subject} does not open") from exc
