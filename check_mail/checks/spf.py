"""check_spf: is there exactly one valid SPF record, strict, within RFC 7208's limits,
and does it authorise the IPs the mail leaves from?

The record is fetched and walked to the end, the way a receiver walks it for
a sender it does not list: every include and redirect, counting DNS lookups
and void lookups. With --ip, check_host() runs for each sending address.
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
    from check_mail.spf import Audit, Outcome

MAX_SENDING_IPS = 64  # check_host() runs per check_spf run; more only repeat the pattern

EPILOG = """\
states:
  CRITICAL  no record; more than one; a syntax error; +all; an include without a
            record; too many lookups (-c, default above 10, which receivers treat
            as a permerror); an --ip that fails, softfails or permerrors
  WARNING   ?all, or neither all nor redirect; ~all with --strict; ptr; the
            obsolete type-99 SPF record; a record over 450 octets; a TTL above
            --max-ttl; lookups above -w (default 8); an --ip that gets neutral/none
  UNKNOWN   a DNS failure (temperror), also of the MX lookup for --mx-must-pass

examples:
  check_spf -D example.org
  check_spf -D example.org --ip 192.0.2.25 --ip 2001:db8::25 --mx-must-pass -v
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("SPF", "check_spf",
                      __doc__, EPILOG,
                      verbose="the record, the include and redirect tree with what each "
                              "branch costs, the costliest include, each --ip's result and "
                              "every finding")
    p.add_domain_option("the domain whose SPF record is audited")
    p.add_thresholds("DNS lookups over the whole include tree", warning="8", critical="10",
                     notes=("", "receivers permerror above 10"))
    p.add_argument("--void-warning", type=plugin.option_type(plugin.threshold), default="1",
                   metavar="RANGE", help="warning range for void lookups (default %(default)s)")
    p.add_argument("--void-critical", type=plugin.option_type(plugin.threshold), default="2",
                   metavar="RANGE",
                   help="critical range for void lookups (default %(default)s: receivers "
                        "permerror above 2)")
    p.add_argument("--strict", action="store_true", help="~all warns too; only -all is OK")
    p.add_argument("--max-ttl", type=plugin.option_type(plugin.positive_int), default=86400,
                   metavar="SECONDS", help="warn when the record's TTL is longer "
                                           "(default %(default)s)")
    senders = p.add_argument_group("sending IPs")
    senders.add_argument("--ip", action="append", default=[],
                         type=plugin.option_type(plugin.ip_address), metavar="ADDR",
                         help="run check_host() for this sending address; it must pass "
                              "(repeatable)")
    senders.add_argument("--mx-must-pass", action="store_true",
                         help="the domain's own MX addresses must pass too")
    senders.add_argument("--helo", type=plugin.option_type(plugin.helo), metavar="NAME",
                         help="the HELO name for check_host()")
    senders.add_argument("--sender", type=plugin.option_type(plugin.mail_address),
                         metavar="ADDR",
                         help="the MAIL FROM for check_host() (default postmaster@DOMAIN)")
    p.add_dns_options()
    return p


