"""Reading the package's zip safely: step 0 of verification, before any file is trusted.

Names, sizes and zip-bomb limits are checked from the central directory before anything is
decompressed; an unsafe entry (zip-slip, absolute path, symbolic link, duplicate, encrypted,
oversized, or one whose size lies) is reported as a failed `file.name` step and left out,
never extracted. What `zipfile` raises on a corrupt archive is named once (`ZIP_ERRORS`).
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from cunzheng_verify.errors import RecordError
from cunzheng_verify.format import (
    MANIFEST,
    MAX_ENTRIES,
    MAX_ENTRY_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_ITEMS,
    MAX_NAME_LENGTH,
    MAX_PACKAGE_BYTES,
    MAX_TOTAL_BYTES,
)
from cunzheng_verify.report import Status, VerificationReport

# what `zipfile` raises on a corrupt zip; found by tests/unit/test_fuzz_readers.py besides
# BadZipFile: NotImplementedError (a "version needed to extract" above 6.3) and ValueError
# (a central directory placed past its end: "negative seek value")
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
              NotImplementedError, RuntimeError, zlib.error, struct.error)


def name_problem(name: str) -> str | None:
    """Why a zip entry name is unsafe to extract (zip-slip, absolute, odd), or None."""
    if not name or len(name) > MAX_NAME_LENGTH:
        return f"name length must be 1-{MAX_NAME_LENGTH}"
    if name.startswith("/") or "\\" in name or ":" in name:
        return "absolute path, drive or backslash in the name (path traversal)"
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        return "control character in the name"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "empty, '.' or '..' path segment (path traversal)"
    return None


def _entry_problem(info: zipfile.ZipInfo, seen: dict[str, bytes]) -> str | None:
    """Why an entry is refused before it is read, or None."""
    name = info.orig_filename
    problem = name_problem(name) or (None if name == info.filename else "name was rewritten")
    mode = info.external_attr >> 16
    if problem is None and (stat.S_ISLNK(mode) or info.is_dir()):
        problem = "symbolic link or directory entry"
    if problem is None and name in seen:
        problem = "duplicate entry name"
    if problem is None and info.flag_bits & 0x1:
        problem = "encrypted entry"
    if problem is None and info.file_size > MAX_ENTRY_BYTES:
        problem = f"declares {info.file_size} bytes, limit {MAX_ENTRY_BYTES}"
    return problem


def _open(data: bytes, report: VerificationReport) -> zipfile.ZipFile | None:
    """The archive, once its size, entry count and declared total are within bounds."""
    if len(data) > MAX_PACKAGE_BYTES:
        report.add("zip.open", Status.FAILED, f"package is {len(data)} bytes, limit "
                   f"{MAX_PACKAGE_BYTES}")
        return None
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except ZIP_ERRORS as exc:
        report.add("zip.open", Status.FAILED, f"not a readable zip file: {exc}")
        return None
    declared = sum(i.file_size for i in infos)
    if len(infos) > MAX_ENTRIES or declared > MAX_TOTAL_BYTES:
        report.add("zip.open", Status.FAILED, f"{len(infos)} entries declaring {declared} "
                   f"bytes; limits {MAX_ENTRIES} entries and {MAX_TOTAL_BYTES} bytes (zip bomb?)")
        return None
    report.add("zip.open", Status.OK, f"{len(infos)} entries, {declared} bytes declared")
    return zf


def read_zip(data: bytes, report: VerificationReport) -> dict[str, bytes] | None:
    """The zip's files by name; unsafe or oversized entries are reported and left out."""
    zf = _open(data, report)
    if zf is None:
        return None
    entries: dict[str, bytes] = {}
    actual = 0
    for info in zf.infolist():
        name = info.orig_filename
        problem = _entry_problem(info, entries)
        if problem:
            report.add("file.name", Status.FAILED, f"entry refused, not extracted: {problem}",
                       subject=name)
            continue
        try:
            with zf.open(info) as fh:
                content = fh.read(info.file_size + 1)
        except ZIP_ERRORS as exc:
            report.add("file.name", Status.FAILED, f"entry cannot be read: {exc}", subject=name)
            continue
        actual += len(content)
        if len(content) != info.file_size or actual > MAX_TOTAL_BYTES:
            report.add("file.name", Status.FAILED, f"entry holds {len(content)} bytes, declares "
                       f"{info.file_size} (total limit {MAX_TOTAL_BYTES})", subject=name)
            continue
        entries[name] = content
    return entries


def peek_manifest(package: bytes | Path) -> dict[str, Any] | None:
    """The manifest of a package, read with the bounded parser, for showing or indexing a
    package before (or without) verifying it; None when it cannot be read. Trusts nothing:
    only verification says whether the manifest is the signed one."""
    from cunzheng_verify.records import parse_json

    try:
        source = io.BytesIO(package) if isinstance(package, bytes) else package
        with zipfile.ZipFile(source) as zf:
            info = zf.getinfo(MANIFEST)
            if info.file_size > MAX_MANIFEST_BYTES:
                return None
            # untrusted bytes: the bounded parser (depth, size, values), never json.loads
            value = parse_json(zf.read(info), max_bytes=MAX_MANIFEST_BYTES,
                               max_items=MAX_MANIFEST_ITEMS)
    except (*ZIP_ERRORS, KeyError, RecordError):
        return None
    return value if isinstance(value, dict) else None
