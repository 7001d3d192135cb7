"""A domain's mail exchangers, as a sending MTA finds them (RFC 5321 section 5.1).

The MX records in order of preference; with none, the domain itself is the
implicit MX; a null MX (a single ``0 .``, RFC 7505) says the domain accepts
no mail at all. Every exchanger's A and AAAA addresses are looked up at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from check_mail.dns import Answer, Resolver, Status, absolute


@dataclass(frozen=True)
class Exchanger:
    name: str
    preference: int
    answers: tuple[Answer, ...] = ()  # its A and AAAA lookups

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r for a in self.answers if a.status is Status.ANSWER for r in a.records)


@dataclass(frozen=True)
class MailExchangers:
    domain: str
    mx: Answer
    exchangers: tuple[Exchanger, ...] = ()

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
        answers = [self.mx, *(a for x in self.exchangers for a in x.answers)]
        return [a for a in answers if not a.answered]

    @property
    def addresses(self) -> list[tuple[str, str]]:
        """(exchanger, address) for every address, most preferred exchanger first."""
        return [(x.name, address) for x in self.exchangers for address in x.addresses]


def lookup(resolver: Resolver, domain: str, family: int | None = None) -> MailExchangers:
    """The MX set of a domain and the addresses of every exchanger (one family with 4/6)."""
    import asyncio

    types = [t for f, t in ((4, "A"), (6, "AAAA")) if family in (None, f)]

    async def addresses(name: str) -> tuple[Answer, ...]:
        return tuple(await asyncio.gather(*(resolver.query(name, t) for t in types)))

    async def run() -> MailExchangers:
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
        answers = await asyncio.gather(*(addresses(name) for _, name in targets))
        exchangers = tuple(Exchanger(name.rstrip("."), pref, found)
                           for (pref, name), found in zip(targets, answers))
        return MailExchangers(absolute(domain), mx, exchangers)

    return resolver.run(run())


def _parse(record: str) -> tuple[int, str]:
    preference, name = record.split()
    return int(preference), absolute(name).lower()
