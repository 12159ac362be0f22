"""Documents the log's records cite (`documents`, `document_tenants`): stored once by SHA-256,
owned per tenant, sealed at rest under their own data key when the log has a `Cipher`.
Which documents a new record may cite is checked when it is sequenced (`anchoring.store`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, insert, select

from anchoring.crypto import Cipher, document_label
from anchoring.errors import LogError, NotFound
from anchoring.sql import as_bytes
from anchoring.tables import document_tenants, documents


class DocumentStore:
    """The document part of `anchoring.store.LogStore`."""

    engine: Engine
    cipher: Cipher | None

    def put_document(self, tenant: str, sha256: str, media_type: str, content: bytes,
                     created_at: str) -> bool:
        """Store a document (content-addressed) for `tenant`; False if this tenant had
        already uploaded it. Whether another tenant holds the same bytes changes nothing in
        the answer (no existence oracle across tenants)."""
        # a read then a write: take the write lock up front, or SQLite refuses the upgrade
        # with "database is locked" when another writer got in between
        with self.engine.connect() as c, c.execution_options(cunzheng_write=True).begin() as tx:
            conn = tx.connection
            have = conn.execute(select(documents.c.sha256)
                                .where(documents.c.sha256 == sha256)).first()
            if have is None:
                wrapped = mid = None
                stored = content
                if self.cipher is not None:
                    dek, wrapped, mid = self.cipher.new_data_key(document_label(sha256))
                    stored = self.cipher.seal(dek, content, sha256.encode())
                conn.execute(insert(documents).values(sha256=sha256, media_type=media_type,
                                                      size=len(content), content=stored,
                                                      created_at=created_at,
                                                      wrapped_key=wrapped, master_key_id=mid))
            owned = conn.execute(select(document_tenants.c.sha256).where(and_(
                document_tenants.c.sha256 == sha256,
                document_tenants.c.tenant == tenant))).first()
            if owned is None:
                conn.execute(insert(document_tenants).values(sha256=sha256, tenant=tenant))
            return owned is None

    def document(self, sha256: str, tenant: str | None = None) -> tuple[str, bytes | None]:
        """(media type, content) of a document; with `tenant`, only if that tenant owns it."""
        query = select(documents.c.media_type, documents.c.content, documents.c.wrapped_key,
                       documents.c.master_key_id).where(documents.c.sha256 == sha256)
        if tenant is not None:
            query = query.where(documents.c.sha256.in_(
                select(document_tenants.c.sha256).where(document_tenants.c.tenant == tenant)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no document with SHA-256 {sha256}")
        if row[1] is None:
            return row[0], None
        content = as_bytes(row[1])
        if row[2] is not None:
            if self.cipher is None:
                raise LogError("documents are encrypted at rest but no master key is configured")
            dek = self.cipher.unwrap(as_bytes(row[2]), row[3], document_label(sha256))
            content = self.cipher.open(dek, content, sha256.encode(), f"document {sha256}")
        return row[0], content

    def has_documents(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents.c.sha256)
                                .where(documents.c.sha256.in_(list(hashes))))
            return {r[0] for r in rows}
