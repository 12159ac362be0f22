"""Producer keys and each tenant's producer-signature policy (DESIGN.md, Event record,
`producer_signature`).

A producer signs the RFC 8785 bytes of the event it posts, without `producer_signature`,
with an Ed25519 key registered for its tenant under the key id hex(SHA-256(key))[:16].

Policy: a tenant requires signatures once a producer key was ever registered for it, unless
an admin set the policy explicitly (`producer_policies`). So a stolen API key alone cannot
post in the tenant's name. Events the service derives itself (monitoring) are not the
tenant's producer's and are exempt (`EvidenceLog.submit(by_service=True)`).

Rotation: register the new key, then retire the old one. A retired key signs no new event,
but its row and public key stay, so every event it signed keeps verifying
(`verify_record_signature` with the key `keys()` lists).

Reads per request are cached (`anchoring.ttl_cache`): `policy()` and `key()` keep what they
read for `READ_CACHE_TTL_SECONDS`; `register`, `retire` and `set_policy` drop the tenant's
entries in this process at once, so another process sees the change within that time.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring.errors import (
    Conflict,
    NotFound,
    ProducerSignatureError,
    RecordError,
    SignatureError,
)
from anchoring.tables import producer_keys, producer_policies
from anchoring.ttl_cache import cache_for, invalidate
from cunzheng_verify.notes import verify_signature
from cunzheng_verify.records import SERVER_FIELDS, TENANT_ID, canonical
from cunzheng_verify.wire import producer_key_id, unsigned_event

ED25519_PUBLIC_KEY_BYTES = 32

# reason codes of ProducerSignatureError (the problem's `reason_code`)
SIGNATURE_REQUIRED = "producer-signature-required"
UNKNOWN_KEY = "producer-key-unknown"
RETIRED_KEY = "producer-key-retired"
BAD_SIGNATURE = "producer-signature-invalid"

# fields a record may hold that the producer never posted (record v2 adds the loan chain)
_NOT_SIGNED = (*SERVER_FIELDS, "loan_seq", "loan_prev", "producer_signature")


def producer_message(posted: Mapping[str, Any]) -> bytes:
    """What a producer signs: the JCS bytes of the posted object without its signature."""
    return canonical(unsigned_event(posted))


@dataclass(frozen=True, slots=True)
class ProducerKey:
    tenant: str
    key_id: str
    public_key: bytes
    created_at: str
    retired_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "key_id": self.key_id,
                "public_key": base64.b64encode(self.public_key).decode(),
                "created_at": self.created_at, "retired_at": self.retired_at,
                "status": "retired" if self.retired_at else "active"}


@dataclass(frozen=True, slots=True)
class ProducerPolicy:
    tenant: str
    require_signatures: bool
    explicit: bool  # set by an admin, or else derived from whether a key was registered
    active_keys: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "require_signatures": self.require_signatures,
                "source": "explicit" if self.explicit else "default",
                "active_keys": list(self.active_keys)}


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_ID.fullmatch(tenant):
        raise RecordError(f"tenant must be 1-64 characters of a-z0-9._- starting with a "
                          f"letter or digit, got {tenant!r}", field="tenant")
    return tenant


def parse_public_key(text: str) -> bytes:
    """The raw Ed25519 public key from its base64 text."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise RecordError("public_key is not base64", field="public_key") from None
    if len(raw) != ED25519_PUBLIC_KEY_BYTES:
        raise RecordError(f"public_key must be {ED25519_PUBLIC_KEY_BYTES} bytes, got {len(raw)}",
                          field="public_key")
    return raw


# --- the check made for every posted event (pure) ------------------------------------------


KeyLookup = Callable[[str], "ProducerKey | None"]


def check_event_signature(event: Mapping[str, Any], tenant: str, *, required: bool,
                          lookup: KeyLookup) -> str | None:
    """Raise `ProducerSignatureError` unless `event` satisfies the tenant's policy; return
    the signing key's id (None for an unsigned event where that is allowed). A signature is
    always checked when present, whatever the policy."""
    sig = event.get("producer_signature")
    if sig is None:
        if required:
            raise ProducerSignatureError(
                f"tenant {tenant!r} requires producer signatures: sign the event with an "
                f"active producer key (producer_signature {{key_id, sig}}); nothing was written",
                code=SIGNATURE_REQUIRED)
        return None
    key_id = sig["key_id"]
    key = lookup(key_id)
    if key is None:
        raise ProducerSignatureError(
            f"producer key {key_id!r} is not registered for tenant {tenant!r}", code=UNKNOWN_KEY)
    if key.retired_at is not None:
        raise ProducerSignatureError(
            f"producer key {key_id!r} of tenant {tenant!r} was retired at {key.retired_at} and "
            f"signs no new event; sign with an active key", code=RETIRED_KEY)
    try:
        raw = base64.b64decode(sig["sig"], validate=True)
    except (binascii.Error, ValueError):
        raise ProducerSignatureError("producer_signature.sig is not base64",
                                     code=BAD_SIGNATURE) from None
    try:
        verify_signature(key.public_key, raw, producer_message(event),
                         "the event (producer_signature)")
    except SignatureError as exc:  # re-raised with its reason code
        raise ProducerSignatureError(f"{exc} (key {key_id})", code=BAD_SIGNATURE) from None
    return str(key_id)


