"""cunzheng_devnet: the project's own local Ethereum JSON-RPC node, whose chain survives restarts.

Built on eth-tester and py-evm; blocks, receipts and state live in a SQLite file under the
data directory and are committed (fsync) before any answer that mentions them. The public
API is `run_devnet` (serve in this process) and `start_devnet_process` (serve in a child
process, for tests and the `cunzheng demo`). The funded dev accounts' keys are PUBLIC.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .chain import DEFAULT_CHAIN_ID
from .errors import (
    ChainStoreError,
    ChainStoreMismatch,
    DevnetConfigError,
    DevnetError,
)
from .process import DevnetProcess, start_devnet_process
from .server import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, run_devnet

__all__ = [
    "DEFAULT_CHAIN_ID",
    "DEFAULT_DATA_DIR",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ChainStoreError",
    "ChainStoreMismatch",
    "DevnetConfigError",
    "DevnetError",
    "DevnetProcess",
    "run_devnet",
    "start_devnet_process",
]
