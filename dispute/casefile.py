"""The case-file PDF (`case/case-file.pdf`): what a judge, arbitrator or notary reads.

`render_case_file(venue, claim, selection, preservation, verify_base_url, attachments,
created_at)` fills `templates/case_file.html` (Jinja2) and renders it with WeasyPrint as
PDF/A-3b, the attachments embedded (AFRelationship `Data`). Parts, each from a new page:
the venue's application (民事起诉状 / 仲裁申请书 / 执行证书申请书) filled from the claim; the
evidence list (证据目录: 序号, 证据名称, 证据来源, 证明对象, 页码) with each evidence id
`<origin>#<leaf_index>` and leaf hash; the interest computation table; the statement of
how the evidence was preserved (record and hash, log, checkpoint signature, chain anchor,
witnesses: what each proves and what it does not); for a package with the loan's history
(v2, `HistoryFacts`), the statement that the log holds k records of the loan up to the
history's anchored checkpoint, all attached and provably complete, with the checkpoint and
the loan index root, and the list of every record (seq, evidence id, type, times; erased
ones marked 已删除 with the erasure's evidence id); the provenance of each exhibit (source
system, references, producer signature, documents, anchoring block, a QR code to
`<verify_base_url>/verify/evidence/<url-encoded evidence id>`); the gaps; the list of
attachments. Pages are numbered "第 n 页 / 共 N 页".

Before rendering, `dispute.pdf.require_cjk_font()` checks that fontconfig has a Chinese
font and raises `CjkFontUnavailable` otherwise: a case file of empty boxes is worse than
none. Deterministic: the same inputs give the same bytes (metadata and attachment dates come
from `created_at`, the PDF /ID is a hash of the content).

Speed. One WeasyPrint `FontConfiguration` (fontconfig set-up, Pango font map, the prepared
CJK subset registered once) is kept per process and reused by every case file rendered in
it; renders in one process take turns on a lock (Pango's font map is not thread-safe). The
case's stylesheet is still parsed per build (its running header names the loan). Many cases
in parallel means several processes, each with its own configuration.

`PreservationFacts.from_manifest(manifest)` reads the facts from a package manifest
(DESIGN.md, Evidence package), so the package builder can pass what it already has.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from cunzheng_verify.erasure import ERASURE_TYPE
from dispute.errors import DisputeError
from dispute.evidence import VENUES, EvidenceSelection, Exhibit, Venue
from dispute.history import LoanHistory
from dispute.pdf import RENDER_LOCK, font_configuration, prepared_font, require_cjk_font
from dispute.wording import CHANNEL_ZH, EVENT_ZH
from lending_core.money import display_money
from lending_core.state import CHINA_TZ

__all__ = ["MAX_ATTACHMENT_BYTES", "Attachment", "CaseFileError", "Checkpoint", "Cosigner",
           "HistoryFacts", "HistoryRow", "PreservationFacts", "evidence_url", "render_case_file"]

TEMPLATES = Path(__file__).with_name("templates")
MAX_ATTACHMENTS = 10_000
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
"""Total bytes embedded in one case file; a package's originals travel beside it, not in it."""

_VENUE_TEXT: dict[str, dict[str, str]] = {
    "court": {"title": "民事起诉状", "claimant": "原告", "respondent": "被告",
              "requests": "诉讼请求", "default_addressee": "人民法院"},
    "arbitration": {"title": "仲裁申请书", "claimant": "申请人", "respondent": "被申请人",
                    "requests": "仲裁请求", "default_addressee": "仲裁委员会"},
    "notary": {"title": "出具执行证书申请书", "claimant": "申请人", "respondent": "被申请人",
               "requests": "申请事项", "default_addressee": "公证处"},
}
_ROLE_ZH = {"borrower": "借款人", "guarantor": "保证人", "mortgagor": "抵押人",
            "pledgor": "出质人", "lender": "贷款人"}
_PAYER_ZH = {"borrower": "借款人还款", "guarantor": "保证人代偿", "other": "第三人代偿"}
_LIABILITY_ZH = {"joint_and_several": "连带责任保证", "general": "一般保证"}
# the step the bank takes at each venue (the venue's name itself is wording.FORUM_ZH)
_FORUM_ACTION_ZH = {"court": "向人民法院起诉", "arbitration": "提交仲裁", "notary": "赋强公证"}
_EVENT_ZH = {**EVENT_ZH, ERASURE_TYPE: "个人信息删除"}


class CaseFileError(DisputeError):
    """The case file cannot be rendered from these inputs."""


class Attachment(NamedTuple):
    """A file embedded in the PDF: a plain `(filename, bytes, description)` tuple works."""

    filename: str
    data: bytes
    description: str


