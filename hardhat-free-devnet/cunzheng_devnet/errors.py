"""The devnet's error family.

Everything the devnet raises on purpose derives from `DevnetError`, the devnet's own root
error: the devnet stands alone and imports nothing from the project. Its errors carry a
`diagnostics()` text like the project's, so the `cunzheng` CLI can print any of them as one
line and exit non-zero. JSON-RPC error
objects (codes, messages, revert data) are built in `rpc.py` only; these classes carry
facts, not wire formats.
"""

from __future__ import annotations


class DevnetError(Exception):
    """Root of the devnet's errors."""

    def diagnostics(self) -> str:
        """A text for people: what was expected, what was found."""
        return str(self)


class DevnetConfigError(DevnetError):
    """A start-up setting is unacceptable (for example a non-loopback host without consent)."""


class ChainStoreError(DevnetError):
    """The data directory cannot be used: wrong format, other chain, or damaged."""


class ChainStoreMismatch(ChainStoreError):
    """The stored chain disagrees with itself or with the requested settings."""

    def __init__(self, what: str, expected: object, found: object) -> None:
        super().__init__(f"{what}: expected {expected}, found {found}")
        self.what = what
        self.expected = expected
        self.found = found


class ExecutionReverted(DevnetError):
    """An `eth_call` or `eth_estimateGas` ran into REVERT (or another EVM failure).

    `data` is the raw revert payload (Error(string), Panic(uint256) or a custom error), kept
    intact so a client can decode custom errors from the JSON-RPC `error.data`.
    """

    def __init__(self, reason: str, data: bytes) -> None:
        super().__init__(f"execution reverted: {reason}" if reason else "execution reverted")
        self.reason = reason
        self.data = data


class ExecutionHalted(DevnetError):
    """An `eth_call` or `eth_estimateGas` stopped on an EVM error other than REVERT."""
