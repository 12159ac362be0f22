"""The log's Ed25519 key: generated on first start into the data directory (mode 0600),
or read from a configured PEM file. The private key is never logged."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.errors import AnchoringError
from anchoring.notes import Signer


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AnchoringError(
                f"log key {path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise AnchoringError(f"log key {path} is not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AnchoringError(f"log key {path} is not an Ed25519 key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    return key


def log_signer(path: Path, origin: str) -> Signer:
    """The log's signer; its key name is the log's origin, as C2SP checkpoints expect."""
    return Signer(origin, load_or_create_key(path))
