"""Keys in a PKCS#11 token (an HSM, or SoftHSM2 in tests): named by an RFC 7512 URI, they
sign inside the token and never leave it.

    pkcs11:token=cunzheng;object=log-key?module-path=/usr/lib/softhsm/libsofthsm2.so

The PIN comes from the URI (`pin-value=`, or `pin-source=file:/path` for a 0600 file) or
from the settings (`CUNZHENG_PKCS11_PIN_FILE`, `CUNZHENG_PKCS11_PIN`); it is never logged
and never part of an error message (`TokenUri.redacted`).

Ed25519 keys sign with CKM_EDDSA (checkpoints, receipts, package manifests: the same
signatures a file key makes); secp256k1 keys sign a digest with CKM_ECDSA (`r || s`) and
`anchoring.signers.ethereum_vrs` makes the Ethereum signature. `generate_key` makes a key
pair inside the token with CKA_EXTRACTABLE false and CKA_SENSITIVE true.

A PKCS#11 login belongs to the whole process, so this module keeps one session per token
and serialises every call on it with a lock (sessions are not safe across threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from anchoring.errors import AnchoringError
from anchoring.keyfiles import read_secret

ED25519_OID = "1.3.101.112"
SECP256K1_OID = "1.3.132.0.10"
KEY_KINDS = ("ed25519", "secp256k1")
MAX_URI_LENGTH = 4096
T = TypeVar("T")


class Pkcs11Error(AnchoringError):
    """A token, key or PIN is missing or wrong, or the token refused an operation."""


# --- the URI (RFC 7512) --------------------------------------------------------------------


@dataclass(frozen=True)
class TokenUri:
    token: str
    object: str
    module_path: str
    key_id: bytes | None = None
    pin: str | None = field(default=None, repr=False)
    pin_source: str | None = None

    @classmethod
    def parse(cls, uri: str) -> TokenUri:
        if len(uri) > MAX_URI_LENGTH or not uri.startswith("pkcs11:"):
            raise Pkcs11Error("a token URI starts with 'pkcs11:' (RFC 7512), e.g. "
                              "pkcs11:token=cunzheng;object=log-key?module-path=/usr/lib/"
                              "softhsm/libsofthsm2.so")
        path, _, query = uri[len("pkcs11:"):].partition("?")
        attrs = _attributes(path, ";")
        params = _attributes(query, "&")
        shown = redact(uri)
        for name in ("token", "object"):
            if name not in attrs:
                raise Pkcs11Error(f"token URI {shown} names no {name}= (which token, which key)")
        module = params.get("module-path")
        if not module:
            raise Pkcs11Error(f"token URI {shown} names no module-path= (the PKCS#11 library)")
        return cls(
            token=attrs["token"].decode("utf-8", "replace"),
            object=attrs["object"].decode("utf-8", "replace"),
            module_path=module.decode("utf-8", "replace"),
            key_id=attrs.get("id"),
            pin=params["pin-value"].decode("utf-8") if "pin-value" in params else None,
            pin_source=(params["pin-source"].decode("utf-8", "replace")
                        if "pin-source" in params else None),
        )

    @property
    def redacted(self) -> str:
        """The URI without its PIN: what messages and logs may show."""
        return f"pkcs11:token={self.token};object={self.object}?module-path={self.module_path}"

    def resolve_pin(self, pin_file: Path | None = None, pin: str | None = None) -> str:
        """The PIN: the URI's own, its `pin-source` file, the settings' file, the settings'
        value, in that order."""
        if self.pin is not None:
            return self.pin
        source = self.pin_source
        if source is not None:
            path = Path(source.removeprefix("file:"))
            return _read_pin(path)
        if pin_file is not None:
            return _read_pin(pin_file)
        if pin is not None:
            return pin
        raise Pkcs11Error(f"no PIN for {self.redacted}: set CUNZHENG_PKCS11_PIN_FILE (a 0600 "
                          f"file), CUNZHENG_PKCS11_PIN, or pin-source=file:... in the URI")


def redact(uri: str) -> str:
    """`uri` with any pin-value replaced, for messages."""
    path, sep, query = uri.partition("?")
    parts = ["pin-value=***" if p.lower().startswith("pin-value=") else p
             for p in query.split("&")] if sep else []
    return path + (sep + "&".join(parts) if sep else "")


def _attributes(text: str, sep: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for part in filter(None, text.split(sep)):
        name, eq, value = part.partition("=")
        if not eq:
            raise Pkcs11Error(f"token URI attribute {name[:40]!r} has no value")
        out[name.strip().lower()] = unquote_to_bytes(value)
    return out


def _read_pin(path: Path) -> str:
    try:
        return read_secret(path, "PKCS#11 PIN file").decode("utf-8").strip()
    except OSError as exc:
        raise Pkcs11Error(f"cannot read PIN file {path}: {exc.strerror}") from None


# --- one session per token ----------------------------------------------------------------


class _TokenSession:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.lock = threading.Lock()


_sessions: dict[tuple[str, str], _TokenSession] = {}
_sessions_lock = threading.Lock()


def _open(uri: TokenUri, pin: str) -> _TokenSession:
    import pkcs11
    from pkcs11 import exceptions as px

    key = (uri.module_path, uri.token)
    with _sessions_lock:
        if key in _sessions:
            return _sessions[key]
        if not Path(uri.module_path).exists():
            raise Pkcs11Error(f"PKCS#11 module {uri.module_path} does not exist "
                              f"(for {uri.redacted})")
        try:
            lib = pkcs11.lib(uri.module_path)
            token = lib.get_token(token_label=uri.token)
            try:
                session = token.open(user_pin=pin, rw=True)
            except px.UserAlreadyLoggedIn:  # a login is the process's: one made elsewhere
                session = token.open(rw=True)
        except px.NoSuchToken:
            raise Pkcs11Error(f"no token labelled {uri.token!r} in {uri.module_path}") from None
        except (px.PinIncorrect, px.PinInvalid, px.PinLenRange):
            raise Pkcs11Error(f"the token {uri.token!r} refused the PIN") from None
        except px.PinLocked:
            raise Pkcs11Error(f"the token {uri.token!r} has locked its PIN") from None
        except px.PKCS11Error as exc:
            raise Pkcs11Error(f"cannot open token {uri.token!r}: {type(exc).__name__}") from None
        _sessions[key] = opened = _TokenSession(session)
        return opened


@contextmanager
def token_session(uri: TokenUri, pin: str) -> Iterator[Any]:
    """The token's one session, locked for the caller."""
    opened = _open(uri, pin)
    with opened.lock:
        yield opened.session