class Spf(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        super().__init__(args, deadline)
        self.audit: Audit | None = None
        self.outcomes: list[tuple[str, Outcome]] = []

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import mx, spf

        args = self.args
        self.audit = spf.audit(self.resolver, args.domain)
        yield plugin.Metric("record", record_findings(self.audit, args), context="record")
        walk = self.audit.walk
        if walk is not None:
            yield plugin.Metric("lookups", walk.lookups, min=0, context="lookups")
            yield plugin.Metric("voids", walk.voids, min=0, context="voids")
        if self.audit.txt.ttl is not None and self.audit.records:
            yield plugin.Metric("ttl", self.audit.txt.ttl, "s", min=0, context="ttl")
        ips = list(args.ip)
        if args.mx_must_pass:
            exchangers = mx.lookup(self.resolver, args.domain)
            # A null MX only means the domain receives no mail: its record can hold.
            yield plugin.Metric("mx", mx.problems(exchangers, null_mx=Level.OK), context="mx")
            ips += [a for _, a in exchangers.addresses if a not in ips]
        if len(ips) > MAX_SENDING_IPS:
            self.capped(f"{len(ips)} sending IPs; only the first {MAX_SENDING_IPS} are checked")
            ips = ips[:MAX_SENDING_IPS]
        if ips:
            sender = args.sender or f"postmaster@{args.domain}"
            results = spf.check_hosts(self.resolver, ips, args.domain, sender,
                                      args.helo or args.domain)
            self.outcomes = list(zip(ips, results))
            for ip, outcome in self.outcomes:
                yield plugin.Metric(ip, ip_findings(ip, outcome), context="ip")
        yield from self.finish()


def record_findings(audit: Audit, args: argparse.Namespace) -> list[Finding]:
    """What is wrong with the publication itself."""
    from check_mail.spf import Result

    crit, warn = Level.CRITICAL, Level.WARNING
    if not audit.txt.answered:
        return [Finding(Level.UNKNOWN, f"TXT lookup failed: {audit.txt.describe()}")]
    if not audit.records:
        return [Finding(crit, "no SPF record")]
    if len(audit.records) > 1:
        return [Finding(crit, f"{len(audit.records)} SPF records (permerror)")]
    if audit.syntax:
        return [Finding(crit, f"syntax error: {audit.syntax} (permerror)")]
    out = []
    walk = audit.walk
    if walk is not None and walk.result is Result.TEMPERROR:
        out.append(Finding(Level.UNKNOWN, f"temperror: {walk.problem}"))
    for target in audit.missing_includes:
        out.append(Finding(crit, f"include:{target} has no SPF record (permerror)"))
    for where, problem in audit.permerrors:
        out.append(Finding(crit, f"{where}: {problem} (permerror)"))
    ending = audit.ending
    if ending == "+all":
        out.append(Finding(crit, "+all authorises every sender"))
    elif ending in ("?all", ""):
        out.append(Finding(warn, f"{ending or 'no all and no redirect'}: unlisted senders get "
                                 "neutral, which protects nobody"))
    elif ending == "~all" and args.strict:
        out.append(Finding(warn, "~all: unlisted senders only softfail (--strict)"))
    for where, term in audit.terms("ptr"):
        out.append(Finding(warn, f"{term} in {where}: ptr is slow and deprecated "
                                 "(RFC 7208 5.5)"))
    if audit.spf_rr:
        out.append(Finding(warn, "an obsolete type-99 SPF record is published; only TXT "
                                 "counts"))
    if len(audit.records[0].encode()) > 450:
        out.append(Finding(warn, f"the record is {len(audit.records[0].encode())} octets; "
                                 "over 450 it may not fit a UDP answer"))
    return out


def ip_findings(ip: str, outcome: Outcome) -> list[Finding]:
    """A sending IP must pass: fail, softfail and permerror are critical, neutral
    and none (nothing authorises it) a warning, temperror unknown."""
    from check_mail.spf import Result

    level = {Result.PASS: Level.OK, Result.FAIL: Level.CRITICAL,
             Result.SOFTFAIL: Level.CRITICAL, Result.PERMERROR: Level.CRITICAL,
             Result.NEUTRAL: Level.WARNING, Result.NONE: Level.WARNING,
             Result.TEMPERROR: Level.UNKNOWN}[outcome.result]
    if level is Level.OK:
        return []
    why = f": {outcome.problem}" if outcome.problem else ""
    how = f" ({outcome.mechanism})" if outcome.mechanism and not why else ""
    return [Finding(level, f"{ip} {outcome.result}{how}{why}")]


def basics(resource: Spf, why: str = "") -> str:
    """The lookup count and the ending, which every status line gives; with
    ``why``, the threshold the count is outside of."""
    audit = resource.audit
    if audit is None or audit.walk is None:
        return ""
    limit = f"{why}; max 10" if why else "max 10"
    return (f"{count(audit.walk.lookups, 'DNS lookup')} ({limit}), "
            f"{audit.ending or 'no all'}")


class Wording(plugin.Summary):
    resource: Spf

    def ok(self, results: plugin.Results) -> str:
        return f"{self.resource.args.domain}: {basics(self.resource)}{self._ips()}"

    def problem(self, results: plugin.Results) -> str:
        first = plugin.problem_line(results)
        common = basics(self.resource)
        # The lookup count, worded with its threshold when that is the problem, once.
        line = first if not common or first.startswith(common.partition(" (")[0]) \
            else f"{first}; {common}"
        return f"{self.resource.args.domain}: {line}{self._ips(named=first)}"

    def _ips(self, named: str = "") -> str:
        """The sending IPs' results, less the one the line already names."""
        from check_mail.spf import Result

        outcomes = self.resource.outcomes
        if len(outcomes) > 3:
            passed = sum(o.result is Result.PASS for _, o in outcomes)
            return f"; {passed} of {len(outcomes)} IPs pass"
        return "".join(f"; {ip} {o.result}" for ip, o in outcomes
                       if not named.startswith(f"{ip} "))

    def verbose(self, results: plugin.Results) -> list[str]:
        from check_mail.spf import Result

        audit = self.resource.audit
        if audit is None:
            return []
        lines = [f"record: {r}" for r in audit.records]
        walk = audit.walk
        if walk is not None and walk.tree is not None:
            lines.append(f"lookups: {walk.lookups}, void lookups: {walk.voids}")
            for depth, branch in walk.tree.walk():
                label = f"{branch.via}:" if branch.via else ""
                state = f" [{branch.result}]" if branch.result in (
                    Result.NONE, Result.PERMERROR, Result.TEMPERROR) else ""
                state += " [again]" if branch.repeated else ""
                lines.append(f"{'  ' * depth}{label}{branch.domain.rstrip('.')} "
                             f"costs {count(branch.cost, 'lookup')}{state}")
            costly = walk.costliest
            if costly is not None:
                lines.append(f"costliest: {costly.via}:{costly.domain.rstrip('.')} with "
                             f"{count(costly.cost, 'lookup')}")
        for ip, outcome in self.resource.outcomes:
            detail = f" by {outcome.mechanism}" if outcome.mechanism else ""
            why = f" ({outcome.problem})" if outcome.problem else ""
            lines.append(f"{ip}: {outcome.result}{detail}{why}")
        return lines + plugin.finding_lines(results)


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    resource = Spf(args, deadline)
    return plugin.check(
        resource,
        plugin.Findings("record"),
        plugin.Findings("mx"),
        plugin.Findings("ip"),
        plugin.Threshold("lookups", args.warning, args.critical,
                         fmt_metric=lambda metric, context: basics(resource,
                                                                   context.violation(metric))),
        plugin.Threshold("voids", args.void_warning, args.void_critical,
                         fmt_metric=lambda metric, context: (
                             f"{count(metric.value, 'void lookup')} "
                             f"({context.violation(metric)}; receivers allow 2)"),
                         options=("--void-warning", "--void-critical")),
        plugin.Threshold("ttl", str(args.max_ttl),
                         fmt_metric=lambda metric, context: f"TTL {metric.value} s "
                                                            f"(max {args.max_ttl} s)"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
