"""The devnet's funded development accounts, and the warning printed with them.

The keys come from the well-known Hardhat/anvil test mnemonic on the path
m/44'/60'/0'/0/i, so the devnet, `anvil` and Hardhat all start with the same ten accounts
(0xf39F...2266 first). These keys are PUBLIC: anyone can spend from them on any chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_keys.datatypes import PrivateKey
from eth_tester.backends.pyevm.main import get_account_keys_from_mnemonic

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_HD_PATH = "m/44'/60'/0'/0"
DEV_ACCOUNT_COUNT = 10
DEV_ACCOUNT_BALANCE_WEI = 10_000 * 10**18


@dataclass(frozen=True)
class DevAccount:
    """One funded development account."""

    address: str
    private_key: PrivateKey


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> tuple[DevAccount, ...]:
    """The first `count` accounts of the public development mnemonic."""
    keys = get_account_keys_from_mnemonic(DEV_MNEMONIC, quantity=count, hd_path=DEV_HD_PATH)
    return tuple(DevAccount(key.public_key.to_checksum_address(), key) for key in keys)


def public_keys_banner(accounts: tuple[DevAccount, ...]) -> str:
    """The start-up text listing the accounts, with the warning that their keys are public."""
    rule = "!" * 78
    lines = [
        rule,
        "!! WARNING: these development accounts and private keys are PUBLIC.",
        "!! They come from the well-known mnemonic below. Never send real value to them,",
        "!! and never use them on a chain that matters. Development only.",
        rule,
        f"Mnemonic: {DEV_MNEMONIC}",
        f"HD path:  {DEV_HD_PATH}/<i>   balance: {DEV_ACCOUNT_BALANCE_WEI // 10**18} ETH each",
    ]
    for i, account in enumerate(accounts):
        lines.append(f"({i}) {account.address}  {account.private_key.to_hex()}")
    lines.append(rule)
    return "\n".join(lines)
