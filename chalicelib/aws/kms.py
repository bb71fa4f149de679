"""KMS data keys (envelope encryption): a fresh 256-bit key and its ciphertext, and the
ciphertext opened again. The encryption context binds a key to what it seals: a key made for
one workspace's variables does not open with another's context."""
from __future__ import annotations

from ..config import settings
from .clients import client


def new_data_key(context: dict[str, str]) -> tuple[bytes, bytes]:
    """(plaintext key, encrypted key)."""
    answer = client("kms").generate_data_key(KeyId=settings().variables_key, KeySpec="AES_256",
                                             EncryptionContext=context)
    return answer["Plaintext"], answer["CiphertextBlob"]


def open_data_key(encrypted: bytes, context: dict[str, str]) -> bytes:
    return client("kms").decrypt(CiphertextBlob=encrypted, EncryptionContext=context,
                                 KeyId=settings().variables_key)["Plaintext"]
