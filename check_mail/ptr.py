"""Reverse DNS as receivers judge it: the PTR, its forward confirmation
(FCrDNS: the PTR name resolves back to the same address), and whether the
name looks generic or dynamic, as ISP-assigned names do.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from check_mail.dns import Answer, Resolver, Status
from check_mail.text import integer

# PTR names of one address that are resolved back; more than one already warns.
MAX_PTR_NAMES = 10

# Words of ISP-assigned names for dynamic, pooled or residential addresses.
GENERIC_WORDS = ("dyn", "dynamic", "dynip", "dhcp", "pool", "dsl", "adsl", "vdsl", "xdsl",
                 "cable", "dial", "dialup", "dialin", "ppp", "pppoe", "broadband", "customer",
                 "cust", "client", "residential", "resnet", "unassigned", "nat")


@dataclass(frozen=True)
class Forward:
    """A PTR name and the A or AAAA answer it resolves to."""

    name: str
    answer: Answer


@dataclass(frozen=True)
class ReverseDns:
    address: str
    ptr: Answer
    forwards: tuple[Forward, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The PTR names, lower case, without the trailing dot."""
        return tuple(normal_name(n) for n in self.ptr.records)

    @property
    def confirmed(self) -> tuple[str, ...]:
        """The PTR names whose forward lookup holds this very address."""
        return tuple(f.name for f in self.forwards if resolves_to(f.answer, self.address))

    @property
    def failures(self) -> list[Answer]:
        """Lookups that failed, so nothing can be concluded from them."""
        return [a for a in (self.ptr, *(f.answer for f in self.forwards)) if not a.answered]


def normal_name(name: str) -> str:
    return name.rstrip(".").lower()


def resolves_to(answer: Answer, address: str) -> bool:
    wanted = ipaddress.ip_address(address)
    return answer.status is Status.ANSWER and any(
        ipaddress.ip_address(r) == wanted for r in answer.records)


def forward_type(address: str) -> str:
    return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"


async def reverse_dns(resolver: Resolver, address: str) -> ReverseDns:
    import asyncio

    ptr = await resolver.query(ipaddress.ip_address(address).reverse_pointer, "PTR")
    rdtype = forward_type(address)
    names = [normal_name(n) for n in ptr.records[:MAX_PTR_NAMES]] \
        if ptr.status is Status.ANSWER else []
    answers = await asyncio.gather(*(resolver.query(n, rdtype) for n in names))
    return ReverseDns(address, ptr, tuple(Forward(n, a) for n, a in zip(names, answers)))


def check(resolver: Resolver, addresses: Sequence[str]) -> list[ReverseDns]:
    """Reverse and forward lookups of every address, all at once."""
    return resolver.run_all(reverse_dns(resolver, a) for a in addresses)


def generic_reasons(name: str, address: str) -> list[str]:
    """Why a PTR name looks generic or dynamic; empty when it does not.

    Receivers score such names as end-user lines that should not send mail
    directly: the address's own digits in the name, or words like dyn, dhcp,
    pool, dsl or cable. Only the labels left of the registered domain count
    (approximated as the last two labels), so "dsl.example" stays clean.
    """
    labels = normal_name(name).split(".")
    host_part = labels[:-2]
    tokens = [t for label in host_part for t in re.split(r"[-_]", label) if t]
    reasons = []
    if _has_address_digits(tokens, ".".join(host_part), ipaddress.ip_address(address)):
        reasons.append("holds the address's digits")
    words = sorted({w for t in tokens for w in GENERIC_WORDS
                    if t == w or (t.startswith(w) and t[len(w):].isdigit())})
    if words:
        reasons.append("holds " + ", ".join(repr(w) for w in words))
    return reasons


def _has_address_digits(tokens: list[str], host_part: str, address) -> bool:
    if address.version == 4:
        octets = [str(o) for o in address.packed]
        numbers = [str(integer(t, 63)) for t in tokens if t.isascii() and t.isdigit()]
        for run in (octets, octets[::-1], octets[1:], octets[::-1][:3]):
            if _contains_run(numbers, run):
                return True
        joined = "".join(tokens).lower()
        return f"{int(address):08x}" in joined or "".join(f"{o:03d}" for o in address.packed) \
            in joined
    hextets = address.exploded.split(":")
    tail = [h.lstrip("0") or "0" for h in hextets[4:]]
    numbers = [t.lstrip("0") or "0" for t in tokens]
    nibbles = [t for t in host_part.split(".") if re.fullmatch(r"[0-9a-f]", t)]
    return _contains_run(numbers, tail[-2:]) or len(nibbles) >= 8


def _contains_run(items: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(items[i:i + n] == run for i in range(len(items) - n + 1))
