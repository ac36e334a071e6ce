"""Untrusted text made safe to print on a terminal (status lines, CLI tables)."""

from __future__ import annotations

import re

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters (line breaks included), and the Unicode marks that reorder or
break lines (bidi overrides and isolates, line and paragraph separators)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escaped(text: str) -> str:
    """`text` on one line with every `UNSAFE` character shown escaped (`\\x1b`,
    `\\x0a`, `\\u202e`), so it cannot drive the terminal, fake a line or read backwards."""
    return UNSAFE.sub(_escape, text)
