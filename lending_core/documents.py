"""Loan documents as PDFs: the loan contract (借款合同) and the loan receipt (借据), in Chinese.

Rendered with WeasyPrint from HTML, with a CJK font found through fontconfig (Debian:
`fonts-noto-cjk`). Without one every Chinese character would come out as a box, so
`cjk_font()` raises `FontUnavailable` instead, saying how to install one.

Speed. Subsetting a whole Noto CJK collection (65,535 CFF glyphs) takes WeasyPrint about
20 s per PDF. So the font is prepared once and cached on disk: the GB 2312 repertoire
(7,445 characters: every character the simulator and ordinary Chinese business text use),
outlines converted to TrueType, layout tables dropped. A PDF then takes well under a second.
A character outside that repertoire raises `MissingGlyphs` naming it, again rather than
rendering a box. Within one process the renderer keeps one WeasyPrint `FontConfiguration`
(fontconfig set-up, Pango font map, the prepared font registered once) and the parsed
stylesheet across documents (`_WeasyCache`): without them every PDF reloaded fontconfig and
re-registered the 2.7 MB font, about half of a loan's render time. Renders in one process are
serialised by a lock (Pango's font map is not thread-safe; the render holds the GIL anyway).

Determinism. The same inputs give the same bytes: the metadata dates and the embedded
font's timestamp (`SOURCE_DATE_EPOCH`, set only while rendering) come from the document's
own date, and the second half of the PDF trailer's `/ID` (random in WeasyPrint)
is replaced by a hash of the file, so a rerun of the simulator uploads the same documents
under the same SHA-256.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lending_core.errors import LendingError

__all__ = [
    "FONT_CACHE_VERSION",
    "PDF_MEDIA_TYPE",
    "CjkFont",
    "DocumentRenderer",
    "FontUnavailable",
    "MissingGlyphs",
    "cjk_font",
    "default_cache_dir",
]

PDF_MEDIA_TYPE = "application/pdf"
FONT_CACHE_VERSION = "1"
"""Bump when the preparation of the cached font changes."""

CJK_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC",
                "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
"""Families tried in order; the first that fontconfig really has wins."""

_INSTALL_HINT = ("install one, e.g. `apt-get install -y fonts-noto-cjk` (Debian/Ubuntu), "
                 "then check with `fc-list | grep -i cjk`")
_LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "vhea", "vmtx", "VORG", "DSIG")
_PDF_ID = re.compile(rb"/ID \[\(([0-9a-f]{32})\) \(([0-9a-f]{32})\)\]")


class FontUnavailable(LendingError):
    """No CJK font is installed: Chinese documents cannot be rendered faithfully."""


class MissingGlyphs(LendingError):
    """Text to render has characters the prepared CJK font lacks."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A CJK font file as fontconfig names it (`index` selects a face in a collection)."""

    family: str
    path: Path
    index: int


def cjk_font() -> CjkFont:
    """The first installed family of `CJK_FAMILIES`; raises `FontUnavailable` if none is."""
    if shutil.which("fc-match") is None:
        raise FontUnavailable("fontconfig (fc-match) is not installed, so no CJK font can be "
                              "found; " + _INSTALL_HINT)
    for family in CJK_FAMILIES:
        out = subprocess.run(["fc-match", "-f", "%{family}\n%{file}\n%{index}", family],
                             capture_output=True, text=True, check=False).stdout.split("\n")
        if len(out) >= 3 and family in out[0].split(",") and Path(out[1]).is_file():
            return CjkFont(family, Path(out[1]), int(out[2] or 0))
    raise FontUnavailable("no CJK font found (tried " + ", ".join(CJK_FAMILIES) + "); "
                          "Chinese text would render as boxes; " + _INSTALL_HINT)


def _gb2312() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    chars.update("￥¥·—“”‘’…、。，：；！？（）《》〔〕【】　×÷≤≥％")
    return "".join(sorted(chars))


def _prepare_font(source: CjkFont, target: Path) -> None:
    """Subset `source` to GB 2312, convert CFF outlines to TrueType, drop layout tables."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(str(source.path), fontNumber=source.index, lazy=False)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=_gb2312())
    subsetter.subset(font)
    for table in _LAYOUT_TABLES:
        if table in font:
            del font[table]
    if "CFF " in font:  # TrueType outlines subset an order of magnitude faster in WeasyPrint
        order = font.getGlyphOrder()
        glyphs = font.getGlyphSet()
        glyf = newTable("glyf")
        glyf.glyphOrder = order
        glyf.glyphs = {}
        for name in order:
            pen = TTGlyphPen(glyphs)
            glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            glyf[name] = pen.glyph()
        font["glyf"] = glyf
        font["loca"] = newTable("loca")
        maxp = font["maxp"]
        maxp.tableVersion = 0x00010000
        for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                     "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
                     "maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours",
                     "maxComponentDepth"):
            setattr(maxp, attr, 0)
        maxp.maxZones = 1
        font["head"].glyphDataFormat = 0
        font["post"].formatType = 3.0
        del font["CFF "]
        font.sfntVersion = "\x00\x01\x00\x00"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    font.save(str(partial))
    partial.replace(target)  # atomic: a concurrent renderer never sees half a font


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _e(value: Any) -> str:
    return html.escape(str(value))


_CSS = """
@font-face { font-family: CunzhengCJK; src: url(%(font)s); }
@page { size: A4; margin: 22mm 20mm; @bottom-center { content: "第 " counter(page) " 页";
  font-family: CunzhengCJK; font-size: 9pt; } }
