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
from typing import TYPE_CHECKING, Any, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import conceal, count

if TYPE_CHECKING:
    from check_mail.dnsbl import Report, Zone, ZoneOutcome

KEYS_VARIABLE = "CHECK_MAIL_RBL_KEYS"

RANGE_RATE = 100  # queries a second for a range, unless --rate says otherwise
MAX_ADDRESSES = 4096
HOSTS_FILE_LIMIT = 1 << 20  # octets: 4096 addresses take a twentieth of this

EPILOG = f"""\
thresholds count the zones that list the host (or domain); for a network or
a hosts file, the zones that list each address, and the worst address sets
the state:
  default -w 0 -c 1: one listing warns, two are critical.

A network or a hosts file asks addresses x zones questions: /24 against 18
zones is 4608. They go at --rate {RANGE_RATE} a second unless told otherwise (blocklists
throttle heavy queriers), so give -t the time (46 s here), and ask through a
caching resolver of your own.

examples:
  check_rbl -H mail.example.org
  check_rbl -H 192.0.2.25 -s zen.spamhaus.org -s bl.spamcop.net -v
  check_rbl -H mail.example.org -D example.org --key-file /etc/check-mail/rbl.keys
  check_rbl -H mail.example.org --selftest -n 127.0.0.1
  check_rbl -H 203.0.113.0/24 -t 120 -n 127.0.0.1
  check_rbl --hosts-file /etc/check-mail/customers.txt --rate 200 -t 300
"""


def parser() -> plugin.Parser:
    p = plugin.Parser("RBL", "check_rbl", __doc__, EPILOG,
                      verbose="one line per listing (codes, their meaning, the TXT reason, "
                              "the delisting URL), per failed or unusable zone; -vv adds the "
                              "clean zones and the zones skipped for want of a key")
    p.add_argument("-H", "--host", type=plugin.option_type(target), metavar="HOST",
                   help="IP address or hostname of the mail server, every A and AAAA "
                        "address of which is checked; or a network such as 203.0.113.0/24")
    p.add_argument("--hosts-file", metavar="FILE",
                   help="check the addresses, hostnames and networks in FILE, one a line "
                        "(# comments)")
    p.add_argument("--max-addresses", type=plugin.option_type(plugin.positive_int),
                   default=MAX_ADDRESSES, metavar="N",
                   help="UNKNOWN rather than check more addresses than this in one run "
                        "(default %(default)s)")
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
    p.add_dns_options(rate=f"{RANGE_RATE} for a network or a hosts file, else unlimited")
    return p


def target(text: str) -> Any:
    """-H: an address, a hostname or a network (check_mail.addresses)."""
    from check_mail import addresses

    return addresses.parse(text, "-H")


