"""`python -m cunzheng_devnet`: run the devnet from the command line."""

from __future__ import annotations

import argparse
import sys

from .chain import DEFAULT_CHAIN_ID
from .errors import DevnetError
from .server import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, run_devnet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cunzheng_devnet",
        description="Local Ethereum JSON-RPC devnet whose chain survives restarts. "
        "Its funded dev accounts' keys are PUBLIC.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="where the chain is kept")
    parser.add_argument("--chain-id", type=int, default=DEFAULT_CHAIN_ID)
    parser.add_argument(
        "--block-time",
        type=float,
        default=0.0,
        help="also mine an empty block every SECONDS, so confirmations accrue on a quiet "
        "chain (0: only transactions make blocks)",
    )
    parser.add_argument(
        "--i-know-keys-are-public",
        dest="allow_non_loopback",
        action="store_true",
        help="allow a non-loopback --host although anyone reaching it can spend dev funds",
    )
    args = parser.parse_args(argv)
    try:
        run_devnet(
            args.host,
            args.port,
            args.data_dir,
            args.chain_id,
            allow_non_loopback=args.allow_non_loopback,
            block_time=args.block_time,
        )
    except DevnetError as exc:
        print(f"cunzheng-devnet: {exc.diagnostics()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
