"""Encryption of embeddings at rest: AES-256-GCM from the ``cryptography``
package.

The key is 32 random bytes, given as base64 text in ``$PROSOPO_GALLERY_KEY``
or in a key file (``key_file=``, or ``$PROSOPO_GALLERY_KEY_FILE``). Create one
with ``prosopo gallery keygen``. Every value is sealed with a fresh 12-byte
nonce and bound to its place in the store by associated data, so a sealed
embedding copied into another row or another store does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from ..errors import ParameterError, StoreError

KEY_ENV = "PROSOPO_GALLERY_KEY"
KEY_FILE_ENV = "PROSOPO_GALLERY_KEY_FILE"
NONCE = 12
TAG = 16


def new_key() -> str:
    """A fresh random key as base64 text (what the key file holds)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _decode(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ParameterError(f"the gallery key from {origin} is not 32 bytes of base64; create one with "
                             "'prosopo gallery keygen'")
    return key


def find_key(key: str | bytes | None = None, key_file: str | os.PathLike | None = None) -> bytes | None:
    """The key from an argument, a key file, or the environment; None if none is given."""
    if isinstance(key, bytes):
        if len(key) != 32:
            raise ParameterError("a gallery key given as bytes must be 32 bytes long")
        return key
    if isinstance(key, str):
        return _decode(key, "the key argument")
    path = key_file or os.environ.get(KEY_FILE_ENV)
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ParameterError(f"cannot read the gallery key file {str(path)!r}: {exc.strerror}") from None
        return _decode(text, f"the key file {str(path)!r}")
    if os.environ.get(KEY_ENV):
        return _decode(os.environ[KEY_ENV], f"${KEY_ENV}")
    return None


class Cipher:
    """Seal and open byte strings with one key (AES-256-GCM)."""

    def __init__(self, key: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, data, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], context)
        except (InvalidTag, ValueError):
            raise StoreError("an encrypted value does not open with this key (wrong key, or the store was "
                             "tampered with)") from None
