"""SMTP TLS Reporting (RFC 8460): where senders report the TLS failures they
met delivering to a domain, so that its admin learns of a broken DANE or
MTA-STS setup before the mail stops.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """The ``_smtp._tls`` TXT record (RFC 8460 3)."""

    rua: tuple[str, ...]  # mailto: and https: destinations
    text: str


def parse(texts: Sequence[str]) -> tuple[Record | None, str]:
    """The one TLSRPTv1 record among a name's TXT records, or None and why
    it is unusable ("" when there is none at all)."""
    found = [t for t in texts if re.match(r"v=TLSRPTv1 *(;|\Z)", t)]
    if not found:
        return None, ""
    if len(found) > 1:
        return None, f"{len(found)} v=TLSRPTv1 records (senders take none)"
    text = found[0]
    fields: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip(" \t")
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or not value:
            return None, f"malformed field {part!r}"
        fields.setdefault(name.strip(), value.strip())
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