def _forget(uri: TokenUri) -> None:
    with _sessions_lock:
        _sessions.pop((uri.module_path, uri.token), None)


def _call(uri: TokenUri, pin: str, what: str, fn: Callable[[Any], T]) -> T:
    from pkcs11 import exceptions as px

    lost = (px.SessionHandleInvalid, px.SessionClosed, px.UserNotLoggedIn, px.DeviceRemoved,
            px.TokenNotPresent)
    try:
        try:
            with token_session(uri, pin) as session:
                return fn(session)
        except lost:  # the token was reset or replugged: log in again, once
            _forget(uri)
            with token_session(uri, pin) as session:
                return fn(session)
    except px.NoSuchKey:
        raise Pkcs11Error(f"no key {uri.object!r} in token {uri.token!r} ({what})") from None
    except px.MultipleObjectsReturned:
        raise Pkcs11Error(f"more than one key {uri.object!r} in token {uri.token!r}; "
                          f"name it by id= too ({what})") from None
    except px.PKCS11Error as exc:
        raise Pkcs11Error(f"token {uri.token!r} refused to {what} with key {uri.object!r}: "
                          f"{type(exc).__name__}") from None


def _find(session: Any, uri: TokenUri, object_class: Any) -> Any:
    from pkcs11 import Attribute

    template: dict[Any, Any] = {Attribute.CLASS: object_class, Attribute.LABEL: uri.object}
    if uri.key_id is not None:
        template[Attribute.ID] = uri.key_id
    found = list(session.get_objects(template))
    if not found:
        from pkcs11.exceptions import NoSuchKey
        raise NoSuchKey
    if len(found) > 1:
        from pkcs11.exceptions import MultipleObjectsReturned
        raise MultipleObjectsReturned
    return found[0]


def _curve(key: Any) -> str:
    """The dotted OID of an EC key's curve (Ed25519 also when named "edwards25519")."""
    from asn1crypto.core import PrintableString
    from asn1crypto.keys import ECDomainParameters
    from pkcs11 import Attribute

    raw = bytes(key[Attribute.EC_PARAMS])
    try:
        params = ECDomainParameters.load(raw)
        return str(params.chosen.dotted if params.name == "named" else params.name)
    except ValueError:
        name = PrintableString.load(raw).native  # RFC 8410 era tokens: a curve name
        return ED25519_OID if name == "edwards25519" else str(name)


