"""`python -m service.cli`: the `cunzheng` command line."""

from service.cli import app

app()
