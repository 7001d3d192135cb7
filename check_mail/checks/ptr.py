"""check_ptr: does every address of a mail server have forward-confirmed reverse DNS
that matches the name the server announces?

Receivers judge a sender first by its PTR. With none, mail is often refused;
a PTR that does not resolve back to the same address, or that differs from
the name in the SMTP greeting, looks like a spoofed address, which is worse.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import count

if TYPE_CHECKING:
    from check_mail.ptr import ReverseDns
    from check_mail.smtp import Session

EPILOG = """\
states, per address:
  CRITICAL  no PTR; no PTR name resolves back to the address; PTR is not --expect;
            --smtp cannot talk to the server
  WARNING   more than one PTR; a generic or dynamic-looking name (--allow-generic
            turns this off); the SMTP greeting or EHLO name is not the PTR name
            (--smtp-mismatch critical makes it critical)
  UNKNOWN   a DNS lookup failed (SERVFAIL, timeout, REFUSED)

examples:
  check_ptr -H mail.example.org
  check_ptr -H 192.0.2.25 --expect mail.example.org --smtp -v
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("PTR", "check_ptr",
                      __doc__, EPILOG,
                      verbose="one line per address: its PTR, the forward lookup of each PTR "
                              "name, and with --smtp the names the server announces")
    p.add_host_option("IP address or hostname; every A and AAAA address is checked",
                      required=True)
    p.add_family_options()
    p.add_argument("--expect", type=plugin.option_type(plugin.hostname), metavar="NAME",
                   help="the PTR must be this name, e.g. Postfix's myhostname")
    p.add_argument("--allow-generic", action="store_true",
                   help="do not warn about generic or dynamic-looking names")
    smtp = p.add_smtp_options()
    smtp.add_argument("--smtp", action="store_true",
                      help="also read each address's SMTP greeting and EHLO reply and "
                           "compare the names they announce with the PTR")
    smtp.add_argument("--smtp-mismatch", choices=("warning", "critical"), default="warning",
                      help="state when the announced name is not the PTR (default %(default)s)")
    p.add_dns_options()
    return p


class Address(NamedTuple):
    """What was found for one address: its reverse DNS, and the SMTP session."""

    rdns: ReverseDns
    session: Session | None


class ReverseDnsCheck(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        super().__init__(args, deadline)
        self.found: list[Address] = []

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import ptr, smtp

        args = self.args
        addresses = self.host_addresses(args.host, args.family)
        reverse = ptr.check(self.resolver, addresses)
        for rdns in reverse:
            if len(rdns.names) > ptr.MAX_PTR_NAMES:
                self.capped(f"{rdns.address} has {len(rdns.names)} PTRs; only the first "
                            f"{ptr.MAX_PTR_NAMES} are resolved back")
        sessions: list[Session | None] = [None] * len(addresses)
        if args.smtp:
            sessions = list(self.resolver.run_all(
                smtp.probe(a, args.port, deadline=self.deadline, helo=args.helo)
                for a in addresses))
        self.found = [Address(r, s) for r, s in zip(reverse, sessions)]
        judged = [findings(a, args) for a in self.found]
        for address, found in zip(self.found, judged):
            yield plugin.Metric(address.rdns.address, found, context="address")
        passed = sum(not found for found in judged)
        yield plugin.Metric("addresses", len(addresses), min=0, context="addresses")
        yield plugin.Metric("passed", passed, min=0, max=len(addresses), context="passed")
        yield from self.finish()


def findings(found: Address, args: argparse.Namespace) -> list[Finding]:
    """Everything wrong with one address, by the rules in EPILOG."""
    from check_mail import ptr
    from check_mail.dns import failed_lookups

    rdns = found.rdns
    crit, warn = Level.CRITICAL, Level.WARNING
    if rdns.failures:
        return [Finding(Level.UNKNOWN,
                        f"{rdns.address}: lookup failed: {failed_lookups(rdns.failures)}")]
    names = rdns.names
    if not names:
        return [Finding(crit, f"{rdns.address} has no PTR")]
    out = []
    if not rdns.confirmed:
        out.append(Finding(crit, f"{rdns.address}: PTR {', '.join(names)} does not resolve "
                                 f"back ({_forwards(rdns)})"))
    if len(names) > 1:
        out.append(Finding(warn, f"{rdns.address} has {len(names)} PTRs ({', '.join(names)})"))
    if args.expect and ptr.normal_name(args.expect) not in names:
        out.append(Finding(crit, f"{rdns.address}: PTR {', '.join(names)} is not "
                                 f"{args.expect}"))
    if not args.allow_generic:
        for name in names:
            reasons = ptr.generic_reasons(name, rdns.address)
            if reasons:
                out.append(Finding(warn, f"{rdns.address}: PTR {name} looks generic "
                                         f"({'; '.join(reasons)})"))
    return out + _smtp_findings(found, args)


def _smtp_findings(found: Address, args: argparse.Namespace) -> list[Finding]:
    session, rdns = found.session, found.rdns
    if session is None:
        return []
    where = f"{rdns.address} port {session.port}"
    if session.greeting is None or session.ehlo is None:
        return [Finding(Level.CRITICAL, f"{where}: {session.error}")]
    state = Level.CRITICAL if args.smtp_mismatch == "critical" else Level.WARNING
    out = []
    for what, reply in (("greeting", session.greeting), ("EHLO", session.ehlo)):
        if reply.domain not in rdns.confirmed:
            expected = ", ".join(rdns.confirmed or rdns.names)
            out.append(Finding(state, f"{where}: {what} announces {reply.domain or 'no name'}, "
                                      f"PTR is {expected}"))
    return out


def _forwards(rdns: ReverseDns) -> str:
    return "; ".join(f"{f.answer.rdtype} {f.name}: "
                     f"{', '.join(f.answer.records) or str(f.answer.status)}"
                     for f in rdns.forwards)


class Wording(plugin.Summary):
    resource: ReverseDnsCheck

    def ok(self, results: plugin.Results) -> str:
        found = self.resource.found
        names = sorted({n for a in found for n in a.rdns.confirmed})
        smtp = ", SMTP names match" if self.resource.args.smtp else ""
        every = "all " if len(found) > 1 else ""
        return (f"{count(len(found), 'address', 'addresses')}, {every}forward-confirmed{smtp} "
                f"({', '.join(names)})")

    def verbose(self, results: plugin.Results) -> list[str]:
        lines = []
        for found in self.resource.found:
            rdns = found.rdns
            if rdns.ptr.records:
                ptrs = ", ".join(rdns.names)
                line = f"{rdns.address}: PTR {ptrs}; {_forwards(rdns)}"
            else:
                line = f"{rdns.address}: PTR {rdns.ptr.describe()}"
            session = found.session
            if session is not None:
                if session.greeting and session.ehlo:
                    line += (f"; SMTP greeting {session.greeting.domain or '-'}, "
                             f"EHLO {session.ehlo.domain or '-'}")
                else:
                    line += f"; SMTP {session.error}"
            lines.append(line)
        return lines


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    resource = ReverseDnsCheck(args, deadline)
    return plugin.check(
        resource,
        plugin.Findings("address"),
        plugin.Measure("addresses"),
        plugin.Measure("passed"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
