"""The `cunzheng` command line (entry point `service.cli:app`, or `python -m service.cli`).

Each sub-module holds one family of commands and adds them in its `register(app)`; this
module builds the root app and calls them. Sub-modules import what they share from
`service.cli.common` (console, `fail`, `load_settings`, option types) and never this module,
so the package has no import cycle. Errors a user can cause print one line and exit non-zero.
"""

from __future__ import annotations

import typer

from service.cli import chain, demo, dispute, keys, ledger, lending, producers

__all__ = ["PRIVATE_UMASK", "app", "main"]

app = typer.Typer(help="Cunzheng (存证): evidence ledger for digital small-business lending.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

PRIVATE_UMASK = 0o077
"""Every file a `cunzheng` command creates is 0600 and every directory 0700: the database,
its WAL, keys, packages and the devnet's chain hold personal data or secrets."""


@app.callback()
def _private_files() -> None:
    """Runs before every command (and is inherited by the devnet and worker processes)."""
    import os

    os.umask(PRIVATE_UMASK)


# The order of registration is the order of `cunzheng --help`.
for _commands in (ledger, keys, chain, demo, lending, dispute, producers):
    _commands.register(app)


def main() -> None:  # pragma: no cover
    app()
