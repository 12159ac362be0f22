"""C2SP signed notes and tlog checkpoints, with Ed25519 keys.

Format (DESIGN.md, Checkpoint): body `<origin>\\n<tree size>\\n<base64 root>\\n`, a blank
line, then one line per signature `— <key name> <base64(key_id || signature)>`, where
`key_id` is the first 4 bytes of SHA-256(<key name> || 0x0A || 0x01 || <public key>) and
the signature covers the body. Verification needs only the standard library and
`cryptography`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cunzheng_verify.errors import CheckpointError, SignatureError
from cunzheng_verify.wire import ED25519_ALG
from cunzheng_verify.wire import note_key_id as key_id

SIG_PREFIX = "\u2014 "  # em dash and a space
MAX_NOTE_BYTES = 16 * 1024


class KeySigner(Protocol):
    """An Ed25519 key: signs messages, tells its raw 32-byte public key (a key file or a
    hardware token, `anchoring.signers`)."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    # not `public_bytes_raw()` (cryptography 40+): the zipapp runs on Debian's cryptography 38
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def verifier_key(key_name: str, public_key: bytes) -> str:
    """The C2SP `vkey` text `<name>+<hex key id>+<base64(0x01 || key)>` for a note key."""
    return f"{key_name}+{key_id(key_name, public_key).hex()}+" + base64.b64encode(
        ED25519_ALG + public_key
    ).decode()


@dataclass(frozen=True, slots=True)
class Signer:
    """A named Ed25519 key that signs notes, receipts and manifests: a key in this process,
    or one in a hardware token (`anchoring.signers.KeySigner`); the signatures are the same."""

    name: str
    key: Ed25519PrivateKey | KeySigner

    @property
    def public_key(self) -> bytes:
        if isinstance(self.key, Ed25519PrivateKey):
            return public_key_bytes(self.key)
        return self.key.public_key

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint's body: origin, size, root and its extension lines (C2SP
    tlog-checkpoint; Cunzheng's one extension is `loan-index <base64 root>`, the loan index
    root at this size, `cunzheng_verify.loanindex`)."""

    origin: str
    tree_size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> bytes:
        head = f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root).decode()}\n"
        return (head + "".join(line + "\n" for line in self.extensions)).encode()

    @property
    def loan_index_root(self) -> bytes | None:
        """The loan index root the note commits to (None: a note from before the index)."""
        from cunzheng_verify.loanindex import LoanIndexError, parse_index_line

        try:
            return parse_index_line(self.extensions)
        except LoanIndexError as exc:
            raise CheckpointError(str(exc)) from None


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The signed note text of a checkpoint."""
    if "\n" in checkpoint.origin or not checkpoint.origin:
        raise CheckpointError(f"origin must be one non-empty line, got {checkpoint.origin!r}")
    if any(not line or "\n" in line for line in checkpoint.extensions):
        raise CheckpointError("each extension line must be one non-empty line")
    body = checkpoint.body()
    sig = base64.b64encode(signer.key_id + signer.sign(body)).decode()
    return body.decode() + "\n" + f"{SIG_PREFIX}{signer.name} {sig}\n"


def parse_checkpoint(note: str) -> tuple[Checkpoint, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into its checkpoint and its (key name, key id, signature) lines."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError(f"note is longer than {MAX_NOTE_BYTES} bytes")
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise CheckpointError("note has no blank line between body and signatures")
    lines = body.split("\n")
    if len(lines) < 3:
        raise CheckpointError(
            f"checkpoint body needs origin, size and root; got {len(lines)} lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"tree size must be a decimal number, got {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        raise CheckpointError(f"root is not base64: {root_text!r}") from None
    if len(root) != 32:
        raise CheckpointError(f"root must be 32 bytes, got {len(root)}")
    extensions = tuple(lines[3:])
    if any(not line for line in extensions):
        raise CheckpointError("checkpoint extension lines must not be empty")
    signatures = []
    if not sigs.endswith("\n"):
        raise CheckpointError("signature block must end with a newline")
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError(f"signature line must start with an em dash: {line[:40]!r}")
        name, _, b64 = line[len(SIG_PREFIX):].rpartition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):  # found by tests/unit/test_fuzz_readers.py
            raise CheckpointError(f"signature of {name!r} is not base64") from None
        if len(raw) < 5:
            raise CheckpointError(f"signature of {name!r} is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return Checkpoint(origin, int(size_text), root, extensions), signatures


def verify_checkpoint(
    note: str, *, key_name: str, public_key: bytes, origin: str | None = None
) -> Checkpoint:
    """Return the checkpoint if `note` carries a valid signature by the named key."""
    checkpoint, signatures = parse_checkpoint(note)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin is {checkpoint.origin!r}, expected {origin!r}")
    want_id = key_id(key_name, public_key)
    body = checkpoint.body()
    for name, kid, sig in signatures:
        if name == key_name and kid == want_id:
            try:
                Ed25519PublicKey.from_public_bytes(public_key).verify(sig, body)
            except InvalidSignature:
                raise CheckpointError(
                    f"signature by {key_name!r} (key id {want_id.hex()}) does not verify over "
                    f"the checkpoint of size {checkpoint.tree_size}"
                ) from None
            return checkpoint
    found = ", ".join(f"{n} ({k.hex()})" for n, k, _ in signatures) or "none"
    raise CheckpointError(
        f"no signature by {key_name!r} with key id {want_id.hex()}; found {found}"
    )


def verify_signature(public_key: bytes, signature: bytes, message: bytes, what: str) -> None:
    """Raise `SignatureError` unless `signature` is a valid Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise SignatureError(f"the signature on {what} does not verify") from None
