"""Fonts and PDF rendering: the one CJK font finder, its prepared subset, and WeasyPrint.

Every PDF this project writes is Chinese: the case file (`dispute.casefile`) and the
simulated loan documents (`lending_core.documents` writes their pages, `DocumentRenderer`
renders them). Without a CJK font WeasyPrint still writes a PDF, with every Chinese character
an empty box, and nothing fails: so `require_cjk_font()` asks fontconfig first and raises
`CjkFontUnavailable`, saying how to install one. It takes the first of `PREFERRED_FAMILIES`
fontconfig has (`fc-match`, the family's regular face), else any face fontconfig lists for
Chinese (`fc-list :lang=zh`); both honour `FONTCONFIG_FILE` as WeasyPrint's fontconfig does.

Speed. Subsetting a whole Noto CJK collection (65,535 CFF glyphs) takes WeasyPrint 12-20 s
per PDF. So `prepared_font()` prepares the face once and caches it on disk: the GB 2312
repertoire (7,445 characters: every character the simulator and ordinary Chinese business
text use), outlines converted to TrueType, layout tables dropped; a PDF then takes well under
a second. A loan document with a character outside that repertoire raises `MissingGlyphs`
naming it rather than rendering a box (the case file keeps the full face behind the subset
in its CSS font stack instead: slower, never a box). Within one process WeasyPrint's
`FontConfiguration` (fontconfig set-up, Pango font map, the prepared font registered) is kept
per font and shared by every render, and the loan documents' stylesheet is parsed once
(`_WeasyCache`): without them every PDF reloaded fontconfig and re-registered the 2.7 MB font.
Renders in one process take turns on `RENDER_LOCK` (Pango's font map is not thread-safe).

Determinism. The same inputs give the same bytes: a loan document's metadata dates and the
embedded font's timestamp (`SOURCE_DATE_EPOCH`, set only while rendering) come from the
document's own date, and the second half of the PDF trailer's `/ID` (random in WeasyPrint)
is replaced by a hash of the file, so a rerun of the simulator uploads the same documents
under the same SHA-256.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from anchoring.keyfiles import write_atomic
from dispute.errors import DisputeError
from lending_core import documents
from lending_core.documents import LoanDocument

__all__ = ["FONT_CACHE_VERSION", "PDF_MEDIA_TYPE", "PREFERRED_FAMILIES", "RENDER_LOCK",
           "CjkFont", "CjkFontUnavailable", "DocumentRenderer", "MissingGlyphs",
           "default_cache_dir", "font_configuration", "prepared_font", "require_cjk_font"]

PDF_MEDIA_TYPE = "application/pdf"
FONT_CACHE_VERSION = "1"
"""Bump when the preparation of the cached font changes."""

PREFERRED_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC",
                      "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
"""Families tried in order; after them, any face fontconfig lists for Chinese."""

FC_TIMEOUT_SECONDS = 30

INSTALL_HINT = ("install a CJK font, e.g. `apt-get install -y fonts-noto-cjk` (Debian/Ubuntu), "
                "then check with `fc-list :lang=zh`")

_LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "vhea", "vmtx", "VORG", "DSIG")
_PDF_ID = re.compile(rb"/ID \[\(([0-9a-f]{32})\) \(([0-9a-f]{32})\)\]")
_FONT_FACE = "\n@font-face { font-family: %s; src: url(%s); }\n"


class CjkFontUnavailable(DisputeError):
    """No font covering Chinese is installed: the PDF would print empty boxes."""


class MissingGlyphs(DisputeError):
    """Text to render has characters the prepared CJK font lacks."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font face as fontconfig names it (`index` selects a face in a collection)."""

    family: str
    path: Path
    index: int


# --- finding the font ---------------------------------------------------------------------

def _fc(*args: str) -> str:
    """The output of a fontconfig tool, in the caller's environment."""
    try:
        return subprocess.run(list(args), capture_output=True, text=True, check=False,
                              env=dict(os.environ), timeout=FC_TIMEOUT_SECONDS).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CjkFontUnavailable(f"{args[0]} failed ({exc}); " + INSTALL_HINT) from None


