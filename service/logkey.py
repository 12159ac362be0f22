"""The log's Ed25519 key: generated on first start into the data directory (mode 0600),
or read from a configured PEM file. The private key is never logged."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.crypto import MasterKeys
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


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _read_secret(path: Path, what: str) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AnchoringError(f"{what} {path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_bytes()


def load_master_keys(path: Path, *, create: bool = True) -> MasterKeys:
    """The master key (base64 in a 0600 file), generated on first start. A rotation in
    progress leaves `<path>.new`: then the new key is current and the old one still reads."""
    new = path.with_name(path.name + ".new")
    if not path.exists():
        if not create:
            raise AnchoringError(f"no master key at {path}")
        _write_secret(path, base64.b64encode(os.urandom(32)) + b"\n")
    try:
        current = base64.b64decode(_read_secret(path, "master key").strip(), validate=True)
        if new.exists():
            return MasterKeys(base64.b64decode(_read_secret(new, "new master key").strip(),
                                               validate=True), (current,))
    except binascii.Error:
        raise AnchoringError(f"master key {path} is not base64") from None
    return MasterKeys(current)


def log_signer(path: Path, origin: str) -> Signer:
    """The log's signer; its key name is the log's origin, as C2SP checkpoints expect."""
    return Signer(origin, load_or_create_key(path))
