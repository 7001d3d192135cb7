"""check_postmaster: does every MX of a domain accept postmaster@, hostmaster@ and abuse@?

RFC 5321 section 4.5.1 requires every mail domain to accept postmaster; RFC
2142 adds hostmaster and abuse, where blocklist operators and other receivers
send their complaints. Every address of every MX is asked over SMTP the way
callouts do it (MAIL, RCPT, RSET, QUIT). No message is ever sent.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import count

if TYPE_CHECKING:
    from check_mail.mx import MailExchangers
    from check_mail.postmaster import Probe

EPILOG = """\
states:
  CRITICAL  postmaster (or a --critical-mailbox) rejected; an MX cannot be reached,
            times out or refuses MAIL FROM; a null MX (the domain takes no mail)
  WARNING   hostmaster or abuse rejected; a mailbox still temporarily refused after
            one retry (greylisting); a catch-all, with --catch-all warning
  UNKNOWN   a DNS lookup failed

examples:
  check_postmaster -D example.org
  check_postmaster -D example.org -H mx1.example.org --mailbox postmaster --mailbox dmarc
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("POSTMASTER", "check_postmaster", __doc__,
                      EPILOG, verbose="one line per address and mailbox, with the server's "
                                      "reply (the random address first)")
    p.add_domain_option("the mail domain whose mailboxes are asked for")
    p.add_host_option("ask this host instead of the domain's MX set")
    p.add_family_options()
    mailbox = plugin.option_type(plugin.local_part)
    p.add_argument("--mailbox", action="append", type=mailbox, metavar="NAME",
                   help="ask for this mailbox instead of postmaster, hostmaster and abuse "
                        "(repeatable)")
    p.add_argument("--critical-mailbox", action="append", type=mailbox, default=[],
                   metavar="NAME",
                   help="a rejection of this mailbox is critical, as postmaster's always is "
                        "(repeatable)")
    p.add_argument("--bare-postmaster", action="store_true",
                   help="also ask for the bare RCPT TO:<postmaster> of RFC 5321 4.5.1")
    p.add_argument("--catch-all", choices=("note", "warning"), default="note",
                   help="when a random address is accepted too: a note in the output, or a "
                        "warning (default %(default)s)")
    smtp = p.add_smtp_options(starttls=True)
    smtp.add_argument("--from", dest="sender",
                      type=plugin.option_type(plugin.mail_address), metavar="ADDR",
                      help="the MAIL FROM address (default: the null sender <>)")
    smtp.add_argument("--greylist-wait", type=plugin.option_type(plugin.seconds),
                      default=3.0, metavar="SECONDS",
                      help="ask a temporarily refused mailbox again after this long, "
                           "if -t leaves time (default %(default)g)")
    p.add_dns_options()
    return p


