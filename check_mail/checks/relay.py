"""check_relay: does a smarthost or MX refuse to relay for strangers, and relay for us?

An open relay is found by spammers within hours and listed everywhere at
once. Every address of the host is asked, without authentication, to relay
mail to a foreign domain in the ten classic ways (each a MAIL/RCPT pair
followed by RSET: no message is ever sent). With --auth-user, it must also
relay our own mail once we log in over TLS.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import conceal, count

if TYPE_CHECKING:
    from check_mail.relay import Openness, Usability

PASSWORD_VARIABLE = "CHECK_MAIL_RELAY_PASSWORD"

EPILOG = f"""\
states, per address:
  CRITICAL  any relay attempt accepted (RCPT got 2xx): an open relay; the server
            cannot be reached, refuses to talk (4xx/5xx greeting) or knows no EHLO;
            with --auth-user, AUTH or our RCPT refused, or no STARTTLS to log in over
  WARNING   a temporary refusal that does not say relaying is denied (greylisting,
            a policy): cannot tell; AUTH offered before STARTTLS (passwords in clear)
  OK        every attempt refused (5xx, or 4xx saying relaying is denied)

The result depends on where the probe comes from: inside the relay's
mynetworks it may relay for you. Run it from outside (an Icinga 2 agent
elsewhere, command_endpoint); --source binds a chosen local address.

The password comes from --auth-password-file or {PASSWORD_VARIABLE}, never
from the command line, and never appears in any output.

examples:
  check_relay -H smtp1.example.org
  check_relay -H smtp1.example.org -p 587 --auth-user monitor@example.org \\
      --auth-password-file /etc/check-mail/relay.password
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("RELAY", "check_relay", __doc__, EPILOG,
                      verbose="one line per address and relay attempt (the sender, the "
                              "recipient and the reply), the login, and where the probe came "
                              "from")
    p.add_host_option("the relay: an IP address or a hostname, every A and AAAA address of "
                      "which is asked", required=True)
    p.add_family_options()
    smtp = p.add_smtp_options(starttls=True)
    smtp.add_argument("--tls", action="store_true",
                      help="TLS from the first byte (implicit TLS, as on port 465)")
    smtp.add_argument("--source", type=plugin.option_type(plugin.ip_address), metavar="ADDR",
                      help="connect from this local address")
    attempts = p.add_argument_group("relay attempts")
    attempts.add_argument("--foreign-domain", type=plugin.option_type(plugin.domain),
                          default="example.com", metavar="DOMAIN",
                          help="the domain relaying is tried to (default %(default)s, "
                               "reserved by RFC 2606: nothing can be delivered there)")
    attempts.add_argument("--local-domain", type=plugin.option_type(plugin.domain),
                          metavar="DOMAIN",
                          help="a domain the relay serves, for the local sender and the "
                               "address forms (default: the host name less its first label)")
    login = p.add_argument_group("relaying for us")
    login.add_argument("--auth-user", metavar="USER",
                       help="also log in as USER (AUTH PLAIN or LOGIN, over TLS only) and "
                            "ask to relay our own mail: it must be accepted")
    login.add_argument("--auth-password-file", metavar="FILE",
                       help=f"the password, in a file (or set {PASSWORD_VARIABLE})")
    login.add_argument("--from", dest="sender", type=plugin.option_type(plugin.mail_address),
                       metavar="ADDR",
                       help="the MAIL FROM of our own mail (default: --auth-user when it is "
                            "an address, else postmaster of the local domain)")
    p.add_dns_options()
    return p


class Relay(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline, password: str) -> None:
        super().__init__(args, deadline)
        self.password = password
        self.tests: list[Openness] = []
        self.uses: list[Usability | None] = []

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import relay

        args = self.args
        addresses = self.host_addresses(args.host, args.family)
        host = args.host.rstrip(".").lower()
        local = args.local_domain or relay.local_domain(host, "")
        sender = args.sender or (args.auth_user if args.auth_user and "@" in args.auth_user
                                 else f"postmaster@{local}")

        async def both(address: str) -> tuple[Openness, Usability | None]:
            """The relay attempts and, with --auth-user, our own mail, at once."""
            import asyncio

            test = relay.openness(address, args.port, deadline=self.deadline, host=host,
                                  helo=args.helo, implicit_tls=args.tls, source=args.source,
                                  starttls=args.starttls, foreign=args.foreign_domain,
                                  local=args.local_domain or "")
            if not args.auth_user:
                return await test, None
            use = relay.usability(address, args.port, deadline=self.deadline, host=host,
                                  helo=args.helo, implicit_tls=args.tls, source=args.source,
                                  user=args.auth_user, password=self.password, sender=sender,
                                  recipient=f"{relay.VICTIM}@{args.foreign_domain}")
            return await asyncio.gather(test, use)

        found = self.resolver.run_all(both(address) for address in addresses)
        self.tests = [test for test, _ in found]
        self.uses = [use for _, use in found]
        for test, use in zip(self.tests, self.uses):
            yield plugin.Metric(test.address, findings(test, use, args), context="address")
        tried = [a for t in self.tests for a in t.attempts
                 if a.verdict is not relay.Verdict.UNANSWERED]
        accepted = [a for a in tried if a.verdict is relay.Verdict.ACCEPTED]
        total = sum(len(t.attempts) for t in self.tests)
        yield plugin.Metric("attempts", len(tried), min=0, max=total, context="counts")
        yield plugin.Metric("accepted", len(accepted), min=0, max=total, context="counts")
        yield from self.finish()


