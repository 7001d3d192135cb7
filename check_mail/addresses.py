"""What a check can be pointed at: an address, a hostname, a network in CIDR
notation, or a file of them, one a line, as a provider lists its ranges.

A typo such as ``/8`` for ``/24`` must not become sixteen million lookups:
:func:`size` tells how many addresses the entries hold before any of them
is expanded, so a check can refuse them first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Union

from check_mail import files

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class Entry(NamedTuple):
    """One target: an address or a network (``network``), or a hostname to
    resolve (``hostname``); ``where`` says where it came from, for errors."""

    text: str
    network: Network | None
    hostname: str
    where: str


def parse(text: str, where: str = "") -> Entry:
    """``192.0.2.1``, ``2001:db8::1``, ``203.0.113.0/24`` or ``mail.example.org``.

    Host bits in a network are dropped (``203.0.113.7/24`` is the /24), as
    network tools do. Raises ValueError with a plain reason."""
    from check_mail.dns import is_address, is_hostname

    text = text.strip()
    if "/" in text:
        address, _, prefix = text.partition("/")
        if not is_address(address) or not (prefix.isascii() and prefix.isdigit()):
            raise ValueError(f"{text!r} is not a network (such as 203.0.113.0/24)")
        try:
            return Entry(text, ipaddress.ip_network(text, strict=False), "", where)
        except ValueError:
            raise ValueError(f"{text!r} is not a network: /{prefix} is too long") from None
    if is_address(text):
        return Entry(text, ipaddress.ip_network(text), "", where)
    if is_hostname(text):
        return Entry(text, None, text, where)
    raise ValueError(f"{text!r} is neither an IP address, a network nor a hostname")


def read(text: str, source: str) -> list[Entry]:
    """A hosts file: one entry a line; blank lines and ``#`` comments (whole
    lines or after an entry) are skipped. A bad line raises ValueError
    naming it."""
    found = []
    for number, line in files.entries(text):
        try:
            found.append(parse(line, f"{source}, line {number}"))
        except ValueError as exc:
            raise ValueError(f"{source}, line {number}: {exc}") from None
    return found


def size(entries: Iterable[Entry]) -> int:
    """How many addresses the networks hold (a hostname counts as one)."""
    return sum(e.network.num_addresses if e.network is not None else 1 for e in entries)


def expand(entries: Iterable[Entry]) -> Iterator[str]:
    """Every address of the networks, in order, each once (hostnames are
    not resolved here)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.network is None:
            continue
        for address in entry.network:
            text = str(address)
            if text not in seen:
                seen.add(text)
                yield text