@dataclass(frozen=True, slots=True)
class Cosigner:
    """A witness that cosigned a checkpoint on chain (`name` if the caller knows it)."""

    address: str
    tx_hash: str | None = None
    block_number: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An anchored checkpoint: size and root, and the transaction and block anchoring it."""

    tree_size: int
    root: bytes
    tx_hash: str
    block_number: int
    block_hash: str
    block_time: str  # UTC RFC 3339
    cosigners: tuple[Cosigner, ...] = ()


@dataclass(frozen=True, slots=True)
class PreservationFacts:
    """How the evidence was preserved: the log, its key, the chain and the checkpoints."""

    log_origin: str
    log_key_name: str
    log_public_key: str  # base64
    chain_id: int
    contract: str
    checkpoints: tuple[Checkpoint, ...]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any],
                      witness_names: Mapping[str, str] | None = None) -> PreservationFacts:
        """From a package manifest's `log`, `chain` and `checkpoints` (DESIGN.md)."""
        names = {k.lower(): v for k, v in (witness_names or {}).items()}
        try:
            cps = tuple(
                Checkpoint(
                    int(c["tree_size"]), bytes.fromhex(c["root"]), str(c["anchor"]["tx_hash"]),
                    int(c["anchor"]["block_number"]), str(c["anchor"]["block_hash"]),
                    _utc_text(c["anchor"]["block_time"]),
                    tuple(Cosigner(str(w["address"]), w.get("tx_hash"), w.get("block_number"),
                                   names.get(str(w["address"]).lower()))
                          for w in c.get("cosigners", ())),
                )
                for c in manifest["checkpoints"]
            )
            return cls(str(manifest["log"]["origin"]), str(manifest["log"]["key_name"]),
                       str(manifest["log"]["public_key"]), int(manifest["chain"]["chain_id"]),
                       str(manifest["chain"]["contract"]), cps)
        except (KeyError, TypeError, ValueError) as exc:
            raise CaseFileError(f"the manifest lacks a preservation fact: {exc!r}") from None

    def covering(self, leaf_index: int) -> Checkpoint | None:
        """The earliest checkpoint containing the leaf: its block time bounds the record."""
        sizes = [c for c in self.checkpoints if c.tree_size > leaf_index]
        return min(sizes, key=lambda c: c.tree_size) if sizes else None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One record of the loan's history as the case file lists it (`event_type` and the
    times are None for an erased record, `erased_by` then the erasure's evidence id)."""

    seq: int
    evidence_id: str
    leaf_hash: str
    event_type: str | None
    occurred_at: str | None
    received_at: str | None
    erased_by: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryFacts:
    """The loan's history at an anchored checkpoint: how many records the loan index counts,
    from which place the chain proves them (`proved_from`, 1: all), the checkpoint, its
    anchor's block time (UTC RFC 3339) and index root (hex), and every record."""

    checkpoint_size: int
    anchored_at: str
    index_root: str
    count: int
    proved_from: int
    rows: tuple[HistoryRow, ...]

    @classmethod
    def from_history(cls, history: LoanHistory, manifest: Mapping[str, Any]) -> HistoryFacts:
        """From the builder's history and the manifest's checkpoint it was taken at."""
        size = history.checkpoint_size
        try:
            cp = next(c for c in manifest["checkpoints"] if c["tree_size"] == size)
            anchored = _utc_text(cp["anchor"]["block_time"])
        except (StopIteration, KeyError, TypeError) as exc:
            raise CaseFileError(f"the manifest lacks the history's checkpoint {size}: "
                                f"{exc!r}") from None
        rows = tuple(
            HistoryRow(r.seq, history.evidence_id(r), r.leaf_hash.hex(),
                       None if r.content is None else str(r.content.get("type")),
                       None if r.content is None else str(r.content.get("occurred_at")),
                       None if r.content is None else str(r.content.get("received_at")),
                       r.erased_by)
            for r in history.records)
        return cls(size, anchored, history.index_root.hex(), history.count,
                   history.proved_from, rows)


