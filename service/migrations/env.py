"""Alembic environment: runs on the connection `service.db.migrate` hands over, or on the
URL in the config when run from the command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from service.tables import metadata  # the log's tables and the service's

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
