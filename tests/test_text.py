"""The one sanitiser for foreign text."""

from __future__ import annotations

import pytest

from check_mail.text import printable


@pytest.mark.parametrize(("text", "shown"), [
    ("plain text", "plain text"),
    ("two\nlines", "two\\nlines"),
    ("crlf\r\nDKIM OK - forged", "crlf\\r\\nDKIM OK - forged"),
    ("tab\there", "tab\\there"),
    ("perf | data", "perf \u00a6 data"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("\u202eevil", "\\u202eevil"),
    ("nul\x00", "nul\\x00"),
    ("caf\u00e9 \u2713", "caf\u00e9 \u2713"),
])
def test_foreign_text_is_one_line_without_bars(text, shown):
    assert printable(text) == shown


def test_length_is_cut():
    assert printable("x" * 50, limit=10) == "x" * 9 + "\u2026"
    assert printable("short", limit=10) == "short"