class Postmaster(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        super().__init__(args, deadline)
        self.exchangers: MailExchangers | None = None
        self.probes: list[Probe] = []

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import mx, postmaster

        args = self.args
        if args.host:
            addresses = self.host_addresses(args.host, args.family)
            targets = [(args.host.rstrip(".").lower(), a) for a in addresses]
        else:
            self.exchangers = mx.lookup(self.resolver, args.domain, args.family)
            yield plugin.Metric("mx", mx.problems(self.exchangers, args.family), context="mx")
            targets = self.exchangers.addresses
            if self.exchangers.null or self.exchangers.failures or not targets:
                yield from self.finish()
                return
        self.probes = self.resolver.run_all(
            postmaster.ask(exchanger, address, args.port, args.domain, mailboxes(args),
                           deadline=self.deadline, helo=args.helo, starttls=args.starttls,
                           sender=args.sender or "", bare_postmaster=args.bare_postmaster,
                           greylist_wait=args.greylist_wait)
            for exchanger, address in targets)
        for found in self.probes:
            yield plugin.Metric(f"{found.exchanger} {found.address}", findings(found, args),
                                context="address")
        asked = [m for p in self.probes for m in p.mailboxes]
        yield plugin.Metric("addresses", len(self.probes), min=0, context="addresses")
        for verdict in (postmaster.Verdict.ACCEPTED, postmaster.Verdict.REJECTED):
            count = sum(m.verdict is verdict for m in asked)
            yield plugin.Metric(str(verdict), count, min=0, max=len(asked), context="counts")
        yield from self.finish()


def mailboxes(args: argparse.Namespace) -> list[str]:
    from check_mail.postmaster import ROLE_MAILBOXES

    return args.mailbox or list(ROLE_MAILBOXES)


def findings(probe: Probe, args: argparse.Namespace) -> list[Finding]:
    from check_mail.postmaster import Verdict

    where = place(probe)
    if probe.error:
        return [Finding(Level.CRITICAL, f"{where}: {probe.error}")]
    critical = {"postmaster", "<postmaster>", *(m.lower() for m in args.critical_mailbox)}
    out = []
    for box in probe.mailboxes:
        if box.verdict is Verdict.REJECTED:
            state = Level.CRITICAL if box.name.lower() in critical else Level.WARNING
            out.append(Finding(state, f"{where} rejects {box.recipient}: {box.reply}"))
        elif box.verdict is Verdict.DEFERRED:
            out.append(Finding(Level.WARNING, f"{where} temporarily refused {box.recipient}: "
                                              f"{box.reply}"))
        elif box.verdict is Verdict.UNANSWERED:
            out.append(Finding(Level.CRITICAL, f"{where}: no answer for {box.recipient}: "
                                               f"{probe.session.error or 'session ended'}"))
    if args.catch_all == "warning" and is_catch_all(probe):
        out.append(Finding(Level.WARNING, f"{where} accepts any address (catch-all)"))
    return out


def place(probe: Probe) -> str:
    """The exchanger and its address, or the address alone when -H named it."""
    if probe.exchanger == probe.address:
        return probe.address
    return f"{probe.exchanger} {probe.address}"


def is_catch_all(probe: Probe) -> bool:
    from check_mail.postmaster import Verdict

    return probe.catch_all is not None and probe.catch_all.verdict is Verdict.ACCEPTED


class Wording(plugin.Summary):
    resource: Postmaster

    def ok(self, results: plugin.Results) -> str:
        probes = self.resource.probes
        names = ", ".join(mailboxes(self.resource.args))
        exchangers = sorted({p.exchanger for p in probes})
        where = (f"{len(exchangers)} MX" if self.resource.exchangers is not None
                 else exchangers[0])
        line = f"{names} accepted by {where} ({count(len(probes), 'address', 'addresses')})"
        return line + self._catch_all_note()

    def _catch_all_note(self) -> str:
        if any(is_catch_all(p) for p in self.resource.probes):
            return "; catch-all: a random address is accepted too, so this proves little"
        return ""

    def problem(self, results: plugin.Results) -> str:
        note = self._catch_all_note() if self.resource.args.catch_all == "note" else ""
        return plugin.problem_line(results) + note

    def verbose(self, results: plugin.Results) -> list[str]:
        lines = []
        for probe in self.resource.probes:
            where = place(probe)
            if probe.error:
                lines.append(f"{where}: {probe.error}")
                continue
            tls = f" ({probe.session.tls})" if probe.session.tls else ""
            for box in (probe.catch_all, *probe.mailboxes):
                if box is None:
                    continue
                label = "random address" if box is probe.catch_all else box.recipient
                retried = " (after a retry)" if box.retried else ""
                reply = box.reply if box.reply is not None else probe.session.error
                lines.append(f"{where}{tls}: {label}: {reply}{retried}")
        return lines


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    resource = Postmaster(args, deadline)
    return plugin.check(
        resource,
        plugin.Findings("mx"),
        plugin.Findings("address"),
        plugin.Measure("addresses"),
        plugin.Measure("counts"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
