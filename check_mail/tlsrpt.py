"""SMTP TLS Reporting (RFC 8460): where senders report the TLS failures they
met delivering to a domain, so that its admin learns of a broken DANE or
MTA-STS setup before the mail stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from check_mail.mtasts import versioned_record


@dataclass(frozen=True)
class Record:
    """The ``_smtp._tls`` TXT record (RFC 8460 3)."""

    rua: tuple[str, ...]  # mailto: and https: destinations
    text: str


def parse(texts: Sequence[str]) -> tuple[Record | None, str]:
    """The one TLSRPTv1 record among a name's TXT records, or None and why
    it is unusable ("" when there is none at all)."""
    text, fields, problem = versioned_record(texts, "TLSRPTv1")
    if not text:
        return None, problem
    if "rua" not in fields:
        return None, "no rua= (where reports go)"
    destinations = tuple(d.strip() for d in fields["rua"].split(","))
    for destination in destinations:
        scheme, colon, rest = destination.partition(":")
        if scheme.lower() not in ("mailto", "https") or not colon or not rest:
            return None, f"rua {destination!r} is neither mailto: nor https:"
        if scheme.lower() == "mailto" and "@" not in rest:
            return None, f"rua {destination!r} holds no address"
    return Record(destinations, text), ""
