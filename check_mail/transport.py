"""A mail domain's transport security, surveyed at once: TLS at every address
of every MX, the TLSA records of each MX (DANE, RFC 7672), the MTA-STS
policy (RFC 8461) and the TLS reporting record (RFC 8460).

Everything runs concurrently on one event loop under one deadline: the MTA-STS
policy is fetched while the MX set is looked up, and every handshake and
TLSA lookup starts as soon as the MX set is known. The survey returns what
it found; judging it is the check's business.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from check_mail import dane, mtasts, tlsrpt
from check_mail.deadline import Deadline
from check_mail.dns import Answer, HostAddresses, Resolver, Status, is_address
from check_mail.mx import MailExchangers
from check_mail.tls import Handshake


@dataclass(frozen=True)
class Host:
    """One MX host (or the host -H names), its TLSA records and its handshakes."""

    name: str
    tlsa: Answer | None  # None for a bare address: no TLSA name to ask
    handshakes: tuple[Handshake, ...]

    @property
    def records(self) -> tuple[dane.Tlsa, ...]:
        if self.tlsa is None or self.tlsa.status is not Status.ANSWER:
            return ()
        found = (r for r in map(dane.parse, self.tlsa.records) if r is not None)
        return tuple(sorted(found, key=lambda r: (r.usage, r.selector, r.mtype, r.data)))

    @property
    def usable(self) -> tuple[dane.Tlsa, ...]:
        return tuple(r for r in self.records if not r.unusable)


@dataclass(frozen=True)
class StsSurvey:
    """What a sender finds of a domain's MTA-STS."""

    txt: Answer  # _mta-sts.<domain> TXT
    record: mtasts.Record | None
    record_problem: str  # why the TXT is unusable; "" when fine or absent
    policy_host: HostAddresses  # mta-sts.<domain>
    fetch: mtasts.Fetch
    policy: mtasts.Policy | None  # None when no policy was fetched

    @property
    def published(self) -> bool:
        """A TXT record or a fetchable policy: the domain means to use MTA-STS."""
        return bool(self.record or self.record_problem or self.fetch.ok)

    @property
    def mode(self) -> mtasts.Mode | None:
        """The mode senders apply: only with a usable record and policy."""
        if self.record and self.policy and self.policy.usable:
            return self.policy.mode
        return None


@dataclass(frozen=True)
class ReportSurvey:
    txt: Answer  # _smtp._tls.<domain> TXT
    record: tlsrpt.Record | None
    problem: str


@dataclass(frozen=True)
class Survey:
    hosts: tuple[Host, ...]
    exchangers: MailExchangers | None = None  # with a domain and no -H
    sts: StsSurvey | None = None  # with a domain
    report: ReportSurvey | None = None


@dataclass(frozen=True)
class Settings:
    """How to reach and judge the servers."""

    port: int = 25
    implicit_tls: bool = False
    helo: str | None = None
    family: int | None = None
    sts_port: int = 443


async def survey(resolver: Resolver, *, deadline: Deadline, trusting: ssl.SSLContext,
                 seeing: ssl.SSLContext, settings: Settings,
                 domain: str = "", hosts: Sequence[tuple[str, Sequence[str]]] = ()) -> Survey:
    """Survey a domain (its MX set unless ``hosts`` are given: (name,
    addresses) pairs) or the given hosts alone. ``trusting`` and ``seeing``
    are the handshake contexts of check_mail.tls; ``trusting`` also fetches
    the MTA-STS policy."""
    import asyncio

    from check_mail import mx

    async def check_hosts() -> tuple[tuple[Host, ...], MailExchangers | None]:
        found = None
        targets = list(hosts)
        if not targets:
            found = await mx.exchangers(resolver, domain, settings.family)
            if found.null or found.failures:
                return (), found
            targets = [(x.name, x.addresses) for x in found.exchangers]
        checked = await asyncio.gather(*(
            _host(resolver, name, addresses, deadline, trusting, seeing, settings)
            for name, addresses in targets))
        return tuple(checked), found

    if not domain:
        checked, _ = await check_hosts()
        return Survey(checked)
    (checked, found), sts, report = await asyncio.gather(
        check_hosts(), _sts(resolver, domain, deadline, trusting, settings.sts_port),
        _report(resolver, domain))
    return Survey(checked, found, sts, report)


async def _host(resolver: Resolver, name: str, addresses: Sequence[str], deadline: Deadline,
                trusting: ssl.SSLContext, seeing: ssl.SSLContext,
                settings: Settings) -> Host:
    import asyncio

    from check_mail.tls import handshake

    async def records() -> Answer | None:
        if is_address(name):
            return None
        return await resolver.query(f"_{settings.port}._tcp.{name}", "TLSA")

    tlsa, shakes = await asyncio.gather(records(), asyncio.gather(*(
        handshake(address, settings.port, deadline=deadline, host=name, trusting=trusting,
                  seeing=seeing, helo=settings.helo, implicit_tls=settings.implicit_tls)
        for address in addresses)))
    return Host(name, tlsa, tuple(shakes))


async def _sts(resolver: Resolver, domain: str, deadline: Deadline, web: ssl.SSLContext,
               port: int) -> StsSurvey:
    """The TXT record and the policy, asked for at once: a policy without a
    record is worth reporting too."""
    import asyncio

    host = f"mta-sts.{domain}"

    async def get() -> tuple[HostAddresses, mtasts.Fetch]:
        found = await resolver.host_addresses(host)
        if found.failures and not found.addresses:
            from check_mail.dns import failed_lookups

            url = f"https://{host}{mtasts.PATH}"
            return found, mtasts.Fetch(url, error="cannot resolve: " +
                                       failed_lookups(found.failures, about=host))
        return found, await mtasts.fetch(host, found.addresses, deadline=deadline,
                                         context=web, port=port)

    txt, (found, fetched) = await asyncio.gather(
        resolver.query(f"_mta-sts.{domain}", "TXT"), get())
    record, problem = mtasts.parse_record(txt.records)
    policy = mtasts.parse_policy(fetched.body) if fetched.ok else None
    return StsSurvey(txt, record, problem, found, fetched, policy)


async def _report(resolver: Resolver, domain: str) -> ReportSurvey:
    txt = await resolver.query(f"_smtp._tls.{domain}", "TXT")
    record, problem = tlsrpt.parse(txt.records)
    return ReportSurvey(txt, record, problem)
