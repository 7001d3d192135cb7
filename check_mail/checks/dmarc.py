"""check_dmarc: does a domain publish a DMARC policy that protects it, with reports
someone reads, and does real mail pass it, with SPF or DKIM aligned?

DMARC ties SPF and DKIM to the From: domain people see, and tells receivers
what to do when neither is aligned with it. Gmail and Yahoo refuse bulk mail
without it, and a domain can pass SPF and DKIM and still fail DMARC: the
usual surprise after moving to a newsletter service.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level

if TYPE_CHECKING:
    from check_mail.dkim import Message
    from check_mail.dmarc import Destination, Discovery, Identifier, MessageVerdict

MESSAGE_LIMIT = 32 << 20  # octets, as check_dkim

EPILOG = """\
states, per domain (-D):
  CRITICAL  no record; several records, or a tag given twice (receivers then apply
            none); no valid p= and no valid rua= (RFC 7489 6.6.3: receivers apply
            no DMARC)
  WARNING   a tag receivers cannot use: they ignore it (pct=200: the rest applies),
            or apply p=none for a broken p= or sp= (then judged as p=none), or
            send no reports for a broken rua=
            p=none (--allow-none while a new policy's reports are read); quarantine
            with --strict; pct below 100 or t=y; sp or np weaker than p; no rua
            (nobody reads the reports); a report address outside the domain that
            does not authorise it (its reports are dropped); an unknown tag; a TTL
            above --max-ttl
  UNKNOWN   a lookup failed
for --message (with --ip where it left from):
  CRITICAL  DMARC fails: neither SPF nor DKIM passes aligned with the From:
            domain (the line says which would have to align); no single From:
  WARNING   the From: domain publishes no policy
  UNKNOWN   a lookup failed
with --bulk-sender, also CRITICAL: no DMARC policy, SPF or DKIM not passing,
  no one-click unsubscribe (RFC 8058) signed by DKIM, no forward-confirmed PTR

examples:
  check_dmarc -D example.org -D example.net
  check_dmarc --message last-newsletter.eml --ip 192.0.2.25 --bulk-sender
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("DMARC", "check_dmarc",
                      __doc__, EPILOG,
                      verbose="every tag of each record and where it came from, each "
                              "report address, and for --message each SPF and DKIM "
                              "identifier with its alignment")
    p.add_argument("-D", "--domain", action="append", default=[],
                   type=plugin.option_type(plugin.domain), metavar="DOMAIN",
                   help="a domain whose policy is checked (repeatable)")
    p.add_argument("--allow-none", action="store_true",
                   help="p=none is fine: a new policy whose reports are being read")
    p.add_argument("--strict", action="store_true", help="p=quarantine warns too")
    p.add_argument("--max-ttl", type=plugin.option_type(plugin.positive_int), default=86400,
                   metavar="SECONDS",
                   help="warn when the record's TTL is longer (default %(default)s)")
    mail = p.add_argument_group("a message")
    mail.add_argument("--message", metavar="FILE",
                      help="a message (- for stdin) whose DMARC verdict is checked")
    mail.add_argument("--ip", type=plugin.option_type(plugin.ip_address), metavar="ADDR",
                      help="the address the message left from (needed with --message)")
    mail.add_argument("--sender", type=plugin.option_type(plugin.mail_address),
                      metavar="ADDR",
                      help="the envelope sender (default: the message's Return-Path; "
                           "<> when it has none)")
    mail.add_argument("--helo", type=plugin.option_type(plugin.helo), metavar="NAME",
                      help="the HELO name, which SPF checks for the null sender (default: "
                           "the From: domain)")
    mail.add_argument("--bulk-sender", action="store_true",
                      help="also the rules Gmail and Yahoo set bulk senders: DMARC, SPF and "
                           "DKIM passing, one-click unsubscribe, a valid PTR for --ip")
    p.add_dns_options()
    return p


class Dmarc(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline,
                 message: Message | None, sender: str) -> None:
        super().__init__(args, deadline)
        self.message = message
        self.sender = sender
        self.found: list[tuple[Discovery, list[Destination]]] = []
        self.verdict: MessageVerdict | None = None
        self.confirmed_ptr: tuple[str, ...] | None = None

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import dmarc

        args = self.args

        async def domain(name: str) -> tuple[Discovery, list[Destination]]:
            found = await dmarc.discover(self.resolver, name)
            if found.policy is None:
                return found, []
            return found, await dmarc.destinations(self.resolver, found.found_at,
                                                   found.policy)

        self.found = self.resolver.run_all(domain(name) for name in args.domain)
        for found, destinations in self.found:
            yield plugin.Metric(found.domain, domain_findings(found, destinations, args),
                                context="domain")
            if found.policy is not None and found.applies:
                label = "pct" if len(self.found) == 1 else f"{found.domain}_pct"
                yield plugin.Metric(label, found.policy.pct, "%", min=0, max=100,
                                    context="measure")
        if self.message is not None:
            yield from self.probe_message()
        yield from self.finish()

    def probe_message(self) -> Iterator[plugin.Metric]:
        from check_mail import dmarc, ptr

        args = self.args
        assert self.message is not None
        helo = args.helo or self.sender.rpartition("@")[2] or \
            dmarc.author_domain(self.message.headers)[0] or "localhost"
        self.verdict = self.resolver.run(dmarc.evaluate(
            self.resolver, self.message, args.ip, self.sender, helo))
        if args.bulk_sender:
            self.confirmed_ptr = ptr.check(self.resolver, [args.ip])[0].confirmed
        yield plugin.Metric("message", message_findings(self, args), context="message")
        yield plugin.Metric("aligned", self.verdict.aligned_passes, min=0,
                            max=len(self.verdict.identifiers), context="measure")


def summary(found: Discovery) -> str:
    """"example.org: p=reject, reports to dmarc@example.org"."""
    policy = found.policy
    assert policy is not None
    parts = [f"p={policy.p}"]
    if found.inherited:
        parts = [f"sp={policy.for_subdomains()} from {found.found_at}"]
    elif policy.sp is not None:
        parts.append(f"sp={policy.sp}")
    reports = ", ".join(u.address or u.text for u in policy.rua)
    parts.append(f"reports to {reports}" if reports else "no reports")
    return f"{found.domain}: {', '.join(parts)}"


def domain_findings(found: Discovery, destinations: list[Destination],
                    args: argparse.Namespace) -> list[Finding]:
    """Everything wrong with one domain's policy, by the rules in EPILOG."""
    from check_mail.dns import failed_lookups

    name = found.domain
    crit, warn = Level.CRITICAL, Level.WARNING
    if found.failures:
        return [Finding(Level.UNKNOWN, f"{name}: lookup failed: "
                                       f"{failed_lookups(found.failures)}")]
    if not found.records:
        org = f" nor at _dmarc.{found.org}" if found.org != name else ""
        return [Finding(crit, f"{name}: no DMARC record at _dmarc.{name}{org}")]
    if len(found.records) > 1:
        return [Finding(crit, f"{name}: {len(found.records)} DMARC records at "
                              f"_dmarc.{found.found_at}: receivers apply none")]
    if found.error is not None:
        tag = f" (tag {found.error.tag}=)" if found.error.tag else ""
        return [Finding(crit, f"{name}: syntax error: {found.error}{tag}")]
    policy = found.policy
    assert policy is not None
    if not policy.applies:
        why = "; ".join(e.problem for e in policy.errors if e.changes and e.tag in ("p", "sp"))
        return [Finding(crit, f"{name}: receivers apply no DMARC: {why}, and no valid rua= "
                              "(RFC 7489 6.6.3 step 6)")]
    applied = policy.for_subdomains() if found.inherited else policy.p
    out = record_errors(found)
    if applied.strength == 0 and not args.allow_none:
        out.append(Finding(warn, summary(found)
                           + (" (no p=, so none)" if policy.implicit_p else "")))
    elif applied.strength == 1 and args.strict:
        out.append(Finding(warn, f"{summary(found)} (--strict)"))
    if policy.pct < 100:
        out.append(Finding(warn, f"{name}: pct={policy.pct}: the policy applies to "
                                 f"{policy.pct}% of failing mail only (RFC 9989 removes pct: "
                                 "receivers that follow it apply the policy to all)"))
    if policy.testing:
        out.append(Finding(warn, f"{name}: t=y: the policy is on trial, receivers may "
                                 "apply a lesser one"))
    for tag, value in (("sp", policy.sp), ("np", policy.np)):
        if value is not None and value.strength < policy.p.strength:
            out.append(Finding(warn, f"{name}: {tag}={value} is weaker than p={policy.p}"))
    if "rua" not in policy.tags:
        out.append(Finding(warn, f"{name}: no rua=: nobody receives the aggregate reports"))
    for uri in (*policy.rua, *policy.ruf):
        if uri.scheme != "mailto":
            out.append(Finding(warn, f"{name}: {uri.text}: receivers send reports only to "
                                     "mailto: addresses"))
    for destination in destinations:
        where = f"{found.found_at}._report._dmarc.{destination.uri.domain}"
        if not destination.answer.answered:
            out.append(Finding(Level.UNKNOWN, f"{name}: cannot tell whether "
                                              f"{destination.uri.domain} takes the reports: "
                                              f"TXT {where} {destination.answer.describe()}"))
        elif not destination.authorized:
            out.append(Finding(warn, f"{name}: {destination.uri.address} is outside the "
                                     f"domain and does not authorise its reports (no "
                                     f"v=DMARC1 at {where}): they are dropped"))
    for tag in policy.unknown:
        out.append(Finding(warn, f"{name}: unknown tag {tag}= (ignored by receivers)"))
    answer = found.answer
    if answer is not None and answer.ttl is not None and answer.ttl > args.max_ttl:
        out.append(Finding(warn, f"{name}: TTL {answer.ttl} s (more than --max-ttl "
                                 f"{args.max_ttl})"))
    return out


def record_errors(found: Discovery) -> list[Finding]:
    """The tags receivers cannot use, each with what they do about it (RFC
    7489 6.3, 6.6.3): a WARNING, whether they ignore it or it changes what
    they apply (p=none for a broken p=, reports lost); what they then apply
    is judged by the thresholds like any policy."""
    policy = found.policy
    assert policy is not None
    applied = policy.for_subdomains() if found.inherited else policy.p
    share = "all mail" if policy.pct == 100 else f"{policy.pct}% of failing mail"
    out = []
    for error in policy.errors:
        if error.changes:
            out.append(Finding(Level.WARNING, f"{found.domain}: {error.problem}: "
                                              f"{error.effect}"))
        else:
            out.append(Finding(Level.WARNING, f"{found.domain}: p={applied} applies to "
                                              f"{share}; {error.problem} ({error.effect})"))
    return out


def describe(identifier: Identifier) -> str:
    """"SPF passes for bounce.esp.example (not aligned)", "DKIM d=esp.example s=s1
    (aligned)"."""
    alignment = "aligned" if identifier.aligned else "not aligned"
    if identifier.method == "spf":
        verb = "passes" if identifier.passes else f"gives {identifier.result}"
        return f"SPF {verb} for {identifier.domain} ({alignment})"
    result = "" if identifier.passes else f"{identifier.result}, "
    selector = f" s={identifier.selector}" if identifier.selector else ""
    return f"DKIM d={identifier.domain or '?'}{selector} ({result}{alignment})"


def message_findings(resource: Dmarc, args: argparse.Namespace) -> list[Finding]:
    from check_mail.dmarc import Result

    verdict = resource.verdict
    assert verdict is not None
    if verdict.problem:
        return [Finding(Level.CRITICAL, f"the message fails DMARC: {verdict.problem}")]
    author = verdict.author
    said = ", ".join(describe(i) for i in verdict.identifiers)
    if not any(i.method == "dkim" for i in verdict.identifiers):
        said += ", no DKIM signature"
    out = []
    result = verdict.result
    if result is Result.TEMPERROR:
        out.append(Finding(Level.UNKNOWN, f"message from {author}: cannot tell: a lookup "
                                          f"failed ({said})"))
    elif result is Result.NONE:
        out.append(Finding(Level.WARNING, f"message from {author}: no DMARC policy; {said}"))
    elif result is Result.FAIL:
        out.append(Finding(Level.CRITICAL, f"message from {author} fails DMARC: {said}; "
                                           f"the DKIM d= or the MAIL FROM domain must be "
                                           f"{author} or below it"))
    if args.bulk_sender:
        out += bulk_findings(resource)
    return out


def bulk_findings(resource: Dmarc) -> list[Finding]:
    """What Gmail and Yahoo require of bulk senders (since 2024) and can be
    seen here: DMARC, SPF and DKIM passing, one-click unsubscribe (RFC 8058:
    List-Unsubscribe with an https URI, List-Unsubscribe-Post, both signed),
    and forward-confirmed reverse DNS for the sending address."""
    verdict = resource.verdict
    assert verdict is not None
    crit = Level.CRITICAL
    out = []
    if verdict.discovery is None or not verdict.discovery.applies:
        out.append(Finding(crit, f"bulk sender: {verdict.author} publishes no DMARC policy"))
    if not any(i.method == "spf" and i.passes for i in verdict.identifiers):
        out.append(Finding(crit, "bulk sender: SPF must pass"))
    if not any(i.method == "dkim" and i.passes for i in verdict.identifiers):
        out.append(Finding(crit, "bulk sender: DKIM must pass"))
    headers = {line.partition(":")[0].strip().lower(): line.partition(":")[2].strip()
               for line in verdict.unsubscribe}
    if "https://" not in headers.get("list-unsubscribe", "").lower() or \
            headers.get("list-unsubscribe-post", "").replace(" ", "").lower() != \
            "list-unsubscribe=one-click":
        out.append(Finding(crit, "bulk sender: no one-click unsubscribe (List-Unsubscribe "
                                 "with an https URI and List-Unsubscribe-Post: "
                                 "List-Unsubscribe=One-Click, RFC 8058)"))
    elif not signed_unsubscribe(resource):
        out.append(Finding(crit, "bulk sender: the unsubscribe headers are not signed by a "
                                 "passing DKIM signature (RFC 8058 section 4)"))
    if not resource.confirmed_ptr:
        out.append(Finding(crit, f"bulk sender: {resource.args.ip} has no forward-confirmed "
                                 "PTR"))
    return out


def signed_unsubscribe(resource: Dmarc) -> bool:
    """A passing DKIM signature's h= covers List-Unsubscribe and -Post."""
    from check_mail import dkim

    message, verdict = resource.message, resource.verdict
    assert message is not None and verdict is not None
    passing = {i.domain for i in verdict.identifiers if i.method == "dkim" and i.passes}
    for name, raw in message.headers:
        if name.lower() != "dkim-signature":
            continue
        try:
            tags = dkim.parse_tags(raw.partition(b":")[2].decode("ascii", "replace"))
        except dkim.DkimError:
            continue
        covered = {h.strip().lower() for h in tags.get("h", "").split(":")}
        if tags.get("d", "").lower() in passing and \
                {"list-unsubscribe", "list-unsubscribe-post"} <= covered:
            return True
    return False


class Wording(plugin.Summary):
    resource: Dmarc

    def ok(self, results: plugin.Results) -> str:
        parts = [summary(found) for found, _ in self.resource.found if found.policy]
        verdict = self.resource.verdict
        if verdict is not None:
            aligned = ", ".join(describe(i) for i in verdict.identifiers if i.passes and
                                i.aligned)
            parts.append(f"message from {verdict.author} passes DMARC: {aligned}")
        return "; ".join(parts)

    def verbose(self, results: plugin.Results) -> list[str]:
        lines = []
        for found, destinations in self.resource.found:
            name = found.domain
            where = found.found_at or "nowhere"
            lines.append(f"{name}: record at _dmarc.{where}: "
                         f"{'; '.join(found.records) or 'none'}")
            walk = f", RFC 9989 tree walk: {found.walk_org}" if found.walk_org != found.org \
                else ""
            lines.append(f"{name}: organizational domain {found.org} (public suffix list)"
                         f"{walk}")
            if found.policy is not None:
                tags = ", ".join(f"{t}={v}" for t, v in found.policy.tags.items())
                lines.append(f"{name}: tags: {tags}")
                for destination in destinations:
                    state = "authorised" if destination.authorized else "not authorised"
                    lines.append(f"{name}: reports to {destination.uri.address}: {state}")
        verdict = self.resource.verdict
        if verdict is not None:
            for identifier in verdict.identifiers:
                lines.append(f"message: {describe(identifier)}")
            if verdict.discovery is not None and verdict.discovery.policy is not None:
                lines.append(f"message: policy {summary(verdict.discovery)}")
            lines.append(f"message: DMARC {verdict.result}")
        return lines + plugin.finding_lines(results)


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    from check_mail import dkim

    if not args.domain and not args.message:
        raise plugin.UsageError("give -D DOMAIN, --message FILE or both")
    message = None
    sender = ""
    if args.message:
        if not args.ip:
            raise plugin.UsageError("--message needs --ip: the address the message left from")
        try:
            message = dkim.parse_message(plugin.read_input(args.message, "--message",
                                                           MESSAGE_LIMIT))
        except dkim.DkimError as exc:
            raise plugin.UsageError(f"--message {args.message}: {exc}") from None
        sender = args.sender if args.sender is not None else return_path(message)
    elif args.ip or args.sender or args.bulk_sender:
        raise plugin.UsageError("--ip, --sender and --bulk-sender go with --message")
    resource = Dmarc(args, deadline, message, sender)
    return plugin.check(
        resource,
        plugin.Findings("domain"),
        plugin.Findings("message"),
        plugin.Measure("measure"),
        Wording(resource),
    )


def return_path(message: Message) -> str:
    """The envelope sender a delivered message carries in Return-Path ("" for <>)."""
    from email.utils import parseaddr

    for name, raw in message.headers:
        if name.lower() == "return-path":
            return parseaddr(raw.partition(b":")[2].decode("ascii", "replace"))[1]
    return ""


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)

