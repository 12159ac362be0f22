"""CLI commands of the lending side: `cunzheng simulate` and `cunzheng loan show`.

`simulate` plans a portfolio (`lending_core.simulator`), renders its documents
(`lending_core.documents`) and posts everything through `lending_core.client`, exactly as
a lending service would: to a running ledger (`--url`, `--key`), or, without a URL, to the
app built in-process from the settings (same code path, no socket). The producer key is
kept beside the receipts so a rerun signs identically and is answered as a replay. Events
go out in arrival order (the simulator's late postings, or `--shuffle-arrivals`); an event
the ledger refuses is counted with its reason and the rest are still posted, and the run
ends with the counts of accepted and refused events (exit 3 if any was refused).
`loan show` reads the database directly, like `fsck`, with the keyring (records are
encrypted at rest by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cunzheng_errors import CunzhengError
from lending_core.client import LedgerClient, LedgerRequestError, ReceiptStore
from lending_core.documents import PDF_MEDIA_TYPE, DocumentRenderer
from lending_core.simulator import Portfolio, SimConfig, SimEvent, simulate

console = Console(stderr=True)
out = Console()
EXIT_REFUSED = 3
"""`simulate` posted everything it could but the ledger refused some events."""
DataDir = Annotated[str | None, typer.Option(help="data directory (CUNZHENG_DATA_DIR)")]
DbUrl = Annotated[str | None, typer.Option(help="database URL (CUNZHENG_DATABASE_URL)")]


MAX_REFUSALS_KEPT = 100
"""Refusals kept in the summary (each with the ledger's reason); the count is always exact."""


@dataclass(frozen=True, slots=True)
class Refusal:
    event_id: str
    type: str
    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class PostSummary:
    events: int
    """Accepted (receipts received, replays included)."""
    replays: int
    documents: int
    batches: int
    retries: int
    seconds: float
    refused: int = 0
    refusals: tuple[Refusal, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.events, "replays": self.replays, "refused": self.refused,
                "documents": self.documents, "batches": self.batches, "retries": self.retries,
                "seconds": round(self.seconds, 3),
                "refusals": [{"event_id": r.event_id, "type": r.type, "status": r.status,
                              "detail": r.detail} for r in self.refusals]}


def _materialize(sim: SimEvent, portfolio: Portfolio, renderer: DocumentRenderer | None,
                 client: LedgerClient) -> dict[str, Any]:
    event = dict(sim.event)
    docs = []
    if renderer is not None:
        for spec in sim.documents:
            loan = portfolio.loan(sim.loan_id)
            if spec.role == "contract":
                pdf = renderer.contract(loan.contract, loan_id=loan.loan_id)
            else:
                pdf = renderer.loan_receipt(sim.event["payload"], loan.contract,
                                            loan_id=loan.loan_id, occurred_at=sim.occurred_at)
            digest = client.upload_document(pdf, PDF_MEDIA_TYPE)
            docs.append({"role": spec.role, "sha256": digest, "media_type": PDF_MEDIA_TYPE,
                         "filename": spec.filename, "size": len(pdf)})
    event["documents"] = docs
    return event


_REFUSED = (409, 413, 422)
"""Statuses that refuse one event (the rest of its batch is posted again); any other error
(authentication, permissions, an unavailable ledger) stops the run."""


def post_portfolio(client: LedgerClient, portfolio: Portfolio, *,
                   renderer: DocumentRenderer | None,
                   advance: Callable[[int], None] | None = None) -> PostSummary:
    """Post every event of `portfolio` in arrival order, uploading documents first.

    A batch is all or nothing: when the ledger refuses one of its events, that event is
    counted as refused (with the ledger's reason) and the rest of the batch is posted again,
    so one refusal never loses the events around it."""
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    events = replays = documents = batches = refused = 0
    refusals: list[Refusal] = []

    def refuse(event: dict[str, Any], exc: LedgerRequestError) -> None:
        nonlocal refused
        refused += 1
        if len(refusals) < MAX_REFUSALS_KEPT:
            refusals.append(Refusal(str(event.get("event_id")), str(event.get("type")),
                                    exc.status, str(exc)))

    def send(items: list[dict[str, Any]]) -> None:
        nonlocal events, replays, batches
        while items:
            try:
                receipts = client.post_batch(items)
            except LedgerRequestError as exc:
                if exc.status not in _REFUSED:
                    raise
                if isinstance(exc.item, int) and 0 <= exc.item < len(items):
                    refuse(items[exc.item], exc)
                    items = items[:exc.item] + items[exc.item + 1:]
                elif len(items) == 1:
                    refuse(items[0], exc)
                    items = []
                else:  # the ledger did not say which: one at a time
                    for item in items:
                        send([item])
                    items = []
                continue
            events += len(receipts)
            replays += sum(1 for r in receipts if r.get("replay"))
            batches += 1
            items = []

    def flush() -> None:
        nonlocal batch
        send(batch)
        if advance is not None:
            advance(len(batch))
        batch = []

    for sim in portfolio.events():
        event = _materialize(sim, portfolio, renderer, client)
        documents += len(event["documents"])
        batch.append(client.prepare(event))
        if len(batch) >= client.batch_size:
            flush()
    if batch:
        flush()
    return PostSummary(events, replays, documents, batches, client.retries,
                       time.perf_counter() - started, refused, tuple(refusals))


def _producer_key(directory: Path) -> Ed25519PrivateKey:
    path = directory / "producer-key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CunzhengError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key


@contextmanager
def _in_process(settings: Any, tenant: str) -> Iterator[tuple[Any, str, str]]:
    """The app built from `settings`, served in-process, with fresh lender and admin keys."""
    from fastapi.testclient import TestClient

    from anchoring.records import format_utc
    from service.app import create_app
    from service.auth import Role, create_key
    from service.context import build_context, utc_now

    ctx = build_context(settings)
    lender, _ = create_key(ctx.engine, Role.LENDER, tenant, "simulate", format_utc(utc_now()))
    admin, _ = create_key(ctx.engine, Role.ADMIN, None, "simulate", format_utc(utc_now()))
    try:
        with TestClient(create_app(settings, ctx)) as http:
            yield http, lender, admin
    finally:
        ctx.engine.dispose()


def register(app: typer.Typer) -> None:
    """Add `simulate` and `loan show` to the `cunzheng` command line."""
    from service.cli import _fail, _settings

    loan_app = typer.Typer(help="Loans as the ledger knows them.", no_args_is_help=True)
    app.add_typer(loan_app, name="loan")

    @app.command("simulate")
    def simulate_cmd(
        loans: Annotated[int, typer.Option("--loans", help="number of loans")] = 100,
        months: Annotated[int, typer.Option("--months", help="simulated horizon")] = 12,
        seed: Annotated[int, typer.Option("--seed", help="random seed")] = 1,
        start: Annotated[str, typer.Option(help="first simulated day")] = "2024-01-01",
        url: Annotated[str | None, typer.Option(help="ledger URL (else in-process)")] = None,
        key: Annotated[str | None, typer.Option(help="lender API key (with --url)")] = None,
        admin_key: Annotated[str | None, typer.Option(
            help="admin key to register the producer key (with --url)")] = None,
        tenant: Annotated[str, typer.Option(help="tenant (in-process / key registration)")]
        = "bank-a",
        documents: Annotated[bool, typer.Option(help="render and upload PDFs")] = True,
        batch_size: Annotated[int, typer.Option(help="events per request")] = 500,
        shuffle_arrivals: Annotated[bool, typer.Option(
            "--shuffle-arrivals", help="post each loan's events in a random arrival order")]
        = False,
        plain: Annotated[bool, typer.Option(
            "--plain", help="no late postings, reversals, corrections, floating rates, "
            "prepayments or extensions: events arrive in the order they occurred")] = False,
        late_share: Annotated[float | None, typer.Option(
            help="share of servicing events posted late (default 0.15)")] = None,
        summary_json: Annotated[Path | None, typer.Option(
            help="also write the counts (accepted, refused, each refusal) to this file")]
        = None,
        receipts_dir: Annotated[Path | None, typer.Option(
            help="where receipts.jsonl and producer-key.pem live")] = None,
        data_dir: DataDir = None, database_url: DbUrl = None,
    ) -> None:
        """Simulate a loan portfolio and post it through the lending client."""
        settings = _settings(data_dir, database_url)
        try:
            options: dict[str, Any] = {"loans": loans, "months": months, "seed": seed,
                                       "start": date.fromisoformat(start),
                                       "documents": documents,
                                       "shuffle_arrivals": shuffle_arrivals}
            if late_share is not None:
                options["late_posting_share"] = late_share
            config = SimConfig.plain(**options) if plain else SimConfig(**options)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        directory = receipts_dir or settings.data_dir / "simulator" / f"{tenant}-seed{seed}"
        try:
            t0 = time.perf_counter()
            portfolio = simulate(config)
            planned = time.perf_counter() - t0
            renderer = DocumentRenderer(settings.data_dir / "fonts") if documents else None
            signing = _producer_key(directory)
            store = ReceiptStore(directory)
            public = signing.public_key().public_bytes_raw()
            with _connection(url, key, admin_key, settings, tenant) as (http, lender, admin):
                if admin is not None:
                    LedgerClient(url, admin, http=http).register_producer_key(tenant, public)
                client = LedgerClient(url, lender, http=http, signing_key=signing,
                                      receipts=store, batch_size=batch_size)
                with Progress(TextColumn("posting"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console) as progress:
                    task = progress.add_task("events", total=portfolio.event_count)
                    summary = post_portfolio(client, portfolio, renderer=renderer,
                                             advance=lambda n: progress.advance(task, n))
                client.close()
        except CunzhengError as exc:
            _fail(exc)
        counts = portfolio.counts()
        out.print(f"{loans} loans over {months} months (seed {seed}): planned in "
                  f"{planned:.2f} s; posted {summary.events} events "
                  f"({summary.replays} replays), {summary.documents} documents, "
                  f"{summary.batches} batches, {summary.retries} retries in "
                  f"{summary.seconds:.1f} s ({summary.events / max(summary.seconds, 1e-9):.0f} "
                  f"events/s); receipts in {store.path}")
        out.print(", ".join(f"{k} {v}" for k, v in counts.items()))
        for r in summary.refusals[:10]:
            console.print(f"[red]refused[/red] {r.event_id} ({r.type}): {r.detail}",
                          highlight=False)
        out.print(f"accepted {summary.events}, refused {summary.refused} "
                  f"(of {portfolio.event_count} events)")
        if summary_json is not None:
            summary_json.write_text(json.dumps(
                {**summary.as_json(), "planned": portfolio.event_count, "counts": counts},
                indent=2, ensure_ascii=False))
        if summary.refused:
            raise typer.Exit(EXIT_REFUSED)

    @loan_app.command("show")
    def loan_show(
        loan_id: str,
        tenant: Annotated[str, typer.Option(help="the loan's tenant")],
        as_of: Annotated[str, typer.Option("--as-of", help="YYYY-MM-DD")],
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        data_dir: DataDir = None, database_url: DbUrl = None,
    ) -> None:
        """A loan's state and its arrears computation table as of a date."""
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            console.print(f"[red]error:[/red] --as-of expects YYYY-MM-DD, found {as_of!r}")
            raise typer.Exit(2) from None
        try:
            view = loan_view(_settings(data_dir, database_url), tenant, loan_id, day)
        except CunzhengError as exc:
            _fail(exc)
        if as_json:
            print(json.dumps(view, indent=2, ensure_ascii=False))
        else:
            _print_view(view)


def loan_view(settings: Any, tenant: str, loan_id: str, as_of: date) -> dict[str, Any]:
    """The loan's state, findings, monitoring verdict and arrears statement (the JSON of
    `GET /v1/loans/{loan_id}`)."""
    from service.context import open_store
    from service.db import make_engine, migrate
    from service.loans import loan_history, loan_json

    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    try:  # with the keyring: records are encrypted at rest by default
        loan = loan_history(open_store(settings, engine), tenant, loan_id)
    finally:
        engine.dispose()
    if loan is None:
        raise CunzhengError(f"no events for loan {loan_id!r} of tenant {tenant!r}")
    return loan_json(tenant, loan, as_of)


def _print_view(view: dict[str, Any]) -> None:
    out.print(f"[bold]{view['loan_id']}[/bold] ({view['tenant']}) as of {view['as_of']}: "
              f"{view['status']}, recorded classification {view['recorded_classification']}; "
              f"{view['events']} events, "
              f"last {view['last_event']}")
    if view["terms"]:
        t = view["terms"]
        out.print(f"terms: ¥{t['principal']} × {t['term_months']} months at {t['annual_rate']} "
                  f"({t['method']}, first due {t['first_due_date'] or '-'}, due day "
                  f"{t['due_day'] or '-'}, {t['agreed_by']})")
    out.print(f"disbursed ¥{view['disbursed']}, received ¥{view['received']}, principal "
              f"outstanding ¥{view['principal_outstanding']}; open missed installments "
              f"{view['missed_open'] or 'none'}; accelerated {view['accelerated_on'] or 'no'}")
    for n in view["notices"]:
        out.print(f"notice {n['notice_id']}: {n['kind']} by {n['channel']}, "
                  f"{'delivered' if n['delivered'] else 'not delivered'}")
    for f in view["findings"]:
        state = (f"resolved by {f['resolved_by']}" if f["resolved"] else "open")
        out.print(f"finding {f['code']} ({state}): {f['event_id']} ({f['event_type']}, leaf "
                  f"{f['leaf_index']}): {f['reason']}")
    if view["monitoring"]:
        m = view["monitoring"]
        out.print(f"monitoring: {m['days_past_due']} days past due, {m['category']}, overdue "
                  f"¥{m['overdue_amount']}, dispute candidate {m['dispute_candidate']}")
        for w in m["warnings"]:
            out.print(f"  warning: {w}")
    a = view["arrears"]
    if a:
        table = Table(title=f"计算表（{a['label']}）")
        for col in ("类型", "基数", "起", "止", "天数", "年利率", "金额", "已还", "未还", "条款"):
            table.add_column(col, justify="right" if col not in ("类型", "条款") else "left")
        for r in a["rows"]:
            table.add_row(r["kind"], r["base"], r["from"], r["to"], str(r["days"]),
                          r["annual_rate"], r["amount"], r["paid"], r["outstanding"], r["clause"])
        out.print(table)
        out.print(f"overdue principal ¥{a['overdue_principal']}, interest ¥{a['interest_due']}, "
                  f"penalty ¥{a['penalty_interest']}, compound ¥{a['compound_interest']}; total "
                  f"due ¥{a['total_due']}, total outstanding ¥{a['total_outstanding']}; "
                  f"accruing ¥{a['daily_accrual']} a day")


@contextmanager
def _connection(url: str | None, key: str | None, admin_key: str | None, settings: Any,
                tenant: str) -> Iterator[tuple[Any, str, str | None]]:
    if url:
        if not key:
            raise CunzhengError("--url needs --key (a lender API key)")
        yield None, key, admin_key
        return
    with _in_process(settings, tenant) as (http, lender, admin):
        yield http, lender, admin
