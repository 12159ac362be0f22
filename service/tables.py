"""The service's own tables (SQLAlchemy 2 Core): API keys, the verification access log and
the pages' login sessions. They sit on the log's `MetaData` (`anchoring.tables.metadata`,
re-exported here), so one set of Alembic migrations (`service/migrations`) creates both and
the test that compares migrations with the model sees every table through this module."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from anchoring.tables import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("tenant", String(64), nullable=True),
    Column("label", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
)

# --- verification API access log (issue 6) --------------------------------------------------

# One row per verification call: who asked (key id and role), when, what kind of thing and
# its hash or evidence id (never uploaded content), and the answer's status.
verification_log = Table(
    "verification_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", String(300), nullable=True),
    Column("status", String(32), nullable=False),
    Index("ix_verification_log_key_id", "key_id"),
)

# --- page sessions (issue 10) ---------------------------------------------------------------

# One row per login on the `/ui` pages. The cookie holds a random session id; only its
# SHA-256 is stored here, so a copy of the database cannot be replayed as a cookie. The row
# names the API key that logged in (never the key itself); a session ends at `expires_at`
# (unix seconds), on logout (row deleted) and when that key is revoked.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_ui_sessions_key_id", "key_id"),
)

__all__ = ["api_keys", "metadata", "ui_sessions", "verification_log"]
