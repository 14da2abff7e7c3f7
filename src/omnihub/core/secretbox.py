"""Secrets the hub must use again later (a connector's access token, its app secret): encrypted with Fernet
under a key derived from OMNIHUB_SECRET_KEY, so a database dump alone reveals none of them."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _fernet(secret_key: str, purpose: str) -> Fernet:
    """One key per purpose, derived with HKDF: a key leaked for one use opens nothing else."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"omnihub-secretbox",
               info=purpose.encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def looks_sealed(value: str) -> bool:
    """Whether a stored value is a Fernet token (version byte 0x80, so it starts `gAAAAA`) rather than a value
    stored in clear by an earlier version."""
    return value.startswith("gAAAAA") and len(value) >= 100


def seal(secret_key: str, purpose: str, plain: str) -> str:
    return _fernet(secret_key, purpose).encrypt(plain.encode()).decode()


def unseal(secret_key: str, purpose: str, token: str) -> str:
    """The plain value; ValueError when the token was sealed under another key (OMNIHUB_SECRET_KEY changed)."""
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("the secret was sealed under another OMNIHUB_SECRET_KEY") from None
