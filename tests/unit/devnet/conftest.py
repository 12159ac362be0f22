"""Makes `cunzheng_devnet` importable until pyproject lists hardhat-free-devnet."""

import sys
from pathlib import Path

_DEVNET_ROOT = str(Path(__file__).resolve().parents[3] / "hardhat-free-devnet")
if _DEVNET_ROOT not in sys.path:
    sys.path.insert(0, _DEVNET_ROOT)
