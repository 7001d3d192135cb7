"""check_rbl: is any address of a mail server, or its sending domain, on a DNS blocklist?

Every A and AAAA address of the host is looked up in every blocklist zone that
serves its family, all queries at once. Only answers inside 127.0.0.0/8 count
as listings; a zone that answers anything else, or one of its error codes, or
does not answer, is an error, and too many errors make the result UNKNOWN:
a dead resolver must never read OK.
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
    from check_mail.dnsbl import Report, Zone, ZoneOutcome

KEYS_VARIABLE = "CHECK_MAIL_RBL_KEYS"

EPILOG = """\
thresholds count the zones that list the host (or domain):
  default -w 0 -c 1: one listing warns, two are critical.

examples:
  check_rbl -H mail.example.org
  check_rbl -H 192.0.2.25 -s zen.spamhaus.org -s bl.spamcop.net -v
  check_rbl -H mail.example.org -D example.org --key-file /etc/check-mail/rbl.keys
  check_rbl -H mail.example.org --selftest -n 127.0.0.1
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("RBL", "check_rbl", (__doc__ or "").split("\n", 1)[0], EPILOG,
                      verbose="one line per listing (codes, their meaning, the TXT reason, "
                              "the delisting URL), per failed or unusable zone; -vv adds the "
                              "clean zones and the zones skipped for want of a key")
    p.add_host_option("IP address or hostname of the mail server; "
                      "every A and AAAA address is checked")
    p.add_domain_option("also check this sending domain on the domain blocklists (Spamhaus "
                        "DBL, SURBL, URIBL)",
                        required=False, flags=("-D", "-U", "--domain"))
    p.add_family_options()
    p.add_thresholds("the number of zones that list it", warning="0", critical="1",
                     notes=("one listing warns", "two are critical"))
    p.add_argument("--max-errors", type=plugin.option_type(plugin.threshold), metavar="RANGE",
                   help="UNKNOWN when the number of zones that failed is outside "
                        "this range (default: UNKNOWN when half or more failed)")
    zones = p.add_argument_group("zones")
    zones.add_argument("-s", "--server", action="append", metavar="ZONE",
                       help="ask this zone instead of the default list (repeatable)")
    zones.add_argument("--zones-file", metavar="FILE",
                       help="read the zones from this file instead of the shipped list")
    zones.add_argument("--key-file", metavar="FILE",
                       help="enable keyed zones with the keys in FILE, one NAME=SECRET a "
                            "line, e.g. spamhaus-dqs=SECRET; or set "
                            f"{KEYS_VARIABLE}=\"NAME=SECRET ...\" in the environment")
    zones.add_argument("--key", action="append", default=[], metavar="NAME=SECRET",
                       help="a key on the command line (repeatable); every local user can "
                            "read it in ps, so prefer --key-file")
    zones.add_argument("--selftest", action="store_true",
                       help="ask each zone for its RFC 5782 test entries and leave out "
                            "zones that fail (dead or listing everything)")
    p.add_dns_options()
    return p


class Blocklists(plugin.Resource):
    """Resolves the host and asks every zone; keeps the report for the Summary."""

    def __init__(self, args: argparse.Namespace, deadline: Deadline, zones: list[Zone]) -> None:
        super().__init__(args, deadline)
        self.zones = zones
        self.addresses: list[str] = []
        self.report: Report | None = None

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import dnsbl

        args = self.args
        items = []
        if args.host:
            self.addresses = self.host_addresses(args.host, args.family)
            items.extend(self.addresses)
        if args.domain:
            items.append(args.domain)
        self.report = dnsbl.check(self.resolver, items, self.zones,
                                  with_selftest=args.selftest)
        usable = self.report.usable
        listed = len(self.report.with_verdict(dnsbl.Verdict.LISTED))
        errors = len(self.report.with_verdict(dnsbl.Verdict.ERROR))
        yield plugin.Metric("listed", listed, min=0, max=len(usable), context="listed")
        yield plugin.Metric("errors", errors, min=0, max=len(usable), context="errors")
        yield plugin.Metric("zones", len(usable), min=0, context="zones")
        if not usable:  # every zone failed its self-test: we know nothing
            yield plugin.Metric("usable", [Finding(Level.UNKNOWN, "no usable zone")],
                                context="usable")
        yield from self.finish()


