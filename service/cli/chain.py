"""Chain commands: `cunzheng devnet`, `cunzheng deploy`, `cunzheng witness run`.

`devnet` runs the standalone development chain (its errors are its own and become
`DevnetFailed` here); `deploy` deploys the anchor registry or checks a deployment against
the committed artifact; `witness run` is a neutral witness's loop: verify each anchored
checkpoint against the log's signature and the last root it cosigned, then cosign.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cunzheng_verify.errors import CunzhengError
from service.cli.common import DataDir, console, fail, load_settings
from service.errors import DevnetFailed

if TYPE_CHECKING:
    import httpx
    from web3 import Web3

    from anchoring.witness import WitnessState

__all__ = ["deploy", "devnet", "register", "witness_run"]


def devnet(data_dir: DataDir = None,
           port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8545,
           chain_id: Annotated[int, typer.Option(help="chain id")] = 1337,
           block_time: Annotated[float | None, typer.Option(
               min=0, help="mine an empty block every SECONDS so confirmations accrue on a "
               "quiet chain; 0: only transactions make blocks (default: "
               "CUNZHENG_DEVNET_BLOCK_TIME, as the embedded devnet)")] = None) -> None:
    """Run the local EVM chain (eth-tester / py-evm), durable under <data dir>/devnet.
    Its funded accounts' keys are PUBLIC: development only."""
    from service.chain_setup import import_devnet

    try:
        devnet = import_devnet()  # the `devnet` extra
    except DevnetFailed as exc:
        fail(exc)
    settings = load_settings(data_dir, None)
    every = settings.devnet_block_time if block_time is None else block_time
    try:
        devnet.run_devnet("127.0.0.1", port, settings.data_dir / "devnet", chain_id,
                          block_time=every)
    except devnet.DevnetError as exc:  # the devnet stands alone: its errors are not ours
        fail(DevnetFailed(exc.diagnostics()))


def deploy(
    data_dir: DataDir = None,
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL (CUNZHENG_CHAIN_RPC)")] = None,
    witness: Annotated[list[str] | None, typer.Option(help="witness address (repeat)")] = None,
    force: Annotated[bool, typer.Option(help="deploy again even if a record exists")] = False,
) -> None:
    """Deploy the anchor registry, grant roles and write the deployment record; or check
    an existing deployment's code against the committed artifact."""
    from anchoring.registry import (
        check_deployed_code,
        deploy_registry,
        load_deployment,
        save_deployment,
    )
    from service.chain_setup import DEV_ROLES, anchorer_address, web3_for

    settings = load_settings(data_dir, None)
    if rpc:
        settings = settings.model_copy(update={"chain_rpc": rpc})
    path = settings.resolved_deployment_file
    try:
        w3 = web3_for(settings)
        if path.exists() and not force:
            record = load_deployment(path)
            check_deployed_code(w3, record)
            console.print(f"deployed code at {record.address} equals the committed artifact")
        else:
            accounts = w3.eth.accounts
            witnesses = witness or [accounts[i] for i in DEV_ROLES["witnesses"]]
            deployer = str(w3.eth.default_account) if settings.anchor_key_file else accounts[0]
            record = deploy_registry(w3, deployer, anchorers=[anchorer_address(w3, settings)],
                                     witnesses=witnesses)
            save_deployment(record, path)
            console.print(f"deployed at {record.address}; record written to {path}")
    except CunzhengError as exc:
        fail(exc)
    except (OSError, ConnectionError) as exc:
        fail(CunzhengError(f"cannot reach the chain: {exc}"))
    print(record.to_json())


def _witness_sender(w3: Web3, key_file: Path | None, dev_account: int | None) -> str:
    """The witness's account: its own key (signing locally), or a dev node's unlocked one."""
    if key_file is not None:
        from eth_account import Account
        from web3.middleware import SignAndSendRawMiddlewareBuilder

        account = Account.from_key(key_file.read_text().strip())
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
        return str(account.address)
    if dev_account is not None:
        return str(w3.eth.accounts[dev_account])
    raise CunzhengError("give --key-file (or --dev-account N on a development chain)")


def _witness_state(state: Path, contract: str | None, client: httpx.Client, service_url: str,
                   api_key: str, w3: Web3) -> WitnessState:
    """The witness's state file; on the first run, pin the log's key (trust on first use)."""
    import base64

    from anchoring.witness import WitnessState, first_state

    if state.exists():
        return WitnessState.load(state)
    if contract is None:
        raise CunzhengError("first run: give --contract (the registry address)")
    key = client.get(f"{service_url.rstrip('/')}/v1/log/key",
                     headers={"Authorization": f"Bearer {api_key}"}).json()
    st = first_state(origin=key["origin"], key_name=key["key_name"],
                     public_key=base64.b64decode(key["public_key"]),
                     contract=contract, chain_id=int(w3.eth.chain_id))
    console.print(f"pinned the log key {key['key_id']} of {key['origin']} (trust on first use)")
    return st


def witness_run(
    service_url: Annotated[str, typer.Option(help="the ledger's base URL")],
    api_key: Annotated[str, typer.Option(envvar="CUNZHENG_WITNESS_API_KEY",
                                         help="a log-reading API key")],
    state: Annotated[Path, typer.Option(help="the witness's own state file")],
    rpc: Annotated[str, typer.Option(help="the witness's own JSON-RPC URL")]
    = "http://127.0.0.1:8545",
    contract: Annotated[str | None, typer.Option(help="registry address (first run)")] = None,
    key_file: Annotated[Path | None, typer.Option(
        help="hex private key of the witness account")] = None,
    dev_account: Annotated[int | None, typer.Option(
        help="use the node's unlocked account N (dev only)")] = None,
    interval: Annotated[float, typer.Option(help="seconds between rounds")] = 5.0,
    once: Annotated[bool, typer.Option(help="one round, then exit")] = False,
) -> None:
    """Watch the chain; cosign each anchored checkpoint after verifying it against the
    log's signature and the root this witness cosigned last. Refuses loudly otherwise."""
    import httpx
    from web3 import Web3

    from anchoring.chain import Web3Chain
    from anchoring.witness import HttpLogSource, Witness, summarize

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 10}))
        sender = _witness_sender(w3, key_file, dev_account)
        client = httpx.Client(timeout=10)
        source = HttpLogSource(client, api_key, service_url)
        st = _witness_state(state, contract, client, service_url, api_key, w3)
        witness = Witness(Web3Chain(w3, st.contract, sender=sender), source, st, state)
        while True:
            outcomes = witness.run_once()
            if outcomes:
                console.print(summarize(outcomes))
            refused = [o for o in outcomes if not o.cosigned]
            if once:
                print(json.dumps([o.__dict__ for o in outcomes]))
                raise typer.Exit(1 if refused else 0)
            time.sleep(interval)
    except CunzhengError as exc:
        fail(exc)


def register(app: typer.Typer) -> None:
    """Add `devnet`, `deploy` and the `witness` group to the `cunzheng` command line."""
    witness_app = typer.Typer(help="A neutral witness that cosigns anchored checkpoints.",
                              no_args_is_help=True)
    witness_app.command("run")(witness_run)
    app.add_typer(witness_app, name="witness")
    app.command()(devnet)
    app.command()(deploy)
