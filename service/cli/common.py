"""What every `cunzheng` sub-command shares: the stderr console, the one way a user's error
ends a command (one line, exit 2), settings from the command's options, and the option
types every command that opens the database takes.

Sub-modules of `service.cli` import these names and nothing else from the package; the
package's `__init__` imports the sub-modules and calls their `register(app)`, never the
other way round.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from cunzheng_verify.errors import CunzhengError
from service.settings import Settings

__all__ = ["EXIT_USAGE", "DataDir", "DbUrl", "console", "fail", "load_settings", "now_text",
           "out"]

console = Console(stderr=True)
"""Progress, confirmations and errors: stderr, so stdout stays the command's result."""
out = Console()
"""Rich output that is the command's result (stdout)."""

EXIT_USAGE = 2
"""A user's error (bad input, missing file, refused operation): one line and this code."""

DataDir = Annotated[str | None, typer.Option(help="data directory (CUNZHENG_DATA_DIR)")]
DbUrl = Annotated[str | None, typer.Option(help="database URL (CUNZHENG_DATABASE_URL)")]


def fail(exc: CunzhengError) -> NoReturn:
    """Print the error for people (one line) and end the command with exit code 2."""
    # escaped: a message may hold brackets (`cunzheng[devnet]`, `items[0]`) that are not markup
    console.print(f"[red]error:[/red] {escape(exc.diagnostics())}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def load_settings(data_dir: str | None, database_url: str | None) -> Settings:
    """The environment's settings, with the command's `--data-dir` and `--database-url`."""
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if database_url:
        overrides["database_url"] = database_url
    return Settings(**overrides)


def now_text() -> str:
    """Now, as the log writes times (UTC, RFC 3339)."""
    from cunzheng_verify.records import format_utc
    from service.context import utc_now

    return format_utc(utc_now())
