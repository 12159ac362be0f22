"""Strict JSON for the log: reading untrusted JSON within named bounds, and writing the RFC
8785 (JCS) canonical form records are committed in.

`parse_json` reads UTF-8 only, no floats, no duplicate keys, integers within +-(2^53 - 1),
nesting within `MAX_JSON_DEPTH` and at most `MAX_JSON_ITEMS` values, in time linear in the
size (the shape is bounded before the parser runs). `canonical` writes JCS. Both are
consensus-critical for records (`cunzheng_verify.records`): a change here changes which
bytes a leaf hash is over.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate, count
from typing import Any

import rfc8785

from cunzheng_verify.errors import RecordError

__all__ = [
    "MAX_JSON_DEPTH", "MAX_JSON_ITEMS", "MAX_SAFE_INTEGER", "MalformedJSON", "TooLarge",
    "canonical", "check_ints", "check_shape", "parse_json", "reject_float",
]

MAX_JSON_DEPTH = 32
MAX_JSON_ITEMS = 200_000  # array elements and object members; a batch of 1000 events holds ~30k
MAX_SAFE_INTEGER = 2**53 - 1  # JCS (RFC 8785) refuses integers beyond IEEE 754's exact range


class MalformedJSON(RecordError):
    """The body is not UTF-8 JSON the log accepts (syntax, duplicate keys, nesting)."""


class TooLarge(RecordError):
    """A body, record or upload exceeds its named limit."""


def reject_float(text: str) -> Any:
    raise RecordError(
        f"non-integer JSON number {text!r}: write money as a decimal string such as "
        f'"12345.60" and rates as strings'
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedJSON(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _int(text: str) -> int:
    if len(text) > 17:
        raise RecordError(f"JSON integer {text[:20]}... is outside +-(2^53 - 1)")
    return int(text)


# The shape check runs before the C parser, in C too, in time linear in the size however
# the input is built. A JSON string (opening quote to closing quote, or to the end when it
# never closes) is cut out in one left-to-right pass: a run of plain bytes, then escapes
# each followed by a run of plain bytes. Every quantifier is possessive (`*+`): nothing is
# given back and tried again, so each byte is read once. (The old
# pattern `"(?:[^"\\]|\\.)*"` backtracked: on an unclosed `"\"\"\"...` every escaped quote
# began a new match that scanned to the end and failed, quadratic: 64 KB held the
# interpreter for 14 s; issue 10.) It works on the UTF-8 bytes: `"` and `\` never occur
# inside a multi-byte sequence.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# `[` and `{` weigh 2, `]` and `}` 0: after n brackets the running sum less n is the depth.
_DEPTH_WEIGHT = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def _outside_strings(data: bytes) -> bytes:
    return _JSON_STRING.sub(b"", data) if b'"' in data else data


def _max_depth(brackets: bytes) -> int:
    """The deepest nesting reached by a run of brackets (`[]{}` only), read left to right."""
    if not brackets:
        return 0
    depth: int = max(map(operator.sub, accumulate(brackets.translate(_DEPTH_WEIGHT)), count(1)))
    return depth


def check_shape(data: bytes, max_items: int) -> None:
    # The C parser recurses once per level and trusts the interpreter's recursion limit,
    # which libraries raise (py_ecc sets 100000), so a deeply nested body could overflow the
    # C stack; and it holds the GIL while it builds every value, which the checks after it
    # then visit in Python: both are bounded here, before it runs. The depth counted is
    # exact for valid JSON and never less than what the parser reaches before its first
    # error (it stops at an unclosed string, which hides the rest here too).
    # First a bound that costs a memchr: each string is a key or a value, so a member holds
    # at most 2 and there are at least quotes / 4 items (an escaped quote is not one, and
    # `\\"` counted as escaped only lowers the bound). Many tiny strings are refused here,
    # before the pass below makes a piece of each.
    if (data.count(b'"') - data.count(b'\\"')) // 4 > max_items:
        raise TooLarge(f"JSON holds more than {max_items} values (array elements and object "
                       "members), the limit")
    outside = _outside_strings(data)
    brackets = outside.translate(None, _NOT_BRACKET)
    # valid JSON has at most 2 * max_items brackets; past that it fails on items below
    if _max_depth(brackets[: 2 * max_items + 2]) > MAX_JSON_DEPTH:
        raise MalformedJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    # every array element and object member but a container's first follows a comma
    items = outside.count(b",") + len(brackets) - brackets.count(b"]") - brackets.count(b"}") + 1
    if items > max_items:
        raise TooLarge(f"JSON holds about {items} values (array elements and object "
                       f"members), limit {max_items}")


def parse_json(data: bytes, *, max_bytes: int, max_items: int = MAX_JSON_ITEMS) -> Any:
    """Parse untrusted JSON: UTF-8 only, no floats, no duplicate keys, bounded size,
    integers, nesting and number of values. Raises `RecordError` saying what is wrong, in
    time linear in the size."""
    if len(data) > max_bytes:
        raise TooLarge(f"body is {len(data)} bytes, limit {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"body is not valid UTF-8 at byte {exc.start}") from None
    check_shape(data, max_items)
    try:
        value = json.loads(
            text,
            parse_float=reject_float,
            parse_int=_int,
            parse_constant=reject_float,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_ints(value, "")
    return value


def check_ints(value: Any, where: str, depth: int = 0) -> None:
    """Integers within +-(2^53 - 1), no floats, nesting within MAX_JSON_DEPTH."""
    if not _plainly_within_bounds(value, depth):
        _find_out_of_bounds(value, where, depth)


def _plainly_within_bounds(value: Any, depth: int) -> bool:
    # level by level, no path strings: a body of 200 000 values is checked in C-speed
    # `extend`s, so a worker thread holds the GIL less (issue 10). False sends the value
    # to `_find_out_of_bounds`, which names the place (or finds it fine after all).
    level, d = [value], depth
    while level:
        below: list[Any] = []
        for v in level:
            t = type(v)
            if t is dict or t is list:
                if d >= MAX_JSON_DEPTH:
                    return False
                below.extend(v.values() if t is dict else v)
            elif t is int:
                if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                    return False
            elif not (v is None or t is str or t is bool):
                return False
        level, d = below, d + 1
    return True


def _find_out_of_bounds(value: Any, where: str, depth: int = 0) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if depth >= MAX_JSON_DEPTH and isinstance(value, (dict, list)):
        raise MalformedJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise RecordError(f"integer at {where or 'top level'} is outside +-(2^53 - 1)",
                              field=where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _find_out_of_bounds(v, f"{where}.{k}" if where else k, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _find_out_of_bounds(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float):
        raise RecordError(f"non-integer number at {where}", field=where)


_OUTSIDE_BMP = re.compile("[\U00010000-\U0010ffff]")


def _only_strings_ints(value: Any) -> bool:
    """True when the value holds no float (and nothing json cannot write)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                return False
        elif not (v is None or isinstance(v, str)):  # bools are ints too
            return False
    return True


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value.

    For values without floats, JCS is exactly Python's compact `json.dumps` with sorted keys
    and UTF-8 output (same string escapes, integers as written), except that JCS orders keys
    by UTF-16 code units: the two orders differ only for characters outside the BMP. So that
    fast path is taken when there is no float and no such character, and the reference
    implementation (`rfc8785`) serialises everything else. A property test holds the two
    paths to the same bytes."""
    if _only_strings_ints(value):
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                              sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RecordError(f"value cannot be canonicalised: {exc}") from None
        if not _OUTSIDE_BMP.search(text):
            try:
                return text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: let the reference refuse it
                pass
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise RecordError(f"value cannot be canonicalised: {exc}") from None
