"""Building a case from the legal workbench: the same adapter as `cunzheng case build`
(`service.cases.build_dispute_package`), signed with the bank's package key, the zip
kept under `<data_dir>/cases/` so it can be downloaded again (the package and, from inside
it, the case-file PDF).

When the dispute module or its case-file renderer is not in this build yet, `build`
raises `CaseBuildUnavailable`, which the page shows as "not available yet" rather than an
error. Package ids are checked against a strict pattern before any file is touched.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from anchoring.errors import AnchoringError
from anchoring.keyfiles import write_atomic
from cunzheng_verify.format import CASE_FILE, VENUES  # the package format's one copy
from cunzheng_verify.zipread import peek_manifest
from service.context import AppContext
from service.errors import CaseBuildUnavailable

CASES_DIR = "cases"
PACKAGE_ID = re.compile(r"pkg-[0-9a-f]{32}")
VENUE_LABELS = {"court": ("互联网法院", "internet court"),
                "arbitration": ("在线仲裁", "online arbitration"),
                "notary": ("赋强公证", "notarization with enforcement")}


@dataclass(frozen=True, slots=True)
class BuiltCase:
    package_id: str
    path: Path
    manifest: dict[str, Any]
    has_pdf: bool


def cases_dir(ctx: AppContext) -> Path:
    return ctx.settings.data_dir / CASES_DIR


def builder_available() -> tuple[bool, str]:
    """Whether a case can be built here, and why not."""
    try:
        from service.cases import build_dispute_package  # noqa: F401
    except ImportError as exc:
        return False, f"the package builder is not in this build: {exc}"
    try:
        from dispute import casefile
    except ImportError as exc:
        return False, f"the case-file renderer is not in this build: {exc}"
    if not hasattr(casefile, "render_case_file"):
        return False, "the case-file renderer (dispute.casefile.render_case_file) is not ready"
    return True, ""


def build(ctx: AppContext, *, tenant: str, loan_id: str, venue: str, as_of: date) -> BuiltCase:
    """Build, sign and store the package; raises `CaseBuildUnavailable` or the builder's
    own `PackageError` (for example `NotYetAnchored`)."""
    if venue not in VENUES:
        raise AnchoringError(f"venue must be one of {', '.join(VENUES)}; got {venue[:40]!r}")
    ok, why = builder_available()
    if not ok:
        raise CaseBuildUnavailable(why)
    from dispute.errors import PackageError
    from service.cases import build_dispute_package
    from service.logkey import package_signer_for

    signer = package_signer_for(ctx.settings)
    try:
        built = build_dispute_package(ctx, tenant=tenant, loan_id=loan_id, venue=venue,
                                      as_of=as_of, signer=signer)
    except PackageError as exc:
        if "renderer is not available" in str(exc):
            raise CaseBuildUnavailable(str(exc)) from None
        raise
    path = cases_dir(ctx) / f"{built.package_id}.zip"
    write_atomic(path, built.data)
    return BuiltCase(built.package_id, path, built.manifest, CASE_FILE in built.files)


def package_path(ctx: AppContext, package_id: str) -> Path | None:
    if not PACKAGE_ID.fullmatch(package_id):
        return None
    path = cases_dir(ctx) / f"{package_id}.zip"
    return path if path.is_file() else None


def case_pdf(path: Path) -> bytes | None:
    try:
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
            return zf.read(CASE_FILE)
    except (KeyError, zipfile.BadZipFile):
        return None


def built_cases(ctx: AppContext, loan_id: str | None = None,
                tenant: str | None = None) -> list[dict[str, Any]]:
    """Packages already built (newest first), optionally of one loan."""

    folder = cases_dir(ctx)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("pkg-*.zip"), key=lambda p: p.stat().st_mtime, reverse=True):
        if not PACKAGE_ID.fullmatch(path.stem):
            continue
        manifest = peek_manifest(path)
        if manifest is None:
            continue
        loan = manifest.get("loan") or {}
        if loan_id is not None and (loan.get("loan_id") != loan_id or loan.get("tenant") != tenant):
            continue
        out.append({"package_id": path.stem, "venue": manifest.get("venue"),
                    "created_at": manifest.get("created_at"), "loan_id": loan.get("loan_id"),
                    "tenant": loan.get("tenant"), "items": len(manifest.get("items") or []),
                    "size": path.stat().st_size})
        if len(out) >= 50:
            break
    return out
