"""`python -m cunzheng_verify` (and the zipapp `cunzheng-verify.pyz`): the CLI."""

import sys

from cunzheng_verify.cli import main

sys.exit(main())