def _preferred(family: str) -> CjkFont | None:
    """The face fontconfig picks for `family`, if it really has that family."""
    out = _fc("fc-match", "-f", "%{family}\n%{file}\n%{index}", family).split("\n")
    if len(out) >= 3 and family in out[0].split(",") and Path(out[1]).is_file():
        return CjkFont(family, Path(out[1]), int(out[2] or 0))
    return None


def _chinese_faces() -> list[CjkFont]:
    faces: list[CjkFont] = []
    for line in _fc("fc-list", ":lang=zh", "family", "file", "index").splitlines():
        # "<file>: <family>[,<family>...]:index=<n>"
        path, _, rest = line.partition(": ")
        families, _, index = rest.rpartition(":index=")
        if path and Path(path).is_file():
            faces.extend(CjkFont(family.strip(), Path(path), int(index or 0))
                         for family in families.split(","))
    return faces


def require_cjk_font() -> CjkFont:
    """The first installed family of `PREFERRED_FAMILIES`, else the first face (by family,
    file, index) fontconfig lists for Chinese; raises `CjkFontUnavailable` if there is none."""
    if shutil.which("fc-match") is None or shutil.which("fc-list") is None:
        raise CjkFontUnavailable("fontconfig (fc-match, fc-list) is not installed, so no CJK "
                                 "font can be found; install fontconfig and " + INSTALL_HINT)
    for family in PREFERRED_FAMILIES:
        face = _preferred(family)
        if face is not None:
            return face
    faces = _chinese_faces()
    if not faces:
        raise CjkFontUnavailable("no font covering Chinese is installed (tried "
                                 + ", ".join(PREFERRED_FAMILIES) + ", and fc-list :lang=zh "
                                 "lists none): Chinese text would print as empty boxes; "
                                 + INSTALL_HINT)
    return min(faces, key=lambda f: (f.family, str(f.path), f.index))


# --- the prepared subset ------------------------------------------------------------------

def default_cache_dir() -> Path:
    """Where the prepared font is kept unless the caller says otherwise."""
    return Path.home() / ".cache" / "cunzheng" / "fonts"


def gb2312() -> str:
    """The characters the prepared font keeps: printable ASCII, GB 2312, a few symbols."""
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    chars.update("￥¥·—“”‘’…、。，：；！？（）《》〔〕【】　×÷≤≥％")
    return "".join(sorted(chars))


