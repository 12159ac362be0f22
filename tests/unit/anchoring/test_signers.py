"""The signer abstraction and the token URI, without a token: the Ethereum signature made
from a bare (r, s) is the one eth-account makes (low s, the right recovery id), a
transaction signed through a `DigestSigner` is byte-for-byte eth-account's, and a token
URI's PIN never shows in a repr or an error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.errors import SignatureError
from anchoring.pkcs11 import Pkcs11Error, TokenUri, redact
from anchoring.signers import (
    SECP256K1_N,
    EthAccount,
    FileKeySigner,
    ethereum_vrs,
)
from cunzheng_verify.notes import Checkpoint, Signer, sign_checkpoint, verify_checkpoint

SECRET = 0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318


class CurveKey:
    """A `DigestSigner` over an in-memory secp256k1 key, giving a bare (r, s) as a token
    does, with no recovery id and, about half the time, a high s."""

    def __init__(self, secret: int, deterministic: bool = False) -> None:
        self.key = ec.derive_private_key(secret, ec.SECP256K1())
        self.deterministic = deterministic
        self.public_key = self.key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint)[1:]

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        algorithm = ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=self.deterministic)
        r, s = decode_dss_signature(self.key.sign(digest, algorithm))
        return r, s


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_vrs_from_a_bare_signature_is_exactly_eth_accounts(digest: bytes) -> None:
    # RFC 6979 nonces on both sides: the same (r, s) up to the sign of s, and then the
    # low-s form and recovery id must be eth-account's own
    key = CurveKey(SECRET, deterministic=True)
    r, s = key.sign_digest(digest)
    v, r2, s2 = ethereum_vrs(digest, r, s, key.public_key)
    expected = Account.unsafe_sign_hash(digest, SECRET)
    assert (v + 27, r2, s2) == (expected.v, expected.r, expected.s)
    assert s2 <= SECP256K1_N // 2


def test_a_signature_by_another_key_is_refused() -> None:
    digest = hashlib.sha256(b"x").digest()
    r, s = CurveKey(SECRET).sign_digest(digest)
    with pytest.raises(SignatureError, match="does not recover"):
        ethereum_vrs(digest, r, s, CurveKey(SECRET + 1).public_key)
    with pytest.raises(SignatureError, match="out of range"):
        ethereum_vrs(digest, 0, s, CurveKey(SECRET).public_key)


def test_a_transaction_signed_through_a_digest_signer_is_eth_accounts() -> None:
    account = EthAccount(CurveKey(SECRET))
    assert account.address == Account.from_key(SECRET).address
    tx = {"to": "0x" + "11" * 20, "value": 5, "gas": 50_000, "maxFeePerGas": 2 * 10**9,
          "maxPriorityFeePerGas": 10**9, "nonce": 3, "chainId": 31337, "data": b"\x01\x02",
          "from": account.address}
    signed = account.sign_transaction(tx)
    assert Account.recover_transaction(signed.raw_transaction) == account.address
    tx.pop("from")
    reference = Account.sign_transaction(tx, SECRET)
    # ECDSA nonces differ (RFC 6979 in eth-account, random here): same signer, same body
    assert Account.recover_transaction(reference.raw_transaction) == account.address
    legacy = {"to": "0x" + "22" * 20, "value": 1, "gas": 21_000, "gasPrice": 10**9, "nonce": 0,
              "chainId": 1337}
    assert Account.recover_transaction(
        account.sign_transaction(legacy).raw_transaction) == account.address
    with pytest.raises(SignatureError, match="this key is"):
        account.sign_transaction({**legacy, "from": "0x" + "33" * 20})


def test_file_and_token_keys_are_interchangeable_behind_signer() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    direct, wrapped = Signer("o", key), Signer("o", FileKeySigner(key))
    assert direct.public_key == wrapped.public_key and direct.key_id == wrapped.key_id
    note = sign_checkpoint(Checkpoint("o", 3, bytes(32)), wrapped)
    assert note == sign_checkpoint(Checkpoint("o", 3, bytes(32)), direct)  # Ed25519: same bytes
    verify_checkpoint(note, key_name="o", public_key=direct.public_key)


def test_token_uri_parses_rfc7512_and_never_shows_the_pin(tmp_path: Path) -> None:
    uri = TokenUri.parse("pkcs11:token=cun%20zheng;object=log-key;id=%01%02"
                         "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=s3cret-PIN")
    assert (uri.token, uri.object, uri.key_id) == ("cun zheng", "log-key", b"\x01\x02")
    assert uri.module_path == "/usr/lib/softhsm/libsofthsm2.so"
    assert uri.resolve_pin() == "s3cret-PIN"
    assert "s3cret" not in repr(uri) and "s3cret" not in uri.redacted
    assert "s3cret" not in redact("pkcs11:token=t;object=o?pin-value=s3cret&module-path=/x")
    with pytest.raises(Pkcs11Error) as err:
        TokenUri.parse("pkcs11:token=t?module-path=/x&pin-value=s3cret")
    assert "object" in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(Pkcs11Error, match="module-path"):
        TokenUri.parse("pkcs11:token=t;object=o?pin-value=s3cret")
    with pytest.raises(Pkcs11Error, match="starts with 'pkcs11:'"):
        TokenUri.parse("file:/etc/passwd")

    pin_file = tmp_path / "pin"
    pin_file.write_text("1234\n")
    pin_file.chmod(0o644)
    bare = TokenUri.parse("pkcs11:token=t;object=o?module-path=/x")
    with pytest.raises(Exception, match="readable by others"):
        bare.resolve_pin(pin_file)
    pin_file.chmod(0o600)
    assert bare.resolve_pin(pin_file) == "1234"
    assert TokenUri.parse(f"pkcs11:token=t;object=o?module-path=/x&pin-source=file:{pin_file}"
                          ).resolve_pin() == "1234"
    with pytest.raises(Pkcs11Error, match="no PIN"):
        bare.resolve_pin()