def _point(public: Any) -> bytes:
    """The raw EC point of a public key object (CKA_EC_POINT is a DER OCTET STRING)."""
    from asn1crypto.core import OctetString
    from pkcs11 import Attribute

    raw = bytes(public[Attribute.EC_POINT])
    try:
        return bytes(OctetString.load(raw).native)
    except ValueError:
        return raw  # some modules give the bare point


# --- the signers ---------------------------------------------------------------------------


class _TokenKey:
    curve = ""
    kind = ""

    def __init__(self, uri: TokenUri, pin: str) -> None:
        self.uri = uri
        self._pin = pin
        self._handle: tuple[Any, Any] | None = None
        self._public = _call(uri, pin, "read the public key", self._read_public)

    def _read_public(self, session: Any) -> bytes:
        from pkcs11 import ObjectClass

        private = _find(session, self.uri, ObjectClass.PRIVATE_KEY)
        if _curve(private) != self.curve:
            raise Pkcs11Error(f"key {self.uri.object!r} in token {self.uri.token!r} is not "
                              f"an {self.kind} key")
        return _point(_find(session, self.uri, ObjectClass.PUBLIC_KEY))

    def _sign(self, data: bytes, mechanism: Any) -> bytes:
        return _call(self.uri, self._pin, "sign",
                     lambda session: bytes(self._private(session).sign(data, mechanism=mechanism)))

    def _private(self, session: Any) -> Any:
        """The private key object, found once per session (a search costs more than a
        signature)."""
        from pkcs11 import ObjectClass

        if self._handle is None or self._handle[0] is not session:
            self._handle = (session, _find(session, self.uri, ObjectClass.PRIVATE_KEY))
        return self._handle[1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri.redacted})"


class TokenEd25519Signer(_TokenKey):
    """An Ed25519 key in a token (`anchoring.signers.KeySigner`)."""

    curve = ED25519_OID
    kind = "Ed25519"

    def __init__(self, uri: TokenUri, pin: str) -> None:
        super().__init__(uri, pin)
        if len(self._public) != 32:
            raise Pkcs11Error(f"key {uri.object!r}: Ed25519 public key is {len(self._public)} "
                              "bytes, expected 32")

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        from pkcs11 import Mechanism

        return self._sign(message, Mechanism.EDDSA)


class TokenSecp256k1Signer(_TokenKey):
    """A secp256k1 key in a token (`anchoring.signers.DigestSigner`)."""

    curve = SECP256K1_OID
    kind = "secp256k1"

    def __init__(self, uri: TokenUri, pin: str) -> None:
        super().__init__(uri, pin)
        if len(self._public) != 65 or self._public[0] != 4:
            raise Pkcs11Error(f"key {uri.object!r}: expected an uncompressed secp256k1 point")

    @property
    def public_key(self) -> bytes:
        return self._public[1:]

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        from pkcs11 import Mechanism

        if len(digest) != 32:
            raise Pkcs11Error(f"a digest to sign is 32 bytes, got {len(digest)}")
        sig = self._sign(digest, Mechanism.ECDSA)
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def generate_key(uri: TokenUri, pin: str, kind: str) -> bytes:
    """Generate a key pair labelled `uri.object` inside the token, its private half
    non-extractable and sensitive; return the raw public key. Refuses to overwrite."""
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    if kind not in KEY_KINDS:
        raise Pkcs11Error(f"key kind must be one of {', '.join(KEY_KINDS)}, got {kind!r}")

    def make(session: Any) -> bytes:
        from pkcs11.exceptions import NoSuchKey

        try:
            _find(session, uri, ObjectClass.PRIVATE_KEY)
        except NoSuchKey:
            pass  # free to create
        else:
            raise Pkcs11Error(f"token {uri.token!r} already holds a key {uri.object!r}")
        private: dict[Attribute, bool | bytes] = {
            Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True,
            Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SIGN: True}
        public: dict[Attribute, bool | bytes] = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        if uri.key_id is not None:
            private[Attribute.ID] = public[Attribute.ID] = uri.key_id
        if kind == "ed25519":
            public[Attribute.EC_PARAMS] = encode_named_curve_parameters(ED25519_OID)
            pub, _ = session.generate_keypair(
                KeyType.EC_EDWARDS, 0, label=uri.object, store=True,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                public_template=public, private_template=private)
        else:
            public[Attribute.EC_PARAMS] = encode_named_curve_parameters(SECP256K1_OID)
            pub, _ = session.generate_keypair(
                KeyType.EC, 0, label=uri.object, store=True, mechanism=Mechanism.EC_KEY_PAIR_GEN,
                public_template=public, private_template=private)
        point = _point(pub)
        return point if kind == "ed25519" else point[1:]

    return _call(uri, pin, "generate a key", make)
