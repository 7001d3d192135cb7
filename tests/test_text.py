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


@pytest.mark.parametrize("text", [
    "\x1b" * 2000, "|" * 2000, "x" * 2000, "\U0010ffff" * 2000, "é\n" * 1500, "a\x00" * 999,
    "\u202e" * 300 + "y" * 2000,
])
@pytest.mark.parametrize("limit", [1, 2, 10, 1000])
def test_the_limit_holds_whatever_the_text(text, limit):
    """Issue 21: escape first, then cut, so the escapes count; never half an escape."""
    from check_mail.text import ELLIPSIS

    shown = printable(text, limit)
    assert len(shown) <= limit
    assert shown.endswith(ELLIPSIS)
    assert shown.isprintable() and "|" not in shown
    assert not shown[:-1].endswith("\\")


def test_a_concealed_secret_is_masked_in_every_form():
    import base64

    from check_mail.text import conceal, forget_secrets

    conceal("hunter2hunter2")
    try:
        assert printable("pass hunter2hunter2!") == "pass ****!"
        for prefix in ("", "a", "ab", "\0user\0"):
            token = base64.b64encode((prefix + "hunter2hunter2").encode()).decode()
            assert "hunter2" not in printable(token)
            assert "****" in printable(token)
        assert printable("nothing secret here") == "nothing secret here"
    finally:
        forget_secrets()
    assert printable("hunter2hunter2") == "hunter2hunter2"


@pytest.mark.parametrize("digits", ["1" * 4301, "9" * 19, "", "١٢", "12a", "-1", "²"])
def test_foreign_numbers_are_bounded(digits):
    """Issue 21: no 4,300-digit conversion error, no Unicode digits."""
    from check_mail.text import integer

    with pytest.raises(ValueError):
        integer(digits)


def test_foreign_numbers_that_fit():
    from check_mail.text import integer

    assert integer("0") == 0 and integer("9" * 18) == 10**18 - 1 and integer("12", 2) == 12