def findings(test: Openness, use: Usability | None, args: argparse.Namespace) -> list[Finding]:
    """Everything wrong with one address, by the rules in EPILOG."""
    from check_mail.relay import Verdict

    where = test.address
    if test.greeting is None:
        return [Finding(Level.CRITICAL, f"{where}: {test.error}")]
    if test.greeting.code != 220:
        return [Finding(Level.CRITICAL, f"{where}: greeting refused: {test.greeting} (no "
                                        "relaying, and no mail either)")]
    out = []
    if not test.esmtp:
        out.append(Finding(Level.CRITICAL, f"{where}: no EHLO (ESMTP): it answered only HELO"))
    for attempt in test.with_verdict(Verdict.ACCEPTED):
        out.append(Finding(Level.CRITICAL, f"{where} open relay: accepted RCPT TO:"
                                           f"<{attempt.variant.recipient}> ({attempt.reply})"))
    for attempt in test.with_verdict(Verdict.UNCERTAIN):
        out.append(Finding(Level.WARNING, f"{where}: cannot tell whether it relays: "
                                          f"{attempt.variant.name} got {attempt.reply}"))
    unanswered = test.with_verdict(Verdict.UNANSWERED)
    if unanswered:
        out.append(Finding(Level.WARNING, f"{where}: {count(len(unanswered), 'relay attempt')} "
                                          f"unanswered: {test.error or 'the session ended'}"))
    if test.auth_in_clear:
        out.append(Finding(Level.WARNING, f"{where} offers AUTH before STARTTLS: passwords "
                                          "may travel in clear"))
    if use is not None and use.problem:
        out.append(Finding(Level.CRITICAL, f"{where}: does not relay for {args.auth_user}: "
                                           f"{use.problem}"))
    return out


class Wording(plugin.Summary):
    resource: Relay

    def ok(self, results: plugin.Results) -> str:
        tests = self.resource.tests
        attempts = sum(len(t.attempts) for t in tests)
        host = self.resource.args.host
        where = host if len(tests) == 1 else f"{host} ({len(tests)} addresses)"
        sources = ", ".join(sorted({t.source for t in tests if t.source}))
        line = f"{where} refused all {count(attempts, 'relay attempt')} from {sources}"
        use = next((u for u in self.resource.uses if u is not None), None)
        if use is not None:
            line += (f"; relays for {self.resource.args.auth_user} after AUTH "
                     f"({use.session.tls})")
        return line

    def verbose(self, results: plugin.Results) -> list[str]:
        lines = []
        for test, use in zip(self.resource.tests, self.resource.uses):
            tls = f" ({test.sessions[0].tls})" if test.sessions and test.sessions[0].tls else ""
            lines.append(f"{test.address}{tls}: probed from {test.source or '?'}, local domain "
                         f"{test.local_domain}")
            for attempt in test.attempts:
                reply = attempt.reply or test.error or "no reply"
                lines.append(f"{test.address}: {attempt.variant.name}: MAIL FROM:"
                             f"<{attempt.variant.sender}> RCPT TO:<{attempt.variant.recipient}>: "
                             f"{attempt.verdict} ({reply})")
            if use is not None:
                lines.append(f"{test.address}: relaying for {self.resource.args.auth_user}: "
                             f"{use.problem or f'accepted ({use.rcpt})'}")
        return lines


def password(args: argparse.Namespace) -> str:
    """The --auth-user's password: from the file, else the environment."""
    if args.auth_password_file and not args.auth_user:
        raise plugin.UsageError("--auth-password-file goes with --auth-user")
    if not args.auth_user:
        return ""
    if any(not c.isprintable() for c in args.auth_user):
        raise plugin.UsageError("--auth-user holds a control character")
    secret = plugin.read_secret(args.auth_password_file, "--auth-password-file") \
        if args.auth_password_file else plugin.secret_environment(PASSWORD_VARIABLE)
    if not secret:
        raise plugin.UsageError(f"--auth-user needs its password: --auth-password-file FILE "
                                f"or {PASSWORD_VARIABLE} in the environment")
    conceal(secret)  # a server's 535 may quote the AUTH data, decoded or not
    return secret


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    resource = Relay(args, deadline, password(args))
    return plugin.check(
        resource,
        plugin.Findings("address"),
        plugin.Measure("counts"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
