"""The log's Ed25519 key and the master key for encryption at rest: generated on first start
into the data directory (mode 0600), or read from configured files. Never logged."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from anchoring.crypto import MasterKeys
from anchoring.errors import AnchoringError
from anchoring.keyfiles import load_or_create_ed25519, read_secret, write_secret
from anchoring.notes import Signer


def log_signer(path: Path, origin: str) -> Signer:
    """The log's signer; its key name is the log's origin, as C2SP checkpoints expect."""
    return Signer(origin, load_or_create_ed25519(path, "log key"))


def load_master_keys(path: Path, *, create: bool = True) -> MasterKeys:
    """The master key (base64 in a 0600 file), generated on first start. A rotation in
    progress leaves `<path>.new`: then the new key is current and the old one still reads."""
    new = path.with_name(path.name + ".new")
    if not path.exists():
        if not create:
            raise AnchoringError(f"no master key at {path}")
        write_secret(path, base64.b64encode(os.urandom(32)) + b"\n")
    try:
        current = base64.b64decode(read_secret(path, "master key").strip(), validate=True)
        if new.exists():
            return MasterKeys(base64.b64decode(read_secret(new, "new master key").strip(),
                                               validate=True), (current,))
    except binascii.Error:
        raise AnchoringError(f"master key {path} is not base64") from None
    return MasterKeys(current)
