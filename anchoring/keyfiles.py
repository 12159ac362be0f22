"""Secret and durable files: Ed25519 PEM keys created once with mode 0600, secrets read only
when no one else can read them, and atomic writes (temporary file, fsync, rename).

Shared by the log key, the master key, the package key and everything the service writes
that must be whole after a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.errors import AnchoringError


class KeyFileError(AnchoringError):
    """A key or secret file is unreadable, malformed or readable by others."""


def write_secret(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 (never overwrite) and make it durable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_secret(path: Path, what: str) -> bytes:
    """The bytes of a secret file, refused if group or others may read it."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{what} {path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_bytes()


def load_or_create_ed25519(path: Path, what: str) -> Ed25519PrivateKey:
    """Read the PEM Ed25519 key at `path`, or generate one there (mode 0600)."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(read_secret(path, what), password=None)
        except ValueError as exc:
            raise KeyFileError(f"{what} {path} is not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{what} {path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    write_secret(path, key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    return key


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
