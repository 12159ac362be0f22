"""Keys in a hardware token (issue 10, build 5), against SoftHSM2 through python-pkcs11:
the log key, the package key and the anchoring key are generated inside the token as
non-extractable and sensitive, and everything they sign verifies with the same public-key
formats as file keys (checkpoints, receipts, packages); an anchor transaction the token
signed is accepted by a real node (anvil). No key file is written, no file holds the private
scalar, and the token refuses to export it.

`make system-deps` installs the Debian package softhsm2 (CI too); these tests skip only
when its library is missing, and say so."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from anchoring.receipts import verify_receipt
from cunzheng_verify.notes import verify_checkpoint
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import running_api

MODULES = ("/usr/lib/softhsm/libsofthsm2.so",
           "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
           "/usr/local/lib/softhsm/libsofthsm2.so")
TOKEN = "cunzheng-test"
PIN = "9175-2280"
SO_PIN = "55555555"
IMPORTED_SCALAR = bytes(range(101, 133))  # a key put into the token, to look for on disk


def _module() -> str | None:
    return next((m for m in MODULES if Path(m).exists()), None)


@dataclass
class SoftHsm:
    module: str
    token_dir: Path
    pin_file: Path
    public: dict[str, bytes]
    address: str

    def uri(self, label: str) -> str:
        return f"pkcs11:token={TOKEN};object={label}?module-path={self.module}"

    def settings(self, data_dir: Path, **kw: Any) -> Settings:
        values: dict[str, Any] = {
            "log_key_uri": self.uri("log-key"), "package_key_uri": self.uri("package-key"),
            "anchor_key_uri": self.uri("anchor-key"), "pkcs11_pin_file": self.pin_file,
            "checkpoint_interval": 0.05, "anchor_enabled": False}
        return Settings(data_dir=data_dir, **{**values, **kw})


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    module = _module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2; `make system-deps` "
                    "installs it)")
    pytest.importorskip("pkcs11", reason="python-pkcs11 is missing (pip install -e '.[dev]')")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    patch = pytest.MonkeyPatch()
    patch.setenv("SOFTHSM2_CONF", str(conf))  # read once, when the library is first loaded
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN,
                    "--so-pin", SO_PIN, "--pin", PIN], check=True, capture_output=True)
    pin_file = root / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    public: dict[str, bytes] = {}
    address = ""
    from service.cli import app

    hsm = SoftHsm(module, root / "tokens", pin_file, public, address)
    runner = CliRunner()
    env = {"CUNZHENG_PKCS11_PIN_FILE": str(pin_file)}
    for label, kind in (("log-key", "ed25519"), ("package-key", "ed25519"),
                        ("anchor-key", "secp256k1")):
        r = runner.invoke(app, ["keys", "token-generate", "--uri", hsm.uri(label),
                                "--kind", kind], env=env)
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        public[label] = base64.b64decode(out["public_key"])
        hsm.address = out.get("address", hsm.address)
        assert PIN not in r.output
    yield hsm
    patch.undo()


@contextmanager
def _private_object(hsm: SoftHsm, label: str) -> Iterator[tuple[Any, Any]]:
    from pkcs11 import ObjectClass

    from anchoring.pkcs11 import TokenUri, token_session

    with token_session(TokenUri.parse(hsm.uri(label)), PIN) as session:
        yield session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label), session


def test_the_token_keys_cannot_be_exported(hsm: SoftHsm) -> None:
    from pkcs11 import Attribute, Mechanism
    from pkcs11.exceptions import AttributeSensitive, PKCS11Error

    for label in ("log-key", "package-key", "anchor-key"):
        with _private_object(hsm, label) as (key, session):
            assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            assert key[Attribute.ALWAYS_SENSITIVE] is True
            with pytest.raises(AttributeSensitive):
                key[Attribute.VALUE]  # reading the scalar is what must fail
            # nor can it be wrapped out under a key of ours
            from pkcs11 import KeyType
            wrapper = session.generate_key(KeyType.AES, 256, store=False,
                                           template={Attribute.WRAP: True})
            with pytest.raises(PKCS11Error):
                wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    # the CLI refuses to overwrite a key, and a wrong PIN is a clear one-line error
    from service.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["keys", "token-generate", "--uri", hsm.uri("log-key")],
                      env={"CUNZHENG_PKCS11_PIN_FILE": str(hsm.pin_file)})
    assert r.exit_code == 2 and "already holds" in r.output


def test_checkpoints_receipts_and_packages_verify_with_the_token_keys(hsm: SoftHsm,
                                                                     tmp_path: Path) -> None:
    from cunzheng_verify import verify_package
    from tests.integration.test_verify_api import _anchor

    settings = hsm.settings(tmp_path / "data")
    log_pub, package_pub = hsm.public["log-key"], hsm.public["package-key"]
    with running_api(settings) as api:
        r = api.post_events([make_event(f"h-{i}", "L-HSM") for i in range(3)])
        assert r.status_code == 201, r.text
        receipts = r.json()["receipts"]
        cp = api.wait_checkpoint(3)
        key = api.request("GET", "/v1/log/key", role="auditor").json()
        assert base64.b64decode(key["public_key"]) == log_pub  # the format of a file key
        verify_checkpoint(cp["note"], key_name=settings.log_origin, public_key=log_pub)
        for receipt in receipts:
            verify_receipt(receipt, key_name=settings.log_origin, public_key=log_pub)

        _anchor(api, 3)  # an anchor row as the job writes it (the real chain: the test below)
        data = _package(api, settings)
    report = verify_package(data, trusted_keys=[package_pub], log_public_key=log_pub).as_json()
    assert report["result"] in ("ok", "warning"), report
    assert _step(report, "manifest.signature")["status"] == "ok"
    assert "trusted key" in _step(report, "manifest.signature")["reason"]
    assert not [s for s in report["steps"] if s["status"] == "failed"]
    other = verify_package(data, trusted_keys=[bytes(32)], log_public_key=log_pub).as_json()
    assert _step(other, "manifest.signature")["status"] != "ok"  # a key not trusted
    with pytest.raises(Exception, match="checkpoint|signature|key"):
        verify_checkpoint(cp["note"], key_name=settings.log_origin, public_key=package_pub)

    # no key file was written, and nothing under the data dir holds a private key
    data_files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert data_files and not (settings.data_dir / "log-key.pem").exists()
    assert not (settings.data_dir / "package-key.pem").exists()
    for path in data_files:
        assert b"PRIVATE KEY" not in path.read_bytes(), path


def _step(report: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(s for s in report["steps"] if s["step"] == name))


def _package(api: Any, settings: Settings) -> bytes:
    from dispute.package import CaseContents, LogIdentity, PackageRequest, build_package
    from service.logkey import package_signer_for

    ctx = api.ctx
    signer = package_signer_for(settings)
    assert signer.public_key == _package_public(settings)
    size = ctx.store.tree_size()
    return build_package(
        PackageRequest("bank-a", ctx.store.leaf(0).loan_id, "court", date(2026, 3, 3),
                       datetime(2026, 3, 3, tzinfo=UTC)),
        log=ctx.store, anchors=ctx.anchors,
        identity=LogIdentity(ctx.log.origin, ctx.log.signer.name, ctx.log.signer.public_key),
        signer=signer,
        contents=CaseContents(tuple(_Exhibit(f"1-{i + 1}", i) for i in range(size)),
                              {"claim": "test"}),
        render=lambda inp: b"%PDF-1.7 test\n").data


def _package_public(settings: Settings) -> bytes:
    from anchoring.pkcs11 import TokenEd25519Signer, TokenUri

    assert settings.package_key_uri and settings.pkcs11_pin_file
    return TokenEd25519Signer(TokenUri.parse(settings.package_key_uri),
                              settings.pkcs11_pin_file.read_text().strip()).public_key


@dataclass(frozen=True)
class _Exhibit:
    no: str
    leaf_index: int
    title: str = "exhibit"
    source: str = "core banking"
    purpose: str = "performance"


def test_a_key_put_into_the_token_never_lands_on_disk(hsm: SoftHsm, tmp_path: Path) -> None:
    """A key whose scalar the test knows (so it can look for it): the token signs every
    checkpoint and receipt, and no file under the data directory, nor the token's own
    store, holds the scalar in any encoding."""
    from asn1crypto.core import OctetString
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    from anchoring.pkcs11 import ED25519_OID, TokenUri, token_session

    known = Ed25519PrivateKey.from_private_bytes(IMPORTED_SCALAR)
    public = known.public_key().public_bytes_raw()
    with token_session(TokenUri.parse(hsm.uri("imported")), PIN) as session:
        common = {Attribute.KEY_TYPE: KeyType.EC_EDWARDS, Attribute.TOKEN: True,
                  Attribute.LABEL: "imported",
                  Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)}
        session.create_object({**common, Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                               Attribute.VALUE: IMPORTED_SCALAR, Attribute.SENSITIVE: True,
                               Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True,
                               Attribute.SIGN: True})
        session.create_object({**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                               Attribute.EC_POINT: OctetString(public).dump(),
                               Attribute.VERIFY: True})
    settings = hsm.settings(tmp_path / "data", log_key_uri=hsm.uri("imported"))
    with running_api(settings) as api:
        assert api.post_events([make_event("k-1", "L-K")]).status_code == 201
        cp = api.wait_checkpoint(1)
    verify_checkpoint(cp["note"], key_name=settings.log_origin, public_key=public)
    encodings = [IMPORTED_SCALAR, IMPORTED_SCALAR.hex().encode(),
                 base64.b64encode(IMPORTED_SCALAR)[:40]]
    files = [p for d in (settings.data_dir, hsm.token_dir) for p in d.rglob("*") if p.is_file()]
    assert len(files) > 3
    for path in files:
        content = path.read_bytes()
        assert not any(e in content for e in encodings), f"{path} holds the private scalar"


def test_a_wrong_pin_or_key_name_is_a_clear_error_without_the_pin(hsm: SoftHsm,
                                                                  tmp_path: Path) -> None:
    from anchoring.pkcs11 import Pkcs11Error, TokenEd25519Signer, TokenSecp256k1Signer, TokenUri

    with pytest.raises(Pkcs11Error, match="no key 'nope'") as err:
        TokenEd25519Signer(TokenUri.parse(hsm.uri("nope")), PIN)
    assert PIN not in str(err.value)
    with pytest.raises(Pkcs11Error, match="not an Ed25519 key"):
        TokenEd25519Signer(TokenUri.parse(hsm.uri("anchor-key")), PIN)
    with pytest.raises(Pkcs11Error, match="not an secp256k1 key"):
        TokenSecp256k1Signer(TokenUri.parse(hsm.uri("log-key")), PIN)
    with pytest.raises(Pkcs11Error, match="no token labelled"):
        TokenEd25519Signer(TokenUri.parse(hsm.uri("log-key").replace(TOKEN, "other")), PIN)
    from service.cli import app

    r = CliRunner().invoke(app, ["keys", "token-show", "--uri", hsm.uri("missing"),
                                 "--data-dir", str(tmp_path)],
                           env={"CUNZHENG_PKCS11_PIN": "wrong-but-secret"})
    assert r.exit_code == 2 and "no key 'missing'" in r.output and "wrong-but" not in r.output
    # a process of its own (a login is per process): the wrong PIN is refused, not shown
    done = subprocess.run([sys.executable, "-m", "service.cli", "keys", "token-show", "--uri",
                           hsm.uri("log-key"), "--data-dir", str(tmp_path)],
                          env={**os.environ, "CUNZHENG_PKCS11_PIN": "wrong-but-secret"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "refused the PIN" in done.stderr, done.stderr
    assert "wrong-but" not in done.stdout + done.stderr


@pytest.mark.chain
def test_an_anchor_signed_in_the_token_is_accepted_by_a_real_node(hsm: SoftHsm,
                                                                  tmp_path: Path) -> None:
    from web3 import Web3

    from anchoring.anchor_job import Backoff
    from anchoring.registry import load_artifact
    from anchoring.signers import ethereum_address
    from cunzheng_verify import Web3ChainView, verify_package
    from service.chain_setup import AnchorRunner
    from tests.integration.chain_nodes import anvil_node, rpc

    assert ethereum_address(hsm.public["anchor-key"]) == hsm.address
    with anvil_node() as url:
        settings = hsm.settings(tmp_path / "data", chain_rpc=url, anchor_confirmations=1)
        with running_api(settings) as api:
            assert api.post_events([make_event(f"a-{i}", "L-A") for i in range(2)]
                                   ).status_code == 201
            cp = api.wait_checkpoint(2)
            runner = AnchorRunner(api.ctx, Backoff(time.monotonic))
            deadline = time.monotonic() + 60
            final = None
            while time.monotonic() < deadline and final is None:
                runner.tick()
                rpc(url, "evm_mine")
                final = api.ctx.anchors.latest(("final",))
            runner.close()
            assert final is not None, "the anchor did not become final"
            w3 = Web3(Web3.HTTPProvider(url))
            tx = w3.eth.get_transaction(final.tx_hash)
            assert tx["from"] == hsm.address  # signed in the token, sent raw, mined
            assert w3.eth.get_transaction_receipt(final.tx_hash)["status"] == 1
            chain = runner.job.chain if runner.job else None
            assert chain is not None and chain.root_at(final.tree_size) == final.root
            assert final.tree_size == cp["tree_size"]
            data = _package(api, settings)
        report = verify_package(data, trusted_keys=[hsm.public["package-key"]],
                                log_public_key=hsm.public["log-key"],
                                chain=Web3ChainView.from_url(url), min_confirmations=1,
                                expected_code=load_artifact().deployed_bytecode).as_json()
        assert report["result"] in ("ok", "warning"), report
        assert not [s for s in report["steps"] if s["status"] == "failed"], report
        on_chain = [s for s in report["steps"] if "chain" in json.dumps(s).lower()]
        assert on_chain and any(s["status"] == "ok" for s in on_chain), on_chain
    for path in (p for p in settings.data_dir.rglob("*") if p.is_file()):
        assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_a_lost_token_session_is_opened_again(hsm: SoftHsm) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from anchoring.pkcs11 import TokenEd25519Signer, TokenUri, token_session

    uri = TokenUri.parse(hsm.uri("log-key"))
    signer = TokenEd25519Signer(uri, PIN)
    with token_session(uri, PIN) as session:
        session.close()  # as a token reset would: the handle is gone, so is the login
    signature = signer.sign(b"after the reset")
    Ed25519PublicKey.from_public_bytes(signer.public_key).verify(signature, b"after the reset")
    assert PIN not in repr(signer)