def verify_record_signature(record: Mapping[str, Any], public_key: bytes) -> None:
    """Raise `ProducerSignatureError` unless the stored `record` carries a producer
    signature by `public_key` (retired or not) over the event as it was posted.

    The posted event is the record without the server's fields. A producer that posted
    `occurred_at` in another form than the record's UTC one signed bytes the record no longer
    holds; the lending client always posts the UTC form."""
    sig = record.get("producer_signature")
    if not isinstance(sig, Mapping):
        raise ProducerSignatureError("the record carries no producer signature",
                                     code=SIGNATURE_REQUIRED)
    if sig.get("key_id") != producer_key_id(public_key):
        raise ProducerSignatureError(
            f"the record names producer key {sig.get('key_id')!r}, not "
            f"{producer_key_id(public_key)!r}", code=UNKNOWN_KEY)
    try:
        raw = base64.b64decode(sig["sig"], validate=True)
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ProducerSignatureError("producer_signature.sig is not base64",
                                     code=BAD_SIGNATURE) from None
    posted = {k: v for k, v in record.items() if k not in _NOT_SIGNED}
    candidates = [posted]
    if posted.get("documents") == []:  # the ledger adds an empty list the producer may omit
        candidates.append({k: v for k, v in posted.items() if k != "documents"})
    last: Exception | None = None
    for candidate in candidates:
        try:
            verify_signature(public_key, raw, canonical(candidate),
                             "the record's producer_signature")
            return
        except SignatureError as exc:  # try the next reading
            last = exc
    raise ProducerSignatureError(str(last), code=BAD_SIGNATURE)


# --- the registry (SQL) ---------------------------------------------------------------------


def _key(row: Any) -> ProducerKey:
    return ProducerKey(row.tenant, row.key_id, bytes(row.public_key), row.created_at,
                       row.retired_at)


class ProducerRegistry:
    """Producer keys and policies in the database; what `EvidenceLog` asks per batch.

    `clock` (monotonic seconds) only dates the cache entries; tests inject one."""

    POLICY = "producer-policy"
    KEY = "producer-key"

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self._clock = clock

    def _changed(self, tenant: str) -> None:
        invalidate(self.engine, self.POLICY, tenant)
        invalidate(self.engine, self.KEY)

    def register(self, tenant: str, public_key: bytes, at: str) -> ProducerKey:
        check_tenant(tenant)
        if len(public_key) != ED25519_PUBLIC_KEY_BYTES:
            raise RecordError(f"public_key must be {ED25519_PUBLIC_KEY_BYTES} bytes, got "
                              f"{len(public_key)}", field="public_key")
        kid = producer_key_id(public_key)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(producer_keys).values(
                    tenant=tenant, key_id=kid, public_key=public_key, created_at=at))
        except SAIntegrityError:
            raise Conflict(f"producer key {kid} is already registered for {tenant}",
                           existing_hash=kid, new_hash=kid) from None
        finally:
            self._changed(tenant)
        return ProducerKey(tenant, kid, public_key, at)

    def retire(self, tenant: str, key_id: str, at: str) -> ProducerKey:
        """Retire a key (idempotent: a retired key keeps its first retirement time)."""
        with self.engine.begin() as conn:
            conn.execute(update(producer_keys).where(
                producer_keys.c.tenant == tenant, producer_keys.c.key_id == key_id,
                producer_keys.c.retired_at.is_(None)).values(retired_at=at))
        self._changed(tenant)
        key = self.key(tenant, key_id)
        if key is None:
            raise NotFound(f"no producer key {key_id!r} for tenant {tenant!r}")
        return key

    def key(self, tenant: str, key_id: str) -> ProducerKey | None:
        """The key (cached for `READ_CACHE_TTL_SECONDS` once found), or None."""
        return cache_for(self.engine).get(self.KEY, (tenant, key_id),
                                          lambda: self._read_key(tenant, key_id), self._clock)

    def _read_key(self, tenant: str, key_id: str) -> ProducerKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(producer_keys).where(
                producer_keys.c.tenant == tenant, producer_keys.c.key_id == key_id)).first()
        return None if row is None else _key(row)

    def keys(self, tenant: str | None = None) -> list[ProducerKey]:
        query = select(producer_keys).order_by(producer_keys.c.tenant,
                                               producer_keys.c.created_at, producer_keys.c.key_id)
        if tenant is not None:
            query = query.where(producer_keys.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(query)]

    def set_policy(self, tenant: str, require_signatures: bool, at: str) -> ProducerPolicy:
        check_tenant(tenant)
        with self.engine.begin() as conn:
            done = conn.execute(update(producer_policies).where(
                producer_policies.c.tenant == tenant).values(
                require_signatures=require_signatures, updated_at=at)).rowcount
            if not done:
                conn.execute(insert(producer_policies).values(
                    tenant=tenant, require_signatures=require_signatures, updated_at=at))
        self._changed(tenant)
        return self.policy(tenant)

    def policy(self, tenant: str) -> ProducerPolicy:
        """The tenant's policy (cached for `READ_CACHE_TTL_SECONDS`)."""
        policy = cache_for(self.engine).get(self.POLICY, tenant,
                                            lambda: self._read_policy(tenant), self._clock)
        return policy if policy is not None else self._read_policy(tenant)

    def _read_policy(self, tenant: str) -> ProducerPolicy:
        with self.engine.connect() as conn:
            row = conn.execute(select(producer_policies.c.require_signatures).where(
                producer_policies.c.tenant == tenant)).first()
            keys = conn.execute(select(producer_keys.c.key_id, producer_keys.c.retired_at).where(
                producer_keys.c.tenant == tenant).order_by(producer_keys.c.key_id)).all()
        active = tuple(k for k, retired in keys if retired is None)
        if row is not None:
            return ProducerPolicy(tenant, bool(row[0]), True, active)
        return ProducerPolicy(tenant, bool(keys), False, active)