def is_range(args: argparse.Namespace) -> bool:
    """A network or a hosts file: addresses judged one by one, the worst counts."""
    host = args.host
    return bool(args.hosts_file) or bool(
        host and host.network is not None and host.network.num_addresses > 1)


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
        if is_range(args):
            self.addresses = self.range_addresses()
            items.extend(self.addresses)
        elif args.host:
            self.addresses = self.host_addresses(args.host.text, args.family)
            items.extend(self.addresses)
        if args.domain:
            items.append(args.domain)
        self.check_pace(items)
        self.report = dnsbl.check(self.resolver, items, self.zones,
                                  with_selftest=args.selftest)
        usable = self.report.usable
        errors = len(self.report.with_verdict(dnsbl.Verdict.ERROR))
        if is_range(args):
            listings = self.report.listings()
            worst = max((len(found) for found in listings.values()), default=0)
            yield plugin.Metric("max_listed", worst, min=0, max=len(usable), context="listed")
            yield plugin.Metric("addresses", len(items), min=0, context="measure")
            yield plugin.Metric("listed_addresses", len(listings), min=0, max=len(items),
                                context="measure")
            yield plugin.Metric("queries", self.resolver.queries, min=0, context="measure")
        else:
            listed = len(self.report.with_verdict(dnsbl.Verdict.LISTED))
            yield plugin.Metric("listed", listed, min=0, max=len(usable), context="listed")
        yield plugin.Metric("errors", errors, min=0, max=len(usable), context="errors")
        yield plugin.Metric("zones", len(usable), min=0, context="measure")
        if not usable:  # every zone failed its self-test: we know nothing
            yield plugin.Metric("usable", [Finding(Level.UNKNOWN, "no usable zone")],
                                context="usable")
        yield from self.finish()

    def range_addresses(self) -> list[str]:
        """Every address of -H and --hosts-file (hostnames resolved), one family
        with -4/-6; more than --max-addresses is refused before any is asked."""
        from check_mail import addresses
        from check_mail.dns import failed_lookups

        args = self.args
        entries = [args.host] if args.host else []
        if args.hosts_file:
            data = plugin.read_input(args.hosts_file, "--hosts-file", HOSTS_FILE_LIMIT)
            try:
                entries += addresses.read(data.decode("utf-8", "replace"),
                                          f"--hosts-file {args.hosts_file}")
            except ValueError as exc:
                raise plugin.UsageError(str(exc)) from None
        self.too_many(addresses.size(entries))
        found = [a for a in addresses.expand(entries)
                 if not args.family or (":" in a) == (args.family == 6)]
        names = [e.hostname for e in entries if e.hostname]
        for host in self.resolver.run_all(self.resolver.host_addresses(name, args.family)
                                          for name in names):
            if host.failures:
                raise plugin.CheckError(f"cannot resolve {host.host.rstrip('.')}: "
                                              f"{failed_lookups(host.failures)}")
            found += [a for a in host.addresses if a not in found]
        self.too_many(len(found))
        if not found:
            kind = {4: "IPv4 ", 6: "IPv6 "}.get(args.family or 0, "")
            raise plugin.UsageError(f"no {kind}address to check")
        return found

    def too_many(self, total: int) -> None:
        if total > self.args.max_addresses:
            raise plugin.UsageError(f"{total} addresses to check, more than --max-addresses "
                                    f"{self.args.max_addresses}: a typo in a prefix length?")

    def check_pace(self, items: list[str]) -> None:
        """Refuse up front a run that --rate cannot finish within -t."""
        rate = self.resolver.rate
        queries = sum(zone.serves(item) for zone in self.zones for item in items)
        if rate and queries / rate > self.deadline.remaining():
            raise plugin.UsageError(
                f"{queries} queries at --rate {plugin.number(rate)} a second take "
                f"{queries / rate:.0f} s, more than -t {plugin.number(self.args.timeout)} "
                "allows: raise -t or --rate")


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
        if listed and is_range(self.resource.args):
            line = self._range_listings(report)
        elif listed:
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

    def _range_listings(self, report: Report) -> str:
        """"3 of 256 addresses listed: 203.0.113.7 on 2 zones (a, b), ...", worst first."""
        listings = report.listings()
        worst = sorted(listings.items(), key=lambda pair: -len(pair[1]))
        shown = [f"{item} on {count(len(found), 'zone')} ({_some([lk.zone for lk in found], 3)})"
                 for item, found in worst[:3]]
        more = f" and {len(worst) - 3} more" if len(worst) > 3 else ""
        return (f"{len(listings)} of {count(len(report.items), 'address', 'addresses')} "
                f"listed: {', '.join(shown)}{more}")

    def _target(self) -> str:
        args, addresses = self.resource.args, self.resource.addresses
        parts = []
        if is_range(args):
            given = [x for x in (args.host.text if args.host else "", args.hosts_file) if x]
            parts.append(f"{count(len(addresses), 'address', 'addresses')} "
                         f"({', '.join(given)})")
        elif args.host and addresses != [args.host.text]:
            parts.append(f"{args.host.text} ({_some(addresses)})")
        elif args.host:
            parts.append(args.host.text)
        if args.domain:
            parts.append(args.domain)
        return " and ".join(parts)

    def verbose(self, results: plugin.Results) -> list[str]:
        from check_mail import dnsbl

        report = self.resource.report
        if report is None:
            return []
        verbose, lines = self.resource.args.verbose, []
        ranged = is_range(self.resource.args)
        if ranged:
            lines += [f"{item} listed on {count(len(found), 'zone')}: "
                      f"{', '.join(lk.zone for lk in found)}"
                      for item, found in report.listings().items()]
        for outcome in report.zones if not ranged or verbose >= 2 else ():
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
                elif verbose >= (3 if ranged else 2):
                    note = f" ({lk.reason})" if lk.reason else ""
                    lines.append(f"{lk.item} on {zone.name}: clean{note}")
        public = dnsbl.public_resolvers(self.resource.resolver.nameservers)
        if public:
            lines.append(f"warning: the resolver {', '.join(public)} is public; Spamhaus and "
                         "other blocklists refuse or limit such resolvers, use your own")
        if self.skipped and verbose >= 2:
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
        conceal(secret.strip())  # a list's TXT reason may echo the key
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
    if args.host or args.hosts_file:
        wanted |= {dnsbl.Family.IPV4, dnsbl.Family.IPV6}
    zones = [z for z in selection.zones if z.families & wanted]
    skipped = [z for z in selection.skipped if z.families & wanted]
    if not zones:
        raise plugin.UsageError("no zone to ask for " + ("a domain" if args.domain and not
                                                          args.host else "an address"))
    return zones, skipped


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    if not args.host and not args.domain and not args.hosts_file:
        raise plugin.UsageError("give -H HOST, -D DOMAIN or both (or --hosts-file)")
    if args.rate is None and is_range(args):
        args.rate = RANGE_RATE
    zones, skipped = zones_for(args)
    resource = Blocklists(args, deadline, zones)
    return plugin.check(
        resource,
        plugin.Threshold("listed", args.warning, args.critical),
        plugin.Limit("errors", args.max_errors, "too many zones failed"),
        plugin.Findings("usable"),
        plugin.Measure("measure"),
        Wording(resource, skipped),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
