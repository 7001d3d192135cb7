"""A domain's mail exchangers, as a sending MTA finds them (RFC 5321 section 5.1).

The MX records in order of preference; with none, the domain itself is the
implicit MX; a null MX (a single ``0 .``, RFC 7505) says the domain accepts
no mail at all. Every exchanger's A and AAAA addresses are looked up at once.

:func:`problems` is the one judgement of an MX set that every check walking
MX uses: a failed lookup means we do not know (UNKNOWN, never OK), a domain
that does not exist or an exchanger without address is critical, and what a
null MX means is the caller's to say.
"""

from __future__ import annotations

from dataclasses import dataclass

from check_mail.dns import (
    MAX_HOST_ADDRESSES,
    Answer,
    HostAddresses,
    Resolver,
    Status,
    absolute,
    failed_lookups,
    family_name,
)
from check_mail.outcome import Finding, Level

# Exchangers a check follows; RFC 5321 5.1 lets a sender give up after a
# few, and Postfix tries 5 addresses at most (smtp_mx_address_limit).
MAX_EXCHANGERS = 20


@dataclass(frozen=True)
class Exchanger:
    name: str
    preference: int
    host: HostAddresses  # its A and AAAA lookups

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.host.addresses


@dataclass(frozen=True)
class MailExchangers:
    domain: str
    mx: Answer
    exchangers: tuple[Exchanger, ...] = ()
    dropped: int = 0  # exchangers past MAX_EXCHANGERS, not followed

    @property
    def null(self) -> bool:
        """RFC 7505: the domain says it accepts no mail."""
        return self.mx.status is Status.ANSWER and [r.split()[-1] for r in self.mx.records] == ["."]

    @property
    def implicit(self) -> bool:
        """No MX record: the domain's own address is the exchanger (RFC 5321 5.1)."""
        return self.mx.status is Status.NODATA

    @property
    def failures(self) -> list[Answer]:
        answers = [self.mx, *(a for x in self.exchangers for a in x.host.answers)]
        return [a for a in answers if not a.answered]

    @property
    def addresses(self) -> list[tuple[str, str]]:
        """(exchanger, address) for every address, most preferred exchanger first."""
        return [(x.name, address) for x in self.exchangers for address in x.addresses]


async def exchangers(resolver: Resolver, domain: str,
                     family: int | None = None) -> MailExchangers:
    """The MX set of a domain and the addresses of every exchanger (one family with 4/6)."""
    import asyncio

    mx = await resolver.query(domain, "MX")
    if mx.status is Status.ANSWER:
        found = MailExchangers(absolute(domain), mx)
        if found.null:
            return found
        targets = sorted({_parse(record) for record in mx.records})
    elif mx.status is Status.NODATA:
        targets = [(0, absolute(domain).lower())]
    else:
        return MailExchangers(absolute(domain), mx)
    followed = targets[:MAX_EXCHANGERS]
    hosts = await asyncio.gather(*(resolver.host_addresses(name, family)
                                   for _, name in followed))
    return MailExchangers(absolute(domain), mx, tuple(
        Exchanger(name.rstrip("."), pref, host) for (pref, name), host in zip(followed, hosts)),
        len(targets) - len(followed))


def lookup(resolver: Resolver, domain: str, family: int | None = None) -> MailExchangers:
    """Synchronous :func:`exchangers`."""
    return resolver.run(exchangers(resolver, domain, family))


def problems(found: MailExchangers, family: int | None = None, *,
             null_mx: Level = Level.CRITICAL) -> list[Finding]:
    """What stands between the MX set and a check of its addresses.

    ``null_mx`` is how bad a null MX is for the caller: a problem where the
    domain should receive mail, a note where it only matters whether what
    is published holds.
    """
    domain = found.domain.rstrip(".")
    if found.failures:
        return [Finding(Level.UNKNOWN, f"lookup failed: {failed_lookups(found.failures)}")]
    if found.null:
        return [Finding(null_mx, f"{domain} has a null MX (RFC 7505): it accepts no mail at all")]
    if found.mx.status is Status.NXDOMAIN:
        return [Finding(Level.CRITICAL, f"{domain} does not exist (NXDOMAIN)")]
    out = []
    bare = [x.name for x in found.exchangers if not x.addresses]
    if bare:
        what = "the domain itself" if found.implicit else "MX " + ", ".join(bare)
        kind = family_name(family)
        out.append(Finding(Level.CRITICAL, f"{what} has no {kind + ' ' if kind else ''}address"))
    if found.dropped:
        out.append(Finding(Level.WARNING, f"{domain} has {found.dropped + MAX_EXCHANGERS} MX "
                                          f"hosts; only the first {MAX_EXCHANGERS} are checked"))
    out += [Finding(Level.WARNING, f"MX {x.name} has {len(x.host.found)} addresses; only the "
                                   f"first {MAX_HOST_ADDRESSES} are checked")
            for x in found.exchangers if x.host.dropped]
    return out


def _parse(record: str) -> tuple[int, str]:
    preference, name = record.split()
    return int(preference), absolute(name).lower()
