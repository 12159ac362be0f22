"""Evidence package build and verification time, on a real anchored log.

Run: `.venv/bin/python -m bench.package [--quick]`.

The log is the one the package tests use (`tests.unit.dispute.packaging.make_world`): a
real SQLite log (records sealed at rest) in a temporary data directory holding the example
loan's story (9 events, 3 documents) among other loans, anchored in three rounds on an
in-process EVM (eth-tester, registry deployed, every checkpoint cosigned by a witness) and
settled. Then, each repeated `REPEATS` times (median and max reported):

- build with the real case-file renderer (`service.cases.build_dispute_package` with
  its default renderer: `dispute.casefile.render_case_file`, WeasyPrint), which is what
  `cunzheng case build` runs;
- the same real build with a fresh WeasyPrint `FontConfiguration` per render (how every
  build ran before issue 17: fontconfig reloaded and the CJK subset re-registered each time);
- build with the tests' minimal PDF writer in place of the renderer (the package work
  alone: selection, claim, proofs to the earliest anchored checkpoints, manifest, zip);
- verify offline (`cunzheng_verify.verify_package` with the package key trusted, no chain),
  and with the on-chain step (`Web3ChainView` on the same in-process chain).

And the simulator's loan documents (`dispute.pdf.DocumentRenderer`: a contract
and a 借据 per loan, what `cunzheng simulate` and the demo render for every loan), per loan,
with the process's shared font configuration and stylesheet and, as before, fresh ones per
PDF (the bytes are checked equal).

Baselines in the same run: writing the same files with `dispute.package.deterministic_zip`
(the zip alone) and reading every entry of the package back with `zipfile` plus one
SHA-256 per entry (the least any verifier must do).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import latency_stats, print_table, save

REPEATS = 10
QUICK_REPEATS = 3


def _series(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return latency_stats(times), out


def _read_and_hash(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sum(len(hashlib.sha256(zf.read(i)).digest()) for i in zf.infolist())


@contextlib.contextmanager
def _fresh_fonts() -> Iterator[None]:
    """Renders as before issue 17: a new FontConfiguration and stylesheet for every PDF."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    from dispute import pdf

    def fresh_pair(css: str, _font_url: str) -> tuple[Any, Any]:
        config = FontConfiguration()
        return config, CSS(string=css, font_config=config)

    saved = pdf._WEASY.config, pdf._WEASY.with_stylesheet
    pdf._WEASY.config = lambda _url: FontConfiguration()  # type: ignore[method-assign]
    pdf._WEASY.with_stylesheet = fresh_pair  # type: ignore[method-assign]
    try:
        yield
    finally:
        pdf._WEASY.config, pdf._WEASY.with_stylesheet = saved  # type: ignore[method-assign]


def _loan_documents(repeats: int) -> dict[str, Any]:
    """Contract + 借据 per loan, shared font configuration vs fresh per PDF (same bytes)."""
    from dispute.pdf import DocumentRenderer
    from lending_core.simulator import SimConfig, simulate

    loans = simulate(SimConfig(loans=repeats + 1, months=12, seed=9)).loans
    renderer = DocumentRenderer()

    def render(loan: Any) -> tuple[bytes, bytes]:
        disb = next(e for e in loan.events if e.type == "disbursement")
        return (renderer.contract(loan.contract, loan_id=loan.loan_id),
                renderer.loan_receipt(disb.event["payload"], loan.contract,
                                      loan_id=loan.loan_id, occurred_at=disb.occurred_at))

    render(loans[0])  # loads the fonts; not counted
    shared, fresh, outs = [], [], []
    for loan in loans[1:]:
        t = time.perf_counter()
        out = render(loan)
        shared.append(time.perf_counter() - t)
        with _fresh_fonts():
            t = time.perf_counter()
            outs.append(render(loan) == out)
            fresh.append(time.perf_counter() - t)
    if not all(outs):
        raise AssertionError("the shared font configuration changed a loan document's bytes")
    return {"loan_documents": latency_stats(shared),
            "loan_documents_fresh_fonts": latency_stats(fresh)}


def run(quick: bool = False) -> dict[str, Any]:
    from anchoring.registry import load_artifact
    from cunzheng_verify import Web3ChainView, verify_package
    from dispute.package import deterministic_zip
    from dispute.pdf import require_cjk_font
    from service.cases import build_dispute_package
    from tests.unit.dispute import LOAN_ID, TENANT
    from tests.unit.dispute.packaging import AS_OF, BUILT_AT, make_world, simple_pdf

    warnings.simplefilter("ignore", ResourceWarning)  # WeasyPrint leaves its ICC file open
    repeats = QUICK_REPEATS if quick else REPEATS
    work = Path(tempfile.mkdtemp(prefix="cunzheng-bench-package-"))
    t_world = time.perf_counter()
    world = make_world(work)
    t_world = time.perf_counter() - t_world

    def build(render: Any) -> Any:
        return build_dispute_package(world.ctx, tenant=TENANT, loan_id=LOAN_ID, venue="court",
                                     as_of=AS_OF, signer=world.signer, created_at=BUILT_AT,
                                     render=render)

    stats: dict[str, Any] = {}
    stats["build_minimal_pdf"], light = _series(lambda: build(simple_pdf), repeats)
    try:
        require_cjk_font()
        renderer_missing = None
    except Exception as exc:  # noqa: BLE001 - any reason the renderer cannot run
        renderer_missing = f"{type(exc).__name__}: {exc}"
    full = None
    if renderer_missing is None:
        warnings.simplefilter("ignore", ResourceWarning)  # again: imports since reset it
        build(None)  # the first render loads the fonts; not counted
        stats["build_real_renderer"], full = _series(lambda: build(None), repeats)
        with _fresh_fonts():
            stats["build_real_renderer_fresh_fonts"], before = _series(lambda: build(None),
                                                                       repeats)
        if before.data != full.data:
            raise AssertionError("the shared font configuration changed the package bytes")
        stats.update(_loan_documents(repeats))

    package = full or light
    keys = [world.signer.public_key]

    def offline() -> Any:
        report = verify_package(package.data, trusted_keys=keys)
        report.raise_for_failures()
        return report

    chain = Web3ChainView(world.w3)
    code = load_artifact().deployed_bytecode

    def on_chain() -> Any:
        report = verify_package(package.data, trusted_keys=keys, chain=chain, expected_code=code)
        report.raise_for_failures()
        return report

    stats["verify_offline"], report = _series(offline, repeats)
    stats["verify_with_chain"], _ = _series(on_chain, repeats)
    stats["baseline_zip_same_files"], _ = _series(lambda: deterministic_zip(package.files), repeats)
    stats["baseline_read_and_hash_entries"], _ = _series(lambda: _read_and_hash(package.data),
                                                         repeats)
    items = len(package.manifest["items"])
    rows = [[name, s["calls"], s["median_ms"], s["max_ms"]] for name, s in stats.items()]
    print_table(f"Evidence package ({items} records, {len(package.files)} files, "
                f"{len(package.data):,} bytes with the {'real' if full else 'minimal'} PDF; ms)",
                ["step", "runs", "median", "max"], rows)
    if renderer_missing:
        print(f"  real renderer not measured: {renderer_missing}")
    figures = {
        "records": items, "files": len(package.files), "package_bytes": len(package.data),
        "minimal_pdf_package_bytes": len(light.data),
        "world_setup_s": round(t_world, 2), "renderer_missing": renderer_missing,
        "verification_steps": len(report.steps), "verification_result": report.result,
        **stats,
    }
    save("package", quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
