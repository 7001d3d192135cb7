"""The scaffolding every check_* plugin stands on; the only library module that knows nagiosplugin.

It gives each plugin the same common options, the Monitoring Plugins exit
codes for ``--help``, ``--version`` and bad arguments (argparse alone would
exit 0 and 2), one deadline derived from ``-t``, one UNKNOWN line for any
failure (the traceback only at ``-vvv``), and perfdata without exponents.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import nagiosplugin

from check_mail import __version__
from check_mail.deadline import Deadline

UNKNOWN = 3
DEFAULT_TIMEOUT = 10.0


class UsageError(Exception):
    """Bad input found after parsing: shown as one UNKNOWN line, exit 3."""


class PluginTimeout(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that speaks the plugin API: stdout, exit 3."""

    def __init__(self, name: str, prog: str, description: str, epilog: str = "") -> None:
        super().__init__(
            prog=prog, description=description, epilog=epilog, add_help=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.plugin_name = name
        self.add_argument("-h", "--help", action="help", help="show this help and exit")
        self.add_argument("-V", "--version", action="version",
                          version=f"{prog} (check-mail) {__version__}")
        self.add_argument("-v", "--verbose", action="count", default=0,
                          help="more output: -v lists details, -vvv adds tracebacks")
        self.add_argument("-t", "--timeout", type=option_type(positive_float),
                          default=DEFAULT_TIMEOUT, metavar="SECONDS",
                          help="finish within this many seconds (default %(default)g)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stdout.write(message)
        sys.exit(UNKNOWN)

    def error(self, message: str) -> NoReturn:
        sys.stdout.write(f"{self.plugin_name} UNKNOWN - {message}\n{self.format_usage()}")
        sys.exit(UNKNOWN)

    def add_thresholds(self, what: str, warning: str, critical: str) -> None:
        self.add_argument("-w", "--warning", type=option_type(threshold), default=warning,
                          metavar="RANGE",
                          help=f"warning range for {what} (default %(default)s)")
        self.add_argument("-c", "--critical", type=option_type(threshold), default=critical,
                          metavar="RANGE",
                          help=f"critical range for {what} (default %(default)s)")

    def add_family_options(self) -> None:
        family = self.add_mutually_exclusive_group()
        family.add_argument("-4", "--ipv4", dest="family", action="store_const", const=4,
                            help="check IPv4 addresses only")
        family.add_argument("-6", "--ipv6", dest="family", action="store_const", const=6,
                            help="check IPv6 addresses only")

    def add_dns_options(self, workers: int = 256) -> None:
        group = self.add_argument_group("DNS")
        group.add_argument("-n", "--nameserver", action="append", type=option_type(nameserver),
                           metavar="ADDR[:PORT]",
                           help="ask this resolver instead of the system's (repeatable; "
                                "IPv6 as [::1]:5353)")
        group.add_argument("--query-timeout", type=option_type(positive_float), default=3.0,
                           metavar="SECONDS",
                           help="give up on one try of one query after this long "
                                "(default %(default)g); -t bounds the whole run")
        group.add_argument("--workers", type=option_type(positive_int), default=workers,
                           metavar="N", help="queries in flight at once (default %(default)s)")


def option_type(convert: Callable[[str], object]) -> Callable[[str], object]:
    """Let argparse show our own message for a bad value."""

    def wrapper(text: str) -> object:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapper.__name__ = convert.__name__
    return wrapper


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{text!r} must be greater than 0")
    return value


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a positive whole number")
    return int(text)


def nameserver(text: str):
    """``ADDR[:PORT]``; check_mail.dns is imported only when the option is given."""
    from check_mail.dns import parse_nameserver

    return parse_nameserver(text)


def port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port (1-65535)")
    return int(text)


def threshold(text: str) -> nagiosplugin.Range:
    """A range in the Monitoring Plugins syntax: 10, 10:, ~:10, 10:20, @10:20."""
    try:
        return nagiosplugin.Range(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid range") from None


def check_host(host: str, family: int | None) -> None:
    """-H must be an IP address or a hostname, of the family -4/-6 asks for."""
    from check_mail.dns import is_address, is_hostname

    if is_address(host):
        from ipaddress import ip_address

        if family and ip_address(host).version != family:
            raise UsageError(f"-H {host} is not an IPv{family} address")
    elif not is_hostname(host):
        raise UsageError(f"-H {host!r} is neither an IP address nor a hostname")


def resolve_host(resolver, host: str, family: int | None) -> list[str]:
    """The addresses behind -H: the address itself, or every A and AAAA of a
    hostname (one family with -4/-6). A failed lookup ends the check UNKNOWN."""
    from check_mail.dns import Status, is_address

    if is_address(host):
        return [host]
    found = resolver.addresses(host, family)
    if found.failures:
        failed = ", ".join(f"{a.rdtype} {a.describe()}" for a in found.failures)
        raise nagiosplugin.CheckError(f"cannot resolve {host}: {failed}")
    if all(a.status is Status.NXDOMAIN for a in found.answers):
        raise nagiosplugin.CheckError(f"{host} does not exist (NXDOMAIN)")
    if not found.addresses:
        kind = {4: "IPv4 ", 6: "IPv6 "}.get(family or 0, "")
        raise nagiosplugin.CheckError(f"{host} has no {kind}address")
    return list(found.addresses)


def resolver(args: argparse.Namespace, deadline: Deadline):
    """The DNS layer as the common DNS options (-n, --query-timeout, --workers) ask."""
    from check_mail.dns import Resolver

    return Resolver(args.nameserver, deadline=deadline, query_timeout=args.query_timeout,
                    max_in_flight=args.workers)


Finding = tuple  # (nagiosplugin state, text)


class Findings(nagiosplugin.Context):
    """Judges one thing (an address, a selector) by a list of (state, text)
    findings from ``judge``; the worst sets the state, none means OK."""

    def __init__(self, name: str, judge: Callable[[object], list[Finding]]) -> None:
        super().__init__(name)
        self.judge = judge

    def evaluate(self, metric, resource):  # type: ignore[override]
        found = self.judge(metric.value)
        if not found:
            return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)
        worst = max(state for state, _ in found)
        return nagiosplugin.Result(worst, "; ".join(t for s, t in found if s == worst), metric)


def problem_line(results: nagiosplugin.Results,
                 describe: Callable[[nagiosplugin.Result], str] | None = None) -> str:
    """A status line for a problem: the first of the worst findings, and how many
    more there are; the long output (-v) lists them all. ``describe`` words the
    results of other contexts (thresholds); by default their hint is used."""
    state = results.most_significant_state
    problems = []
    for r in results.most_significant:
        context = r.metric.contextobj if r.metric else None
        if isinstance(context, Findings):
            problems += [text for s, text in context.judge(r.metric.value) if s == state]
        else:
            problems.append((describe(r) if describe else "") or r.hint or str(r))
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more if problems else ""


def number(value: float) -> str:
    """A perfdata number: never in exponent notation."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _performance(metric: nagiosplugin.Metric, warning: object = "", critical: object = "",
                 ) -> nagiosplugin.Performance:
    def bound(value: float | None) -> str:
        return "" if value is None else number(value)

    return nagiosplugin.Performance(metric.name, number(metric.value), metric.uom or "",
                                    warning or "", critical or "", bound(metric.min),
                                    bound(metric.max))


class Threshold(nagiosplugin.ScalarContext):
    """A value judged by -w/-c ranges."""

    def performance(self, metric, resource):  # type: ignore[override]
        return _performance(metric, self.warning, self.critical)


class Limit(nagiosplugin.Context):
    """A count of failures outside its range makes the result UNKNOWN rather
    than a problem of the checked server: too many failed queries mean we do
    not know. Without a range, fewer than half of the metric's max may fail."""

    def __init__(self, name: str, limit: nagiosplugin.Range | None, hint: str) -> None:
        super().__init__(name)
        self.limit = limit
        self.hint = hint

    def _range(self, metric: nagiosplugin.Metric) -> nagiosplugin.Range:
        return self.limit or nagiosplugin.Range(f"~:{max(0, (metric.max or 0) - 1) // 2}")

    def evaluate(self, metric, resource):  # type: ignore[override]
        if self._range(metric).match(metric.value):
            return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)
        return nagiosplugin.Result(nagiosplugin.Unknown, self.hint, metric)

    def performance(self, metric, resource):  # type: ignore[override]
        return _performance(metric, critical=self._range(metric))


class Measure(nagiosplugin.Context):
    """A value reported in perfdata only, such as the run time."""

    def performance(self, metric, resource):  # type: ignore[override]
        return _performance(metric)


def elapsed(deadline: Deadline) -> nagiosplugin.Metric:
    """The run time so far, in seconds, for the ``time`` perfdata (context "time")."""
    return nagiosplugin.Metric("time", round(deadline.elapsed(), 3), "s", min=0, context="time")


BuildCheck = Callable[[argparse.Namespace, Deadline], nagiosplugin.Check]


def run(parser: Parser, build: BuildCheck, argv: list[str] | None = None) -> NoReturn:
    """Parse, check and print, always within ``-t``, always with a plugin exit code."""
    args = parser.parse_args(argv)
    name = parser.plugin_name
    # Keep back time to word and print the result (and for the interpreter's
    # start, which happened before this clock began).
    deadline = Deadline(args.timeout - min(0.5, args.timeout * 0.25))
    try:
        with _backstop(args.timeout):
            check = build(args, deadline)
            check.name = name
            check.main(verbose=args.verbose, timeout=0)
    except UsageError as exc:
        _unknown(name, str(exc))
    except PluginTimeout:
        _unknown(name, f"plugin timed out after {number(args.timeout)} s")
    except Exception as exc:
        tb = traceback.format_exc() if args.verbose >= 3 else ""
        hint = "" if tb else " (-vvv shows the traceback)"
        _unknown(name, f"internal error: {type(exc).__name__}: {exc}{hint}", tb)
    sys.exit(UNKNOWN)  # not reached: check.main() exits


def _unknown(name: str, message: str, details: str = "") -> NoReturn:
    first = " ".join(message.split())  # one line, whatever the message held
    sys.stdout.write(f"{name} UNKNOWN - {first}\n{details}")
    sys.stdout.flush()
    sys.exit(UNKNOWN)


@contextmanager
def _backstop(seconds: float) -> Iterator[None]:
    """Our own alarm, should anything block past the deadline (no DNS or SMTP
    wait does; this guards against the unforeseen)."""

    def expire(signum: int, frame: object) -> None:
        raise PluginTimeout

    if not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