body { font-family: CunzhengCJK; font-size: 10.5pt; line-height: 1.7; }
h1 { text-align: center; font-size: 18pt; letter-spacing: 4pt; margin-bottom: 4mm; }
p.no { text-align: right; font-size: 9pt; }
table { border-collapse: collapse; width: 100%%; margin: 3mm 0; }
td, th { border: 0.6pt solid #333; padding: 1.5mm 2mm; font-size: 10pt; }
th { background: #eee; font-weight: normal; width: 30%%; text-align: left; }
h2 { font-size: 12pt; margin: 4mm 0 1mm; }
"""


class _WeasyCache:
    """One WeasyPrint font configuration and parsed stylesheet per process and font file.

    Keyed by the process id too: a forked worker builds its own (fontconfig and Pango state
    are not meant to cross a fork)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._key: tuple[int, str] | None = None
        self._value: tuple[Any, Any] | None = None

    def get(self, font_path: Path) -> tuple[Any, Any]:
        """(FontConfiguration, CSS) for `font_path`; call with `lock` held."""
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        key = (os.getpid(), str(font_path.resolve()))
        if self._key != key or self._value is None:
            config = FontConfiguration()
            css = CSS(string=_CSS % {"font": font_path.resolve().as_uri()}, font_config=config)
            self._key, self._value = key, (config, css)
        return self._value


_WEASY = _WeasyCache()


def default_cache_dir() -> Path:
    """Where the prepared font is kept unless the caller says otherwise."""
    return Path.home() / ".cache" / "cunzheng" / "fonts"


class DocumentRenderer:
    """Renders loan documents; prepares (once) and caches the CJK font under `cache_dir`."""

    def __init__(self, cache_dir: Path | None = None, font: CjkFont | None = None) -> None:
        cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        source = font or cjk_font()
        stat = source.path.stat()
        key = hashlib.sha256(f"{FONT_CACHE_VERSION}|{source.path}|{source.index}|"
                             f"{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:16]
        self.font_path = Path(cache_dir) / f"cunzheng-cjk-{key}.ttf"
        if not self.font_path.is_file():
            _prepare_font(source, self.font_path)
        self._repertoire = frozenset(_gb2312())

    def _check(self, texts: Iterable[str]) -> None:
        missing = sorted({c for t in texts for c in t if c not in self._repertoire
                          and c not in "\n\t"})
        if missing:
            raise MissingGlyphs("the prepared CJK font (GB 2312) lacks " + " ".join(
                f"{c!r} (U+{ord(c):04X})" for c in missing[:20])
                + "; they would render as boxes")

    def _pdf(self, title: str, created: datetime, body: str, texts: list[str]) -> bytes:
        from weasyprint import HTML

        self._check([title, *texts])
        stamp = created.strftime("%Y-%m-%dT%H:%M:%S%z")
        doc = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
               f"<title>{_e(title)}</title>"
               f'<meta name="dcterms.created" content="{stamp}">'
               f'<meta name="dcterms.modified" content="{stamp}">'
               f'<meta name="generator" content="cunzheng lending_core.documents">'
               f"</head><body>{body}</body></html>")
        # fontTools stamps the embedded font subset's `head.modified` with the time now
        # unless SOURCE_DATE_EPOCH is set (reproducible builds); use the document's date.
        with _WEASY.lock:
            config, css = _WEASY.get(self.font_path)
            saved = os.environ.get("SOURCE_DATE_EPOCH")
            os.environ["SOURCE_DATE_EPOCH"] = str(int(created.timestamp()))
            try:
                raw: bytes = HTML(string=doc).write_pdf(
                    stylesheets=[css], font_config=config,
                    pdf_identifier=b"cunzheng" + b"0" * 8)
            finally:
                if saved is None:
                    del os.environ["SOURCE_DATE_EPOCH"]
                else:
                    os.environ["SOURCE_DATE_EPOCH"] = saved
        return _fix_id(raw)

    def contract(self, contract: Mapping[str, Any], *, loan_id: str) -> bytes:
        """借款合同 for a `contract_signed` payload (as posted)."""
        c = contract
        lender = next(p for p in c["parties"] if p["role"] == "lender")
        borrower = next(p for p in c["parties"] if p["role"] == "borrower")
        method = {"equal_installment": "等额本息", "equal_principal": "等额本金",
                  "interest_only": "按月付息、到期还本"}[c["repayment_method"]]
        signed = datetime.fromisoformat(c["e_signature"]["signed_at"])
        rate = Decimal(c["annual_rate"]) * 100
        dr = c["dispute_resolution"]
        venue = {"notary": "向{}申请办理具有强制执行效力的债权文书公证",
                 "arbitration": "提交{}在线仲裁", "court": "向{}提起诉讼"}[dr["venue"]].format(
                     dr["institution"])
        channels = "；".join(f"{ch['channel']}：{ch['address']}"
                            for ch in c["service_address"]["channels"])
        rows = [("合同编号", c["contract_no"]), ("贷款编号", loan_id),
                ("贷款人（甲方）", f"{lender['name']}（统一社会信用代码 {lender['credit_code']}）"),
                ("借款人（乙方）",
                 f"{borrower['name']}（统一社会信用代码 {borrower['credit_code']}）"),
                ("产品", c["product_code"]), ("借款金额", f"人民币 {_money(c['amount'])} 元"),
                ("借款期限", f"{c['term_months']} 个月"), ("年利率", f"{rate.normalize():f}%"),
                ("还款方式", method), ("每月还款日", f"每月 {c.get('due_day') or '-'} 日"),
                ("首期还款日", c.get("first_due_date") or "-")]
        clauses = [
            ("第八条 逾期罚息", f"乙方未按期还款的，甲方有权自逾期之日起按合同利率上浮 "
             f"{Decimal(c['penalty']['markup']) * 100:.0f}% 计收罚息（第 "
             f"{c['penalty']['clause_no']} 款）。"
             + ("对不能按时支付的利息，按罚息利率计收复利（第 "
                f"{c['compound_interest']['clause_no']} 款）。"
                if c["compound_interest"]["allowed"] else "")),
            ("第九条 提前到期", ("乙方连续两期未按期足额还款的，甲方有权宣布贷款提前到期，"
             "要求乙方立即偿还全部借款本金、利息、罚息和复利。")),
            ("第十五条 争议解决",
             f"因本合同发生的争议，双方同意{venue}（第 {dr['clause_no']} 款）。"),
            ("第十六条 送达地址确认", (f"乙方确认送达地址为{c['service_address']['address']}，"
             f"并同意通过以下方式接收通知：{channels}（第 {c['service_address']['clause_no']} "
             f"款）。")),
            ("电子签名",
             (f"本合同由乙方于 {signed.strftime('%Y年%m月%d日 %H:%M')} 以电子签名方式签署，"
             f"数字证书序列号 {c['e_signature']['certificate_serial']}。")),
        ]
        body = (f"<h1>流动资金借款合同</h1><p class='no'>合同编号：{_e(c['contract_no'])}</p>"
                + "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
                + "</table>" + "".join(f"<h2>{_e(h)}</h2><p>{_e(t)}</p>" for h, t in clauses))
        texts = [str(v) for _, v in rows] + [h + t for h, t in clauses]
        return self._pdf(f"借款合同 {c['contract_no']}", signed, body, texts)

    def loan_receipt(self, disbursement: Mapping[str, Any], contract: Mapping[str, Any], *,
                     loan_id: str, occurred_at: datetime) -> bytes:
        """借据 for a `disbursement` payload under its contract."""
        d, c = disbursement, contract
        borrower = next(p for p in c["parties"] if p["role"] == "borrower")
        rows = [("借据编号", d["receipt_no"]), ("合同编号", c["contract_no"]),
                ("贷款编号", loan_id), ("借款人", borrower["name"]),
                ("放款金额", f"人民币 {_money(d['amount'])} 元"), ("收款账户", d["account"]),
                ("起息日", d["value_date"]), ("清算流水号", d["clearing_ref"]),
                ("年利率", f"{(Decimal(c['annual_rate']) * 100).normalize():f}%"),
                ("期限", f"{c['term_months']} 个月")]
        body = ("<h1>借 据</h1><p class='no'>借据编号：" + _e(d["receipt_no"]) + "</p><table>"
                + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
                + "</table><p>借款人确认已收到上述借款，并按借款合同约定按期还本付息。</p>")
        return self._pdf(f"借据 {d['receipt_no']}", occurred_at, body, [str(v) for _, v in rows])


def _fix_id(pdf: bytes) -> bytes:
    """Replace the random half of the trailer /ID by a hash of the rest of the file."""
    match = _PDF_ID.search(pdf)
    if match is None:
        return pdf
    blank = pdf[: match.start(2)] + b"0" * 32 + pdf[match.end(2):]
    stable = hashlib.md5(blank, usedforsecurity=False).hexdigest().encode()
    return pdf[: match.start(2)] + stable + pdf[match.end(2):]
