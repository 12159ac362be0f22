"""The CJK font of the case file: found through fontconfig, checked before every render.

A case file is Chinese. Without a CJK font WeasyPrint still writes a PDF, with every
Chinese character an empty box, and nothing fails: so `require_cjk_font()` asks fontconfig
(`fc-list :lang=zh`) before rendering and raises `CjkFontUnavailable` with the fix instead.

Speed. Embedding a whole Noto CJK face costs WeasyPrint some 12-20 s per PDF, so when
`lending_core.documents` is importable its prepared GB 2312 subset (built once, cached on
disk, shared with the loan documents) is used as the first face, and the full system face
stays behind it in the CSS font stack for any rarer character: slower, never a box.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dispute.errors import DisputeError

__all__ = ["PREFERRED_FAMILIES", "CjkFont", "CjkFontUnavailable", "prepared_font",
           "require_cjk_font"]

PREFERRED_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC",
                      "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
"""Families preferred, in order, among those fontconfig lists for Chinese."""

FC_LIST_TIMEOUT_SECONDS = 30

INSTALL_HINT = ("install a CJK font, e.g. `apt-get install -y fonts-noto-cjk` (Debian/Ubuntu), "
                "then check with `fc-list :lang=zh`")


class CjkFontUnavailable(DisputeError):
    """No font covering Chinese is installed: the case file would print empty boxes."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font face fontconfig lists for Chinese (`index` selects a face in a collection)."""

    family: str
    path: Path
    index: int


def require_cjk_font() -> CjkFont:
    """The preferred installed face covering Chinese; raises `CjkFontUnavailable` if none.

    Reads fontconfig through `fc-list`, so it honours `FONTCONFIG_FILE` and friends in the
    environment as WeasyPrint's own fontconfig does."""
    if shutil.which("fc-list") is None:
        raise CjkFontUnavailable("fontconfig's fc-list is not installed, so no CJK font can be "
                                 "checked; install fontconfig and " + INSTALL_HINT)
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "family", "file", "index"],
            capture_output=True, text=True, check=False, env=dict(os.environ),
            timeout=FC_LIST_TIMEOUT_SECONDS,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CjkFontUnavailable(f"fc-list failed ({exc}); " + INSTALL_HINT) from None
    faces: list[CjkFont] = []
    for line in out.splitlines():
        # "<file>: <family>[,<family>...]:index=<n>"
        path, _, rest = line.partition(": ")
        families, _, index = rest.rpartition(":index=")
        if not path or not Path(path).is_file():
            continue
        for family in families.split(","):
            faces.append(CjkFont(family.strip(), Path(path), int(index or 0)))
    if not faces:
        raise CjkFontUnavailable("no font covering Chinese is installed (fc-list :lang=zh "
                                 "lists none): the case file would print empty boxes; "
                                 + INSTALL_HINT)
    for family in PREFERRED_FAMILIES:
        for face in faces:
            if face.family == family:
                return face
    return min(faces, key=lambda f: (f.family, str(f.path), f.index))


def prepared_font(face: CjkFont, cache_dir: Path | None = None) -> Path | None:
    """The cached GB 2312 subset of `face` built by `lending_core.documents`, or None when
    that module is unavailable (the full face is then used, only slower)."""
    try:
        from lending_core.documents import CjkFont as DocumentFont
        from lending_core.documents import DocumentRenderer
    except ImportError:  # pragma: no cover - depends on the installed tree
        return None
    renderer = DocumentRenderer(cache_dir, font=DocumentFont(face.family, face.path, face.index))
    return Path(renderer.font_path)