def prepared_font(face: CjkFont, cache_dir: Path | None = None) -> Path:
    """The cached GB 2312 subset of `face` under `cache_dir`, prepared on first use."""
    stat = face.path.stat()
    key = hashlib.sha256(f"{FONT_CACHE_VERSION}|{face.path}|{face.index}|"
                         f"{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:16]
    path = Path(cache_dir if cache_dir is not None else default_cache_dir())
    path = path / f"cunzheng-cjk-{key}.ttf"
    if not path.is_file():
        _prepare_font(face, path)
    return path


def _prepare_font(source: CjkFont, target: Path) -> None:
    """Subset `source` to GB 2312, convert CFF outlines to TrueType, drop layout tables."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source.path), fontNumber=source.index, lazy=False)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=gb2312())
    subsetter.subset(font)
    for table in _LAYOUT_TABLES:
        if table in font:
            del font[table]
    if "CFF " in font:  # TrueType outlines subset an order of magnitude faster in WeasyPrint
        _cff_to_truetype(font)
    out = io.BytesIO()
    font.save(out)
    write_atomic(target, out.getvalue())  # a concurrent renderer never sees half a font


def _cff_to_truetype(font: Any) -> None:
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

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


# --- WeasyPrint ---------------------------------------------------------------------------

RENDER_LOCK = threading.Lock()
"""Held around every WeasyPrint render in this process (and while using `_WEASY`)."""

_MAX_FONTS = 4


class _WeasyCache:
    """WeasyPrint font configurations per font URL and parsed stylesheets, for one process.

    Keyed by the process id too: a forked worker builds its own (fontconfig and Pango state
    are not meant to cross a fork). One configuration per prepared font's URL, so the family
    `CunzhengCJK` never names two files in one configuration."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._configs: dict[str, Any] = {}
        self._sheets: dict[tuple[str, str], Any] = {}

    def config(self, font_url: str) -> Any:
        """The FontConfiguration for `font_url`; call with `RENDER_LOCK` held."""
        from weasyprint.text.fonts import FontConfiguration

        if self._pid != os.getpid() or (font_url not in self._configs
                                        and len(self._configs) >= _MAX_FONTS):
            self._pid = os.getpid()
            self.clear()
        if font_url not in self._configs:
            self._configs[font_url] = FontConfiguration()
        return self._configs[font_url]

    def with_stylesheet(self, css: str, font_url: str) -> tuple[Any, Any]:
        """(FontConfiguration, CSS parsed with it) for `font_url`; call with the lock held."""
        from weasyprint import CSS

        config = self.config(font_url)
        if (font_url, css) not in self._sheets:
            self._sheets[(font_url, css)] = CSS(string=css, font_config=config)
        return config, self._sheets[(font_url, css)]

    def clear(self) -> None:
        """Drop every configuration (each removes its copy of the font from a temporary
        folder when deleted: at exit, before the interpreter takes `shutil` apart)."""
        self._sheets.clear()
        self._configs.clear()


_WEASY = _WeasyCache()
atexit.register(_WEASY.clear)


def font_configuration(font_url: str) -> Any:
    """This process's WeasyPrint FontConfiguration for the prepared font at `font_url` (""
    for none); call with `RENDER_LOCK` held."""
    return _WEASY.config(font_url)


class DocumentRenderer:
    """Renders loan documents (`lending_core.documents`) to PDF with the prepared CJK font,
    prepared once and cached under `cache_dir`."""

    def __init__(self, cache_dir: Path | None = None, font: CjkFont | None = None) -> None:
        self.font_path = prepared_font(font or require_cjk_font(), cache_dir)
        self._repertoire = frozenset(gb2312())

    def _check(self, texts: Iterable[str]) -> None:
        missing = sorted({c for t in texts for c in t if c not in self._repertoire
                          and c not in "\n\t"})
        if missing:
            raise MissingGlyphs("the prepared CJK font (GB 2312) lacks " + " ".join(
                f"{c!r} (U+{ord(c):04X})" for c in missing[:20])
                + "; they would render as boxes")

    def render(self, doc: LoanDocument) -> bytes:
        """The PDF of `doc`: the same document always gives the same bytes."""
        from weasyprint import HTML

        self._check(doc.texts)
        font_url = self.font_path.resolve().as_uri()
        css = _FONT_FACE % (documents.FONT_FAMILY, font_url) + documents.STYLESHEET
        # fontTools stamps the embedded font subset's `head.modified` with the time now
        # unless SOURCE_DATE_EPOCH is set (reproducible builds); use the document's date.
        with RENDER_LOCK:
            config, sheet = _WEASY.with_stylesheet(css, font_url)
            saved = os.environ.get("SOURCE_DATE_EPOCH")
            os.environ["SOURCE_DATE_EPOCH"] = str(int(doc.created.timestamp()))
            try:
                raw: bytes = HTML(string=doc.html).write_pdf(
                    stylesheets=[sheet], font_config=config,
                    pdf_identifier=b"cunzheng" + b"0" * 8)
            finally:
                if saved is None:
                    del os.environ["SOURCE_DATE_EPOCH"]
                else:
                    os.environ["SOURCE_DATE_EPOCH"] = saved
        return _fix_id(raw)

    def contract(self, contract: Mapping[str, Any], *, loan_id: str) -> bytes:
        """借款合同 for a `contract_signed` payload (as posted)."""
        return self.render(documents.contract(contract, loan_id=loan_id))

    def loan_receipt(self, disbursement: Mapping[str, Any], contract: Mapping[str, Any], *,
                     loan_id: str, occurred_at: datetime) -> bytes:
        """借据 for a `disbursement` payload under its contract."""
        return self.render(documents.loan_receipt(disbursement, contract, loan_id=loan_id,
                                                  occurred_at=occurred_at))


def _fix_id(pdf: bytes) -> bytes:
    """Replace the random half of the trailer /ID by a hash of the rest of the file."""
    match = _PDF_ID.search(pdf)
    if match is None:
        return pdf
    blank = pdf[: match.start(2)] + b"0" * 32 + pdf[match.end(2):]
    stable = hashlib.md5(blank, usedforsecurity=False).hexdigest().encode()
    return pdf[: match.start(2)] + stable + pdf[match.end(2):]
