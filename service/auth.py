"""API keys and roles (DESIGN.md, Roles). Keys are random, shown once, stored as SHA-256.

A key looks like `cz_<key id>_<secret>`; the key id finds the row, the hash of the whole
key must match it. Roles: admin (keys, tenants), lender (its own tenant's events), legal
(records with content, case files), auditor (log, proofs, anchors; no content), verifier
(the verification API only).

`authenticate` runs for every request, so the key's row is cached per process
(`anchoring.ttl_cache`, `READ_CACHE_TTL_SECONDS`); the whole key is still hashed and compared
each time. `revoke_key` drops the row in this process at once (a revoked key is refused by
the very next request); another process (a second worker, the server beside a CLI
`cunzheng keys revoke`) refuses it within `READ_CACHE_TTL_SECONDS`. Unknown key ids are not
cached, so a key created elsewhere works on its first request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, insert, select, update

from anchoring.errors import AnchoringError, NotFound, RecordError
from anchoring.ttl_cache import cache_for, invalidate
from cunzheng_verify.records import TENANT_ID
from service.errors import AuthError
from service.tables import api_keys


class Role(StrEnum):
    ADMIN = "admin"
    LENDER = "lender"
    LEGAL = "legal"
    AUDITOR = "auditor"
    VERIFIER = "verifier"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    role: Role
    tenant: str | None
    label: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, role: Role, tenant: str | None, label: str,
               now: str) -> tuple[str, Principal]:
    """Create a key; return it (shown once) and its principal. The CLI and the admin API
    both come here, so both check the same rules (`check_key_fields`)."""
    check_key_fields(role, tenant, label)
    key_id = secrets.token_hex(8)
    key = f"cz_{key_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        conn.execute(insert(api_keys).values(key_id=key_id, key_hash=_hash(key), role=role.value,
                                             tenant=tenant, label=label, created_at=now))
    return key, Principal(key_id, role, tenant, label)


MAX_LABEL = 200


def check_key_fields(role: Role, tenant: str | None, label: str) -> None:
    """A tenant is what a lender key is confined to, so only a lender key has one (and
    must); a label is shown in lists and pages, so it is short printable text."""
    if role is Role.LENDER and not tenant:
        raise RecordError("a lender key needs a tenant (--tenant)", field="tenant")
    if role is not Role.LENDER and tenant is not None:
        raise RecordError(f"only lender keys have a tenant; a {role.value} key is not confined "
                          f"to one, so leave the tenant out (got {tenant!r})", field="tenant")
    if tenant is not None and not TENANT_ID.fullmatch(tenant):
        raise RecordError(f"tenant {tenant!r} must be 1-64 characters of a-z 0-9 . _ - starting "
                          "with a letter or digit", field="tenant")
    if len(label) > MAX_LABEL:
        raise RecordError(f"label is {len(label)} characters, limit {MAX_LABEL}", field="label")
    bad = next((c for c in label if unicodedata.category(c)[0] == "C"), None)
    if bad is not None:
        raise RecordError(f"label holds a control or unassigned character (U+{ord(bad):04X})",
                          field="label")


KEY_CACHE = "api-key"
"""The namespace of API key rows in `anchoring.ttl_cache`."""


@dataclass(frozen=True, slots=True)
class _KeyRow:
    key_id: str
    key_hash: str
    role: str
    tenant: str | None
    label: str
    revoked_at: str | None


def _read_key(engine: Engine, key_id: str) -> _KeyRow | None:
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    return None if row is None else _KeyRow(row.key_id, row.key_hash, row.role, row.tenant,
                                            row.label, row.revoked_at)


def authenticate(engine: Engine, key: str | None,
                 clock: Callable[[], float] = time.monotonic) -> Principal:
    """The key's principal; `AuthError` for no, a malformed, an unknown or a revoked key.
    `clock` (monotonic seconds) only dates the cache entry; tests inject one."""
    if not key:
        raise AuthError("no API key: send it as 'Authorization: Bearer <key>'")
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cz":
        raise AuthError("malformed API key")
    key_id = parts[1]
    row = cache_for(engine).get(KEY_CACHE, key_id, lambda: _read_key(engine, key_id), clock)
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        raise AuthError("unknown API key")
    if row.revoked_at is not None:
        raise AuthError(f"API key {row.key_id} was revoked at {row.revoked_at}")
    return Principal(row.key_id, Role(row.role), row.tenant, row.label)


def list_keys(engine: Engine) -> list[dict[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys.c.key_id, api_keys.c.role, api_keys.c.tenant,
                                   api_keys.c.label, api_keys.c.created_at, api_keys.c.revoked_at)
                            .order_by(api_keys.c.created_at)).all()
    return [dict(r._mapping) for r in rows]


def revoke_key(engine: Engine, key_id: str, now: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(api_keys).where(api_keys.c.key_id == key_id)
                            .where(api_keys.c.revoked_at.is_(None)).values(revoked_at=now))
    invalidate(engine, KEY_CACHE, key_id)
    if done.rowcount == 1:
        return
    with engine.connect() as conn:
        row = conn.execute(select(api_keys.c.revoked_at).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id!r}")
    raise AnchoringError(f"API key {key_id} was already revoked at {row[0]}")
