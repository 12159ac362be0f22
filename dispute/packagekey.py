"""The bank's package-signing key and the verifier's trusted keys.

The package key is an Ed25519 key of its own, apart from the log's key: the log key signs
checkpoints, the package key signs `manifest.json`. It is generated on first use into the
data directory (mode 0600, like the log key) or read from a PEM file. Trusted keys for
verification are standard base64 public keys (32 raw bytes) or C2SP verifier keys
`<name>+<hex key id>+<base64(0x01 || key)>`, one per line in a trust file (`#` comments).
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.keyfiles import KeyFileError, load_or_create_ed25519
from anchoring.notes import Signer
from cunzheng_wire import ED25519_ALG, note_key_id
from dispute.errors import PackageKeyError, TrustError

PACKAGE_KEY_FILE = "package-key.pem"
MAX_TRUST_FILE_BYTES = 64 * 1024


def package_key_name(origin: str) -> str:
    """The package key's name: the log origin's host with `/evidence-package`."""
    return origin.split("/", 1)[0] + "/evidence-package"


def load_or_create_package_key(path: Path) -> Ed25519PrivateKey:
    """Read the PEM key at `path`, or generate one there (mode 0600) if there is none."""
    try:
        return load_or_create_ed25519(path, "package key")
    except KeyFileError as exc:
        raise PackageKeyError(str(exc)) from None


def package_signer(data_dir: Path, origin: str) -> Signer:
    """The bank's package signer, its key in `<data_dir>/package-key.pem`."""
    return Signer(package_key_name(origin), load_or_create_package_key(data_dir / PACKAGE_KEY_FILE))


def parse_trusted_key(text: str) -> bytes:
    """A 32-byte Ed25519 public key from base64 or from a C2SP verifier key."""
    text = text.strip()
    parts = text.split("+", 2)  # a key name has no "+"; base64 may
    if len(parts) == 3 and re.fullmatch(r"[0-9a-fA-F]{8}", parts[1]):
        name, hex_id, b64 = parts
        raw = _b64(b64, text)
        if len(raw) != 33 or raw[:1] != ED25519_ALG:
            raise TrustError(f"verifier key {text!r} is not an Ed25519 key")
        if note_key_id(name, raw[1:]).hex() != hex_id.lower():
            raise TrustError(f"verifier key {text!r}: key id {hex_id} does not match its key")
        return raw[1:]
    raw = _b64(text, text)
    if len(raw) != 32:
        raise TrustError(f"trusted key {text!r} must be 32 bytes of base64, got {len(raw)} bytes")
    return raw


def _b64(value: str, shown: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"trusted key {shown!r} is not base64") from None


def load_trust_file(path: Path) -> list[bytes]:
    """The keys of a trust file: one key per line, blank lines and `#` comments ignored."""
    try:
        if path.stat().st_size > MAX_TRUST_FILE_BYTES:
            raise TrustError(f"trust file {path} is larger than {MAX_TRUST_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustError(f"cannot read trust file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TrustError(f"trust file {path} is not UTF-8 text") from None
    keys = [parse_trusted_key(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise TrustError(f"trust file {path} holds no keys")
    return keys