class Wording(plugin.Summary):
    resource: Blocklists

    def __init__(self, resource: Blocklists, skipped: list[Zone]) -> None:
        super().__init__(resource)
        self.skipped = skipped

    def ok(self, results: plugin.Results) -> str:
        return self._line(results)

    def problem(self, results: plugin.Results) -> str:
        if self.resource.report is None:  # the probe failed before asking any zone
            return plugin.problem_line(results)
        return self._line(results)

    def _line(self, results: plugin.Results) -> str:
        from check_mail import dnsbl

        report = self.resource.report
        assert report is not None
        usable = len(report.usable)
        listed = report.with_verdict(dnsbl.Verdict.LISTED)
        errors = report.with_verdict(dnsbl.Verdict.ERROR)
        failed = f"{len(errors)} of {count(usable, 'zone')} failed ({_reasons(errors)})"
        if not usable:
            return (f"cannot tell whether {self._target()} is listed: none of the "
                    f"{count(len(report.unusable), 'zone')} passed its self-test")
        if listed:
            names = _some([z.zone.name for z in listed])
            line = (f"{', '.join(report.listed_items)} listed on {len(listed)} of "
                    f"{count(usable, 'zone')} ({names})")
        elif plugin.level(results["errors"].state) is Level.UNKNOWN:
            return f"cannot tell whether {self._target()} is listed: {failed}"
        else:
            line = f"{self._target()} not listed on {count(usable - len(errors), 'zone')}"
        if errors:
            line += f"; {failed}"
            public = dnsbl.public_resolvers(self.resource.resolver.nameservers)
            if public:  # the likely cause, and the first thing to fix
                line += f"; public resolver {public[0]} in use"
        if report.unusable:
            line += f"; {count(len(report.unusable), 'zone')} unusable"
        return "; ".join([line, *(f.text for f in self.resource.limits)])

    def _target(self) -> str:
        args, addresses = self.resource.args, self.resource.addresses
        parts = []
        if args.host and addresses != [args.host]:
            parts.append(f"{args.host} ({_some(addresses)})")
        elif args.host:
            parts.append(args.host)
        if args.domain:
            parts.append(args.domain)
        return " and ".join(parts)

    def verbose(self, results: plugin.Results) -> list[str]:
        from check_mail import dnsbl

        report = self.resource.report
        if report is None:
            return []
        lines = []
        for outcome in report.zones:
            zone = outcome.zone
            if not outcome.usable:
                lines.append(f"{zone.name}: unusable, {outcome.selftest}")
                continue
            for lk in outcome.lookups:
                if lk.verdict is dnsbl.Verdict.LISTED:
                    codes = ", ".join(lk.codes)
                    if lk.meanings:
                        codes += f" ({', '.join(lk.meanings)})"
                    line = f"{lk.item} listed on {zone.name}: {codes}"
                    if lk.reason:
                        line += f' "{lk.reason}"'
                    if zone.delist:
                        line += f"; delist: {zone.delist}"
                    lines.append(line)
                elif lk.verdict is dnsbl.Verdict.ERROR:
                    lines.append(f"{lk.item} on {zone.name}: error, {lk.reason}")
                elif self.resource.args.verbose >= 2:
                    note = f" ({lk.reason})" if lk.reason else ""
                    lines.append(f"{lk.item} on {zone.name}: clean{note}")
        public = dnsbl.public_resolvers(self.resource.resolver.nameservers)
        if public:
            lines.append(f"warning: the resolver {', '.join(public)} is public; Spamhaus and "
                         "other blocklists refuse or limit such resolvers, use your own")
        if self.skipped and self.resource.args.verbose >= 2:
            lines.append("skipped, no --key given: " + ", ".join(z.name for z in self.skipped))
        return lines


def _some(names: list[str], most: int = 5) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f" and {len(names) - most} more"


def _reasons(errors: list[ZoneOutcome]) -> str:
    from collections import Counter

    counts = Counter(lk.problem for outcome in errors for lk in outcome.lookups if lk.problem)
    return ", ".join(f"{n} {problem}" for problem, n in counts.most_common())


def read_keys(args: argparse.Namespace) -> dict[str, str]:
    """The blocklist keys: from the environment, then --key-file, then --key,
    a later source overriding an earlier one. An error names where the bad
    entry is, never what it holds."""
    entries = [(KEYS_VARIABLE, word) for word in
               plugin.secret_environment(KEYS_VARIABLE).replace(",", " ").split()]
    if args.key_file:
        text = plugin.read_secret(args.key_file, "--key-file")
        entries += [(f"--key-file {args.key_file}, line {number}", line.strip())
                    for number, line in enumerate(text.splitlines(), 1)
                    if line.strip() and not line.lstrip().startswith("#")]
    entries += [("--key", pair) for pair in args.key]
    keys = {}
    for where, pair in entries:
        name, sep, secret = pair.partition("=")
        if not sep or not name.strip() or not secret.strip():
            raise plugin.UsageError(f"{where}: expected NAME=SECRET (the value is not shown: "
                                    "it may hold a secret)")
        keys[name.strip()] = secret.strip()
    return keys


def zones_for(args: argparse.Namespace) -> tuple[list[Zone], list[Zone]]:
    """The zones to ask, from the shipped list, --zones-file and -s; and those
    left out for want of a key."""
    from check_mail import dnsbl

    keys = read_keys(args)
    try:
        known = dnsbl.load_zones(args.zones_file or dnsbl.DEFAULT_ZONES_FILE)
        if args.server:
            known = [dnsbl.zone_for(name, known) for name in args.server]
        selection = dnsbl.select(known, keys)
    except dnsbl.ZoneError as exc:
        raise plugin.UsageError(str(exc)) from None
    wanted = {dnsbl.Family.DOMAIN} if args.domain else set()
    if args.host:
        wanted |= {dnsbl.Family.IPV4, dnsbl.Family.IPV6}
    zones = [z for z in selection.zones if z.families & wanted]
    skipped = [z for z in selection.skipped if z.families & wanted]
    if not zones:
        raise plugin.UsageError("no zone to ask for " + ("a domain" if args.domain and not
                                                          args.host else "an address"))
    return zones, skipped


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    if not args.host and not args.domain:
        raise plugin.UsageError("give -H HOST, -D DOMAIN or both")
    zones, skipped = zones_for(args)
    resource = Blocklists(args, deadline, zones)
    return plugin.check(
        resource,
        plugin.Threshold("listed", args.warning, args.critical),
        plugin.Limit("errors", args.max_errors, "too many zones failed"),
        plugin.Findings("usable"),
        plugin.Measure("zones"),
        Wording(resource, skipped),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
