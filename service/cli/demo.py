"""`cunzheng demo`: the whole system on the embedded defaults, in one command.

Starts the service (which starts the devnet, deploys the registry and runs the anchoring
job and the post-loan monitoring job, every few seconds), three witnesses (a notary office,
an arbitration commission, a court), simulates a portfolio through the lending client
while the monitoring job keeps posting its flags (a realistic stream: late postings,
reversals, corrections, repricing, prepayments, extensions; not one event may be refused),
waits until everything is anchored and final, builds a court package for a defaulted loan,
verifies it offline and on chain, and prints where to look. Every step is a real process
talking over HTTP and JSON-RPC, as in production. A second run reuses the data directory;
`--fresh` starts over.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cunzheng_verify.errors import CunzhengError
from service.cli.common import console
from service.errors import DemoError

CLI = [sys.executable, "-m", "service.cli"]
TENANT = "demo-bank"
WITNESSES = (("notary", 2), ("arbitration", 3), ("court", 4))  # dev accounts, keys public
MONITORING_INTERVAL = 5.0
"""Seconds between monitoring runs: short, so the job runs *during* the simulation and its
flags interleave with the lender's (late) events, as they do in production."""
SUMMARY = "simulate-summary.json"


class Demo:
    def __init__(self, data_dir: Path, port: int, devnet_port: int,
                 monitoring_interval: float = MONITORING_INTERVAL) -> None:
        self.data = data_dir.resolve()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.rpc = f"http://127.0.0.1:{devnet_port}"
        self.env = {**os.environ, "CUNZHENG_DATA_DIR": str(self.data),
                    "CUNZHENG_DEVNET_PORT": str(devnet_port), "CUNZHENG_ANCHOR_INTERVAL": "2",
                    "CUNZHENG_MONITORING_TENANTS": TENANT,
                    "CUNZHENG_MONITORING_INTERVAL": f"{monitoring_interval:g}"}
        self.env.pop("CUNZHENG_CHAIN_RPC", None)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.http = httpx.Client(timeout=60)
        self.t0 = time.monotonic()

    def step(self, text: str) -> None:
        console.print(f"[bold cyan][{time.monotonic() - self.t0:6.1f}s][/bold cyan] {text}")

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        logs = self.data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / log_name, "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen([*CLI, *args], env=self.env, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def _run(self, args: list[str], what: str, timeout: float = 3600) -> str:
        done = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise DemoError(f"{what} failed (exit {done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-1500:]}")
        return done.stdout

    def _wait(self, check: Any, what: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = check()
            except (httpx.HTTPError, OSError, ValueError, KeyError):
                found = None
            if found:
                return found
            time.sleep(0.5)
        raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}; "
                        f"logs in {self.data / 'logs'}")

    def get(self, path: str, key: str) -> Any:
        r = self.http.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
        return r.json()

    # --- steps --------------------------------------------------------------------------

    def start_service(self) -> None:
        try:
            self.http.get(f"{self.url}/healthz", timeout=1)
            raise DemoError(f"something already answers on {self.url}; stop it or pass --port")
        except httpx.HTTPError:
            pass
        self.step(f"starting the service on {self.url} (devnet on {self.rpc}, anchoring every 2 s)")
        proc = self._spawn(["serve", "--port", str(self.port)], "serve.log")

        def up() -> bool:
            if proc.poll() is not None:
                raise DemoError(f"the service exited; see {self.data / 'logs' / 'serve.log'}")
            return self.http.get(f"{self.url}/healthz", timeout=2).status_code == 200

        self._wait(up, "the service", 180)

    def keys(self) -> dict[str, str]:
        path = self.data / "demo-keys.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
        admin = (self.data / "admin-key.txt").read_text().strip()
        keys = {"admin": admin}
        for role, tenant in (("lender", TENANT), ("legal", None), ("auditor", None),
                             ("verifier", None)):
            r = self.http.post(f"{self.url}/v1/admin/keys",
                               headers={"Authorization": f"Bearer {admin}"},
                               json={"role": role, "tenant": tenant, "label": f"demo {role}"})
            r.raise_for_status()
            keys[role] = r.json()["key"]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(keys, f, indent=2)
        self.step(f"created API keys per role in {path} (mode 0600)")
        return keys

    def start_witnesses(self, keys: dict[str, str]) -> str:
        deployment = self.data / "deployment.json"
        self.step("waiting for the anchor registry to be deployed")
        self._wait(deployment.exists, "the deployment record", 180)
        contract = json.loads(deployment.read_text())["address"]
        self.step(f"registry at {contract}; starting witnesses: "
                  + ", ".join(name for name, _ in WITNESSES))
        for name, account in WITNESSES:
            self._spawn(["witness", "run", "--service-url", self.url, "--api-key", keys["auditor"],
                         "--state", str(self.data / f"witness-{name}.json"), "--rpc", self.rpc,
                         "--contract", contract, "--dev-account", str(account), "--interval", "2"],
                        f"witness-{name}.log")
        return contract

    def simulate(self, keys: dict[str, str], loans: int, months: int, seed: int) -> None:
        # the simulated months end about now, so the monitoring job (as of today) agrees
        today = datetime.now(UTC).date()
        first = (today.replace(day=1) - timedelta(days=31 * months)).replace(day=1)
        self.step(f"simulating {loans} loans over {months} months from {first} (seed {seed}) "
                  "through the lending client")
        started = time.monotonic()
        summary_path = self.data / SUMMARY
        summary_path.unlink(missing_ok=True)
        proc = subprocess.run([*CLI, "simulate", "--loans", str(loans), "--months", str(months),
                               "--seed", str(seed), "--start", first.isoformat(),
                               "--url", self.url, "--key", keys["lender"],
                               "--admin-key", keys["admin"], "--tenant", TENANT,
                               "--receipts-dir", str(self.data / "receipts"),
                               "--summary-json", str(summary_path)],
                              env=self.env, timeout=7200)
        if not summary_path.exists():
            raise DemoError(f"simulate failed (exit {proc.returncode})")
        summary = json.loads(summary_path.read_text())
        if summary["refused"]:
            first_refusal = summary["refusals"][0]
            raise DemoError(f"the ledger refused {summary['refused']} of {summary['planned']} "
                            f"events (first: {first_refusal['event_id']}: "
                            f"{first_refusal['detail']}); all counts in {summary_path}")
        if proc.returncode != 0:
            raise DemoError(f"simulate failed (exit {proc.returncode})")
        derived = self.monitoring_events()
        self.step(f"portfolio posted in {time.monotonic() - started:.0f} s: "
                  f"{summary['accepted']} events accepted, 0 refused; the monitoring job "
                  f"posted {derived} events meanwhile")

    def monitoring_events(self) -> int:
        """Events the monitoring job has posted so far (ids `mon:...`)."""
        from sqlalchemy import func, select

        from anchoring.tables import leaves
        from service.db import make_engine

        engine = make_engine(f"sqlite:///{self.data / 'cunzheng.db'}")
        try:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(leaves)
                                        .where(leaves.c.tenant == TENANT)
                                        .where(leaves.c.event_id.like("mon:%"))).scalar_one())
        finally:
            engine.dispose()

    def wait_anchored(self, keys: dict[str, str]) -> int:
        size = self.get("/healthz", keys["auditor"])["tree_size"]
        self.step(f"waiting until all {size} events are anchored, final and cosigned")

        def done() -> bool:
            anchors = self.get("/v1/log/anchors?limit=5", keys["auditor"])["anchors"]
            final = [a for a in anchors if a["status"] == "final" and a["tree_size"] >= size]
            return bool(final) and len(final[0]["cosigners"]) >= len(WITNESSES)

        self._wait(done, "final, cosigned anchors", 300)
        return int(size)

    def defaulted_loan(self) -> str:
        from sqlalchemy import select

        from anchoring.tables import leaves
        from service.db import make_engine

        engine = make_engine(f"sqlite:///{self.data / 'cunzheng.db'}")
        with engine.connect() as conn:
            row = conn.execute(select(leaves.c.loan_id).where(leaves.c.tenant == TENANT)
                               .where(leaves.c.event_type == "acceleration")
                               .order_by(leaves.c.leaf_index).limit(1)).first()
        engine.dispose()
        if row is None:
            raise DemoError("the simulated portfolio has no accelerated loan; try more loans")
        return str(row[0])

    def build_and_verify(self, loan: str) -> Path:
        out = self.data / "packages" / f"{loan}-court.zip"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.step(f"building the court package for defaulted loan {loan}")
        self._run(["case", "build", loan, "--tenant", TENANT, "--venue", "court", "--out",
                   str(out)],
                  "case build")
        package_key = self._run(["case", "key"], "case key").strip().splitlines()[-1]
        self.step("verifying the package offline, and on chain against the devnet")
        report = self._run(["verify", str(out), "--rpc", self.rpc, "--trust-key", package_key],
                           "verify")
        console.print(report.strip()[-3000:], highlight=False)
        return out

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def register(app: typer.Typer) -> None:
    """Add `demo` to the `cunzheng` command line."""

    @app.command()
    def demo(
        data_dir: Annotated[Path, typer.Option(help="data directory")] = Path("data"),
        fresh: Annotated[bool,
                         typer.Option("--fresh", help="delete the data directory first")] = False,
        loans: Annotated[int, typer.Option(help="loans to simulate")] = 300,
        months: Annotated[int, typer.Option(help="simulated months")] = 18,
        seed: Annotated[int, typer.Option(help="simulation seed")] = 1,
        port: Annotated[int, typer.Option(help="service port")] = 8000,
        devnet_port: Annotated[int, typer.Option(help="devnet port")] = 8545,
        monitoring_interval: Annotated[float, typer.Option(
            min=0.5, help="seconds between post-loan monitoring runs (during the simulation "
            "too)")] = MONITORING_INTERVAL,
        exit_after: Annotated[bool,
                              typer.Option("--exit", help="stop everything at the end")] = False,
    ) -> None:
        """Everything at once on the embedded defaults: devnet, registry, service, witnesses,
        a simulated portfolio, anchors, a court package for a defaulted loan, verified."""
        if fresh and data_dir.exists():
            if any(data_dir.iterdir()) and not (data_dir / "cunzheng.db").exists():
                console.print(f"[red]error:[/red] {data_dir} is not a Cunzheng data directory; "
                              "refusing to delete it")
                raise typer.Exit(2)
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        d = Demo(data_dir, port, devnet_port, monitoring_interval)
        try:
            d.start_service()
            keys = d.keys()
            d.start_witnesses(keys)
            d.simulate(keys, loans, months, seed)
            size = d.wait_anchored(keys)
            package = d.build_and_verify(d.defaulted_loan())
            console.print(f"""
[bold green]Cunzheng demo is up[/bold green] ({size} events, anchored, final and cosigned)
  verification page  {d.url}/ui/verify
  legal workbench    {d.url}/ui/legal
  auditor page       {d.url}/ui/audit
  API docs           {d.url}/docs
  API keys           {d.data / 'demo-keys.json'}  (log in to the pages with one)
  court package      {package}
  logs               {d.data / 'logs'}
""")
            if not exit_after:
                console.print("Press Ctrl-C to stop.")
                while all(p.poll() is None for p in d.procs[:1]):
                    time.sleep(1)
        except CunzhengError as exc:
            console.print(f"[red]error:[/red] {exc.diagnostics()}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            pass
        finally:
            d.stop()
