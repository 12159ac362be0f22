"""CLI commands of the lending side: `cunzheng simulate` and `cunzheng loan show`.

`simulate` plans a portfolio (`lending_core.simulator`) and posts it with
`service.posting.post_portfolio`, exactly as a lending service would: to a running ledger
(`--url`, `--key`), or, without a URL, to the app built in-process from the settings
(`service.inprocess`: same code path, no socket). The producer key is kept beside the
receipts so a rerun signs identically and is answered as a replay. Events go out in
arrival order (the simulator's late postings, or `--shuffle-arrivals`); an event the ledger
refuses is counted with its reason and the rest are still posted, and the run ends with the
counts of accepted and refused events (exit 3 if any was refused).
`loan show` reads the database directly, like `fsck`, with the keyring (records are
encrypted at rest by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cunzheng_verify.errors import CunzhengError
from dispute.pdf import DocumentRenderer
from lending_core.client import LedgerClient, ReceiptStore
from lending_core.simulator import SimConfig, simulate
from service.cli.common import DataDir, DbUrl, console, fail, load_settings, out
from service.posting import post_portfolio, producer_key

if TYPE_CHECKING:
    import httpx

    from service.settings import Settings

__all__ = ["EXIT_REFUSED", "loan_show", "loan_view", "register", "simulate_cmd"]

EXIT_REFUSED = 3
"""`simulate` posted everything it could but the ledger refused some events."""


def _sim_config(loans: int, months: int, seed: int, start: str, documents: bool,
                shuffle_arrivals: bool, plain: bool, late_share: float | None) -> SimConfig:
    """The simulator's configuration from the options; a bad one ends the command (exit 2)."""
    try:
        options: dict[str, Any] = {"loans": loans, "months": months, "seed": seed,
                                   "start": date.fromisoformat(start), "documents": documents,
                                   "shuffle_arrivals": shuffle_arrivals}
        if late_share is not None:
            options["late_posting_share"] = late_share
        return SimConfig.plain(**options) if plain else SimConfig(**options)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _connection(url: str | None, key: str | None, admin_key: str | None, settings: Settings,
                tenant: str) -> Iterator[tuple[httpx.Client | None, str, str | None]]:
    """(http client or None for a real URL, lender key, admin key or None)."""
    if url:
        if not key:
            raise CunzhengError("--url needs --key (a lender API key)")
        yield None, key, admin_key
        return
    from service.inprocess import in_process

    with in_process(settings, tenant) as (http, lender, admin):
        yield http, lender, admin


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
    settings = load_settings(data_dir, database_url)
    config = _sim_config(loans, months, seed, start, documents, shuffle_arrivals, plain,
                         late_share)
    directory = receipts_dir or settings.data_dir / "simulator" / f"{tenant}-seed{seed}"
    try:
        t0 = time.perf_counter()
        portfolio = simulate(config)
        planned = time.perf_counter() - t0
        renderer = DocumentRenderer(settings.data_dir / "fonts") if documents else None
        signing = producer_key(directory)
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
        fail(exc)
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
        view = loan_view(load_settings(data_dir, database_url), tenant, loan_id, day)
    except CunzhengError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        _print_view(view)


def loan_view(settings: Settings, tenant: str, loan_id: str, as_of: date) -> dict[str, Any]:
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
    if view["arrears"]:
        _print_arrears(view["arrears"])


def _print_arrears(a: dict[str, Any]) -> None:
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


def register(app: typer.Typer) -> None:
    """Add `simulate` and the `loan` group (`loan show`) to the `cunzheng` command line."""
    loan_app = typer.Typer(help="Loans as the ledger knows them.", no_args_is_help=True)
    loan_app.command("show")(loan_show)
    app.add_typer(loan_app, name="loan")
    app.command("simulate")(simulate_cmd)
