"""Which package keys a verifier trusts: a key from base64 or a C2SP verifier key, and trust
files (one key a line, blank lines and `#` comments ignored).

Whose signature on a manifest counts is the relying party's choice (DESIGN.md, `manifest.sig`):
the court or notary passes its trusted keys with `--trust FILE` or `--trust-key KEY`.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cunzheng_verify.errors import TrustError
from cunzheng_verify.wire import ED25519_ALG, note_key_id

MAX_TRUST_FILE_BYTES = 64 * 1024


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
