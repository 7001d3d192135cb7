"""The one sanitiser for text that came from outside: DNS data, SMTP replies,
message headers, library error messages.

A monitoring system reads the first line of a plugin's output as the alert
and everything after ``|`` as perfdata. Foreign text must therefore never
break a line, start a second status line, or carry a ``|``. Every line the
scaffolding prints goes through :func:`printable`.
"""

from __future__ import annotations

BAR = "\u00a6"  # BROKEN BAR: looks like "|", is not the perfdata separator
ELLIPSIS = "\u2026"
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, limit: int | None = None) -> str:
    """``text`` on one line: control and invisible format characters escaped
    (``\\n``, ``\\x1b``, ``\\u202e``), ``|`` shown as a broken bar, and at
    most ``limit`` characters (cut with an ellipsis)."""
    if limit is not None and len(text) > limit:
        text = text[:max(limit - 1, 0)] + ELLIPSIS
    if text.isprintable() and "|" not in text:
        return text
    return "".join(_escape(c) for c in text)


def _escape(char: str) -> str:
    if char == "|":
        return BAR
    if char.isprintable():
        return char
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def count(number: int, singular: str, plural: str = "") -> str:
    """A number with its noun: "1 zone", "3 zones", "2 addresses"."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def os_error(exc: BaseException) -> str:
    """A network error in a few words: "Connection refused", not asyncio's
    "Connect call failed ('192.0.2.1', 25)"."""
    import os

    errno = getattr(exc, "errno", None)
    if errno:
        return os.strerror(errno)
    return str(exc) or type(exc).__name__
