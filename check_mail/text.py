"""The one sanitiser for text that came from outside: DNS data, SMTP replies,
message headers, library error messages.

A monitoring system reads the first line of a plugin's output as the alert
and everything after ``|`` as perfdata. Foreign text must therefore never
break a line, start a second status line, or carry a ``|``. Every line the
scaffolding prints goes through :func:`printable`.

It is also where secrets are masked: every secret the run knows (a
blocklist key, a password) is registered with :func:`conceal`, and
:func:`printable` masks it, and its base64 forms, whatever echoes it: a
server's reply, a DNS answer, an error message.
"""

from __future__ import annotations

import base64

BAR = "\u00a6"  # BROKEN BAR: looks like "|", is not the perfdata separator
ELLIPSIS = "\u2026"
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
MASK = "****"
MIN_BASE64 = 4  # shorter base64 fragments of a secret would mask ordinary text
_secrets: list[str] = []  # longest first, so that no shorter one cuts a longer one


def printable(text: str, limit: int | None = None) -> str:
    """``text`` on one line: secrets masked, control and invisible format
    characters escaped (``\\n``, ``\\x1b``, ``\\u202e``), ``|`` shown as a
    broken bar, and at most ``limit`` characters (cut with an ellipsis), the
    escapes counted: the cut comes last."""
    text = mask(text)
    if limit is not None and len(text) > limit + 1:
        text = text[:limit + 1]  # an escape is never shorter than its character
    plain = text.isprintable() and "|" not in text
    if plain and (limit is None or len(text) <= limit):
        return text
    pieces = list(text) if plain else [_escape(c) for c in text]
    if limit is None or sum(len(p) for p in pieces) <= limit:
        return "".join(pieces)
    kept, size = [], 0
    for piece in pieces:  # whole escapes only, and room for the ellipsis
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + ELLIPSIS


def conceal(secret: str) -> None:
    """Have every line printed from now on mask ``secret``, and the base64
    forms a protocol may carry it in (AUTH PLAIN and LOGIN, at whatever
    offset the secret sits in the encoded string)."""
    if not secret:
        return
    forms = {secret, *_base64_forms(secret.encode("utf-8"))}
    _secrets.extend(form for form in forms if form not in _secrets)
    _secrets.sort(key=len, reverse=True)


def mask(text: str) -> str:
    """``text`` with every concealed secret replaced by ``****``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_secrets() -> None:
    """For in-process runs (tests): the next run knows its own secrets only."""
    _secrets.clear()


def _base64_forms(secret: bytes) -> list[str]:
    """The base64 characters that encode only ``secret``'s bits, for each of
    the three offsets (mod 3) at which it may start inside encoded data:
    whatever surrounds the secret, its encoding contains one of these."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret + bytes(2)).decode()
        first = -(-8 * offset // 6)  # the first character wholly inside the secret
        last = 8 * (offset + len(secret)) // 6  # one past the last such character
        if last - first >= MIN_BASE64:
            forms.append(encoded[first:last])
    return forms


def integer(text: str, digits: int = 18) -> int:
    """A whole number written in ASCII digits, at most ``digits`` of them: the
    one way foreign text becomes an int (a 5,000-digit ``nrcpt=`` or
    ``pct=`` is refused here, not by Python's conversion limit). Raises
    ValueError otherwise."""
    if not (0 < len(text) <= digits and text.isascii() and text.isdigit()):
        raise ValueError(f"not a whole number of at most {digits} digits")
    return int(text)


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