def _utc_text(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def evidence_url(verify_base_url: str, evidence_id: str) -> str:
    """Where the verification API answers for one evidence id."""
    return f"{verify_base_url.rstrip('/')}/verify/evidence/{quote(evidence_id, safe='')}"


def _qr(url: str) -> str:
    import segno

    return str(segno.make(url, error="m").svg_data_uri(scale=4, border=2))


def _beijing(utc: str) -> str:
    """`2026-08-02T02:00:00Z` as `2026年8月2日10:00:00（北京时间）`."""
    try:
        moment = datetime.fromisoformat(utc)
    except ValueError:
        return utc
    if moment.tzinfo is None:
        return utc
    local = moment.astimezone(CHINA_TZ)
    return f"{local.year}年{local.month}月{local.day}日{local:%H:%M:%S}（北京时间）"


def _pct(value: Any) -> str:
    return f"{(Decimal(str(value)) * 100).normalize():f}%"


def _exhibit_view(e: Exhibit, preservation: PreservationFacts, base_url: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "no": e.no, "title": e.title, "source": e.source, "purpose": e.purpose,
        "anchor": f"ex-{e.no}", "evidence_id": None, "leaf_hash": e.leaf_hash_hex,
        "event_id": e.event_id, "event_type": e.event_type, "occurred_at": e.occurred_at,
        "received_at": e.received_at, "source_system": e.source_system,
        "source_refs": e.source_refs, "producer_key_id": e.producer_key_id,
        "documents": e.documents, "checkpoint": None,
    }
    if e.leaf_index is not None:
        eid = f"{preservation.log_origin}#{e.leaf_index}"
        url = evidence_url(base_url, eid)
        view.update(evidence_id=eid, url=url, qr=_qr(url),
                    checkpoint=preservation.covering(e.leaf_index))
    return view


def _template_env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html"]), keep_trailing_newline=True)
    env.filters["yuan"] = display_money
    env.filters["pct"] = _pct
    return env


def _css_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render_case_file(
    venue: Venue,
    claim: Mapping[str, Any],
    selection: EvidenceSelection,
    preservation: PreservationFacts,
    verify_base_url: str,
    attachments: Sequence[Attachment | tuple[str, bytes, str]],
    created_at: datetime,
    history: HistoryFacts | None = None,
) -> bytes:
    """The case file as PDF/A-3b bytes (see the module docstring); `history` for a package
    that carries the loan's history.

    Raises `CjkFontUnavailable` when no Chinese font is installed and `CaseFileError` when
    the inputs disagree (venue, attachment limits, a naive `created_at`)."""
    if venue not in VENUES or selection.venue != venue or claim.get("venue") != venue:
        raise CaseFileError(f"expected venue {venue!r} for the case file, the selection and "
                            f"the claim; found {selection.venue!r} and {claim.get('venue')!r}")
    if created_at.tzinfo is None:
        raise CaseFileError("expected created_at with a timezone, found a naive datetime")
    files = [Attachment(*a) for a in attachments]
    if len(files) > MAX_ATTACHMENTS or sum(len(a.data) for a in files) > MAX_ATTACHMENT_BYTES:
        raise CaseFileError(f"expected at most {MAX_ATTACHMENTS} attachments and "
                            f"{MAX_ATTACHMENT_BYTES} bytes embedded, found {len(files)} and "
                            f"{sum(len(a.data) for a in files)}")
    if len({a.filename for a in files}) != len(files):
        raise CaseFileError("expected each attachment name once, found a repeated one")
    face = require_cjk_font()
    subset = prepared_font(face)
    stack = (f'CunzhengCJK, "{face.family}", serif' if subset else f'"{face.family}", serif')
    created = created_at.astimezone(UTC).replace(microsecond=0)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    env = _template_env()
    text = _VENUE_TEXT[venue]
    dr = claim["dispute_resolution"]
    addressee = dr["institution"] if dr["venue"] == venue else text["default_addressee"]
    exhibits = [_exhibit_view(e, preservation, verify_base_url) for e in selection.exhibits]
    groups: dict[str, str] = {}
    for e in selection.exhibits:
        groups.setdefault(e.group, e.no.split("-")[0])
    css = env.get_template("case_file.css").render(
        font_url=(subset.resolve().as_uri() if subset else ""), font_stack=stack,
        header=_css_text(f"{text['title']} · {claim['loan_id']} · {claim['accrued_to_label']}"))
    if not subset:
        css = css.split("\n", 3)[3]  # no @font-face without a prepared font
    html = env.get_template("case_file.html").render(
        venue=venue, v={**text, "addressee": addressee}, claim=claim, exhibits=exhibits,
        gaps=selection.gaps, p=preservation, verify_base_url=verify_base_url,
        attachments=[{"filename": a.filename, "description": a.description,
                      "size": len(a.data), "sha256": hashlib.sha256(a.data).hexdigest()}
                     for a in files],
        anchors={g: next((x["anchor"] for x in exhibits
                          if x["no"].split("-")[0] == groups.get(g)), g)
                 for g in ("computation", "preservation")},
        groups=groups, stamp=stamp, css=css, role_zh=_ROLE_ZH, payer_zh=_PAYER_ZH,
        history=history, event_zh=_EVENT_ZH,
        history_at=_beijing(history.anchored_at) if history else "",
        liability_zh=_LIABILITY_ZH, forum_zh=_FORUM_ACTION_ZH, channel_zh=CHANNEL_ZH,
        date_zh=f"{created.year}年{created.month}月{created.day}日")
    return _write_pdf(html, files, created, subset.resolve().as_uri() if subset else "")


def _write_pdf(html: str, files: Sequence[Attachment], created: datetime,
               font_url: str) -> bytes:
    from weasyprint import HTML
    from weasyprint import Attachment as PdfAttachment

    naive = created.replace(tzinfo=None)
    embedded = [
        PdfAttachment(file_obj=io.BytesIO(a.data), name=a.filename, description=a.description,
                      created=naive, modified=naive, relationship="Data")
        for a in files
    ]
    with RENDER_LOCK:
        pdf: bytes = HTML(string=html, base_url=str(TEMPLATES)).write_pdf(
            pdf_variant="pdf/a-3b", attachments=embedded, uncompressed_pdf=False,
            font_config=font_configuration(font_url))
    return pdf

