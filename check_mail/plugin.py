"""The scaffolding every check stands on; the only module that knows nagiosplugin.

A check (``check_mail/checks/<name>.py``) is nagiosplugin's tutorial shape:
a :class:`Resource` probes, contexts judge, a :class:`Summary` words. This
module gives each check, once:

- a :class:`Parser` with the common options (``-h -V -v -t``), the DNS
  options, ``-H``, ``-D``, ``-4/-6``, ``-w/-c`` and the SMTP options, and
  the option types that validate every value where it is parsed;
- the Monitoring Plugins exit codes: ``--help``, ``--version`` and bad
  arguments exit 3 (argparse alone would exit 0 and 2);
- one deadline derived from ``-t``, and a backstop alarm behind it;
- contexts that carry :class:`~check_mail.outcome.Finding` lists on their
  results, so a finding is judged once and worded wherever it is shown;
- the output: one status line, long output at ``-v``, perfdata without
  exponents, and every line through the one sanitiser
  (:func:`check_mail.text.printable`);
- one UNKNOWN line for any failure, the traceback only at ``-vvv``.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import nagiosplugin
from nagiosplugin import Check, CheckError, Metric, Results

from check_mail import version_line
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import forget_secrets, mask, printable

if TYPE_CHECKING:
    from check_mail.dns import Nameserver, Resolver

__all__ = ["Check", "CheckError", "Finding", "Level", "Metric", "Results"]

UNKNOWN = 3
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 3600.0  # -t beyond an hour is a typo, and overflows timers when huge
# How a run spends -t: the deadline for queries and reads leaves RESERVE (at
# most) to word and print the result; the backstop fires BACKSTOP before -t
# ends and, should unwinding hang, ends the process GRACE later. A plugin so
# ends within -t + MARGIN, whatever the servers do (the interpreter's start,
# some 40 ms, comes on top).
RESERVE = 0.5
BACKSTOP = 0.2
GRACE = 0.25
MARGIN = GRACE
STATUS_LIMIT = 1000  # characters of the status line; details belong in the long output
LINE_LIMIT = 4000  # characters of one long-output line

STATES = {Level.OK: nagiosplugin.Ok, Level.WARNING: nagiosplugin.Warn,
          Level.CRITICAL: nagiosplugin.Critical, Level.UNKNOWN: nagiosplugin.Unknown}
LEVELS = {int(state): level for level, state in STATES.items()}


def level(state: nagiosplugin.state.ServiceState) -> Level:
    return LEVELS[int(state)]


class UsageError(Exception):
    """Bad input found after parsing: shown as one UNKNOWN line, exit 3."""


class PluginTimeout(BaseException):
    """The backstop fired. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way (a parser guarding against hostile
    replies, say) can swallow it."""


# -- options -----------------------------------------------------------------


def option_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """Let argparse show our own message for a bad value."""

    def wrapper(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapper.__name__ = convert.__name__
    return wrapper


_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_RANGE = re.compile(rf"@?(?:(?:~|{_NUMBER})?:)?(?:{_NUMBER})?\Z")


def seconds(text: str) -> float:
    """A duration: a plain decimal number above 0 (no exponent, no "1_0",
    only ASCII digits), at most an hour."""
    if not _DECIMAL.match(text) or not float(text) > 0:
        raise ValueError(f"{text!r} must be a number greater than 0")
    if float(text) > MAX_TIMEOUT:
        raise ValueError(f"{text!r} is more than {MAX_TIMEOUT:g} seconds")
    return float(text)


def positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 10**9:
        raise ValueError(f"{text!r} is not a positive whole number")
    return int(text)


def port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port (1-65535)")
    return int(text)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """A span of time: "90" (seconds), "30s", "15m", "1h", "7d"; at most a year."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not _DECIMAL.match(number) or not 0 < float(number) * _UNITS[unit] <= 366 * 86400:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 1h or 7d")
    return float(number) * _UNITS[unit]


def duration_text(seconds: float) -> str:
    """24h, 90m, 7d, 45s: the largest whole unit (days from two on)."""
    for unit, size, least in (("d", 86400, 2 * 86400), ("h", 3600, 3600), ("m", 60, 60)):
        if seconds >= least and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{number(seconds)}s"


def rate_value(text: str) -> float:
    """Queries a second: a plain number, 0 for no limit."""
    if not _DECIMAL.match(text) or float(text) > 1e6:
        raise ValueError(f"{text!r} is not a number of queries a second")
    return float(text)


def threshold(text: str) -> nagiosplugin.Range:
    """A range in the Monitoring Plugins syntax: 10, 10:, ~:10, 10:20, @10:20."""
    if not _RANGE.match(text) or not any(c.isdigit() for c in text):
        raise ValueError(f"{text!r} is not a valid range")
    try:
        return nagiosplugin.Range(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid range") from None


def nameserver(text: str) -> Nameserver:
    """``ADDR[:PORT]``; check_mail.dns is imported only when the option is given."""
    from check_mail.dns import parse_nameserver

    return parse_nameserver(text)


def host(text: str) -> str:
    """An IP address or a hostname (-H)."""
    from check_mail.dns import is_address, is_hostname

    if not is_address(text) and not is_hostname(text):
        raise ValueError(f"{text!r} is neither an IP address nor a hostname")
    return text


def ip_address(text: str) -> str:
    from check_mail.dns import is_address

    if not is_address(text):
        raise ValueError(f"{text!r} is not an IP address")
    return text


def hostname(text: str) -> str:
    """A hostname, as given (--expect)."""
    from check_mail.dns import is_hostname

    if not is_hostname(text):
        raise ValueError(f"{text!r} is not a hostname")
    return text


def domain(text: str) -> str:
    """A domain name of at least two labels, lower case, without the final dot (-D)."""
    from check_mail.dns import is_hostname

    name = text.rstrip(".").lower()
    if not is_hostname(text) or "." not in name:
        raise ValueError(f"{text!r} is not a domain name")
    return name


def helo(text: str) -> str:
    """What EHLO may say (RFC 5321 4.1.1.1): a domain or an address literal."""
    from check_mail.smtp import valid_helo

    if not valid_helo(text):
        raise ValueError(f"{text!r} is neither a hostname nor an address literal "
                         "such as [192.0.2.1] or [IPv6:2001:db8::1]")
    return text


def mail_address(text: str) -> str:
    from check_mail.smtp import valid_address

    if not valid_address(text):
        raise ValueError(f"{text!r} is not a mail address")
    return text


def local_part(text: str) -> str:
    from check_mail.smtp import valid_local_part

    if not valid_local_part(text):
        raise ValueError(f"{text!r} is not a valid local part")
    return text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that speaks the plugin API: stdout, exit 3."""

    def __init__(self, name: str, prog: str, doc: str | None, epilog: str = "",
                 verbose: str = "the details") -> None:
        """``doc`` is the check module's docstring: its first paragraph, on one
        line, is the help's description. ``verbose`` says what -v adds to the
        output."""
        description = " ".join((doc or "").split("\n\n", 1)[0].split())
        super().__init__(
            prog=prog, description=description, epilog=epilog, add_help=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.plugin_name = name
        self.add_argument("-h", "--help", action="help", help="show this help and exit (3)")
        self.add_argument("-V", "--version", action="version",
                          version=version_line(prog),
                          help="show the version and exit (3)")
        self.add_argument("-v", "--verbose", action="count", default=0,
                          help=f"long output: {verbose}; -vvv adds tracebacks")
        self.add_argument("-t", "--timeout", type=option_type(seconds),
                          default=DEFAULT_TIMEOUT, metavar="SECONDS",
                          help="finish within this many seconds (default %(default)g)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stdout.write(message)
        sys.exit(UNKNOWN)

    def error(self, message: str) -> NoReturn:
        sys.stdout.write(f"{self.plugin_name} UNKNOWN - {printable(message, STATUS_LIMIT)}\n"
                         f"{self.format_usage()}")
        sys.exit(UNKNOWN)

    def add_host_option(self, help: str, required: bool = False) -> None:
        self.add_argument("-H", "--host", required=required, type=option_type(host),
                          metavar="HOST", help=help)

    def add_domain_option(self, help: str, required: bool = True,
                          flags: tuple[str, ...] = ("-D", "--domain")) -> None:
        self.add_argument(*flags, dest="domain", required=required, type=option_type(domain),
                          metavar="DOMAIN", help=help)

    def add_thresholds(self, what: str, warning: str, critical: str,
                       notes: tuple[str, str] = ("", "")) -> None:
        """-w and -c, ranges on ``what``; ``notes`` say what the defaults mean."""
        for flags, kind, default, note in ((("-w", "--warning"), "warning", warning, notes[0]),
                                           (("-c", "--critical"), "critical", critical,
                                            notes[1])):
            self.add_argument(*flags, type=option_type(threshold), default=default,
                              metavar="RANGE",
                              help=f"{kind} range for {what} (default %(default)s"
                                   f"{': ' + note if note else ''})")

    def add_family_options(self) -> None:
        family = self.add_mutually_exclusive_group()
        family.add_argument("-4", "--ipv4", dest="family", action="store_const", const=4,
                            help="check IPv4 addresses only")
        family.add_argument("-6", "--ipv6", dest="family", action="store_const", const=6,
                            help="check IPv6 addresses only")

    def add_dns_options(self, workers: int = 256, rate: str = "") -> None:
        """-n, --query-timeout, --workers; and --rate when ``rate`` words its default."""
        group = self.add_argument_group("DNS")
        group.add_argument("-n", "--nameserver", action="append", type=option_type(nameserver),
                           metavar="ADDR[:PORT]",
                           help="ask this resolver instead of the system's (repeatable; "
                                "IPv6 as [::1]:5353)")
        group.add_argument("--query-timeout", type=option_type(seconds), default=3.0,
                           metavar="SECONDS",
                           help="give up on one try of one query after this long "
                                "(default %(default)g); -t bounds the whole run")
        group.add_argument("--workers", type=option_type(positive_int), default=workers,
                           metavar="N", help="queries in flight at once (default %(default)s)")
        if rate:
            group.add_argument("--rate", type=option_type(rate_value), metavar="N",
                               help=f"ask at most N queries a second; 0 for no limit "
                                    f"(default {rate})")

    def add_log_options(self, window: str) -> argparse._ArgumentGroup:
        """Where the Postfix log is, and what is kept between runs."""
        group = self.add_argument_group("the mail log")
        group.add_argument("--log", action="append", metavar="FILE",
                           help="the Postfix log, with its rotated files (repeatable; default "
                                "/var/log/mail.log); Postfix's own maillog_file works too")
        group.add_argument("--journal", action="store_true",
                           help="read the systemd journal (the postfix* units) instead")
        group.add_argument("--window", type=option_type(duration), default=duration(window),
                           metavar="DURATION",
                           help=f"count what the log says of the last DURATION (default "
                                f"{window}; 90s, 15m, 1h, 7d)")
        group.add_argument("--state-file", metavar="FILE",
                           help="where to keep what was read between runs (default: under "
                                "/var/tmp/check-mail-UID)")
        group.add_argument("--no-state", action="store_true",
                           help="keep nothing: read the whole window each run")
        return group

    def add_smtp_options(self, starttls: bool | None = None) -> argparse._ArgumentGroup:
        """-p and --helo, and --starttls/--no-starttls with the given default
        (None: the check never starts TLS). Returns the group for more options."""
        group = self.add_argument_group("SMTP")
        group.add_argument("-p", "--port", type=option_type(port), default=25,
                           help="SMTP port (default %(default)s)")
        group.add_argument("--helo", type=option_type(helo), metavar="NAME",
                           help="the name to say EHLO with (default: this host's name if it "
                                "is fully qualified, else an address literal)")
        if starttls is not None:
            # Two plain flags: BooleanOptionalAction words its help differently
            # from one Python version to the next.
            group.add_argument("--starttls", dest="starttls", action="store_true",
                               default=starttls,
                               help="start TLS when the server offers it"
                                    + (" (the default)" if starttls else ""))
            group.add_argument("--no-starttls", dest="starttls", action="store_false",
                               help="never start TLS"
                                    + ("" if starttls else " (the default)"))
        return group


# -- input files and secrets ---------------------------------------------------

SECRET_FILE_LIMIT = 64 * 1024  # octets: keys and passwords are short


def read_input(path: str, option: str, limit: int) -> bytes:
    """A file an option names (``-`` for stdin), at most ``limit`` octets; any
    failure is bad input, worded without the content."""
    from check_mail import files

    try:
        return files.read(path, limit)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or type(exc).__name__}") from None
    except files.TooLarge as exc:
        raise UsageError(f"{option} {path}: {exc}") from None


def secret_environment(variable: str) -> str:
    """A secret from the environment (``CHECK_MAIL_...``), or "".

    Secrets come from a file (``--...-file``) or the environment, never from
    the command line where every local user sees them in ``ps``.
    """
    return os.environ.get(variable, "").strip()


def read_secret(path: str, option: str) -> str:
    """A secret file's text, stripped: ``--...-file FILE``."""
    data = read_input(path, option, SECRET_FILE_LIMIT)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text") from None


# -- probing -----------------------------------------------------------------


class Resource(nagiosplugin.Resource):
    """What every check's probe has: the parsed options, the run's deadline,
    the DNS layer as the DNS options ask, and the limits it reached.

    ``probe()`` ends with ``yield from self.finish()``."""

    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        self.args = args
        self.deadline = deadline
        self.limits: list[Finding] = []

    def capped(self, text: str) -> None:
        """A limit on the work was reached: not everything was checked."""
        self.limits.append(Finding(Level.WARNING, text))

    @functools.cached_property
    def resolver(self) -> Resolver:
        from check_mail.dns import Resolver

        args = self.args
        return Resolver(args.nameserver, deadline=self.deadline,
                        query_timeout=args.query_timeout, max_in_flight=args.workers,
                        rate=getattr(args, "rate", None) or 0.0)

    def host_addresses(self, host: str, family: int | None) -> list[str]:
        """The addresses behind -H: the address itself, or every A and AAAA of a
        hostname (one family with -4/-6). A failed lookup ends the check UNKNOWN."""
        from check_mail.dns import Status, failed_lookups, family_name, is_address

        if is_address(host):
            from ipaddress import ip_address as parse

            if family and parse(host).version != family:
                raise UsageError(f"-H {host} is not an IPv{family} address")
            return [host]
        found = self.resolver.addresses(host, family)
        if found.failures:
            raise CheckError(
                f"cannot resolve {host}: {failed_lookups(found.failures, about=host)}")
        if all(a.status is Status.NXDOMAIN for a in found.answers):
            raise CheckError(f"{host} does not exist (NXDOMAIN)")
        if not found.addresses:
            kind = family_name(family)
            raise CheckError(f"{host} has no {kind + ' ' if kind else ''}address")
        if found.dropped:
            self.capped(f"{host} has {len(found.found)} addresses; only the first "
                        f"{len(found.addresses)} are checked")
        return list(found.addresses)

    def finish(self) -> Iterator[Metric]:
        """The metrics every run ends with: the limits reached (context
        "limits"), and the run time in seconds (context "time")."""
        if self.limits:
            yield Metric("limits", self.limits, context="limits")
        yield Metric("time", round(self.deadline.elapsed(), 3), "s", min=0, context="time")


class LogResource(Resource):
    """A check of the Postfix log: reads what the log gained since the last
    run (kept in a state file), and keeps the state for the next one."""

    name = ""  # the plugin's, for the state file's name: "senders"
    # what the check keeps in its state besides counts: logstate.fits() shapes
    state_shape: ClassVar[dict[str, Any]] = {}

    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        super().__init__(args, deadline)
        self.notes: list[str] = []  # for the long output: state ignored or not kept
        self.reading: Any = None  # check_mail.maillog.Reading

    @property
    def lines_read(self) -> int:
        return self.reading.read if self.reading else 0

    def catch_up(self, now: float, options: str = "") -> tuple[Iterator[Any], Any]:
        """The new Postfix lines (check_mail.maillog.Line, to be drained
        before :meth:`keep`), and the state whose counts they are to be added
        to. ``options`` are the check's own that shape the counts: another
        value starts the counts afresh."""
        from check_mail import logstate

        args = self.args
        paths = [] if args.journal else [os.path.abspath(p) for p in
                                         (args.log or ["/var/log/mail.log"])]
        identity = (f"{self.name} {'journal' if args.journal else ' '.join(sorted(paths))} "
                    f"window={number(args.window)} {options}")
        self.state_path = "" if args.no_state else (
            args.state_file or logstate.default_path(self.name, identity))
        state = logstate.State.load(self.state_path, identity, self.state_shape) \
            if self.state_path else logstate.State(identity)
        if state.note:
            self.notes.append(state.note)
        left = self.deadline.remaining()  # a fifth of it (at most 1 s) kept for the rest
        try:
            self.reading = logstate.catch_up(state, paths, args.journal, now, args.window,
                                             Deadline(left - min(1.0, left / 5)))
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            raise CheckError(f"cannot read the log: {where}{exc.strerror or exc}") from None
        return self.reading.lines, state

    def keep(self, state: Any) -> None:
        """Once the lines are drained: keep the state, and say so if the log
        could not be read to its end."""
        reading = self.reading
        if reading.error:
            raise CheckError(f"cannot read the log: {reading.error}")
        problem = state.save(self.state_path) if self.state_path else "no state file"
        if problem and self.state_path:
            self.notes.append(problem)
        if reading.stopped:
            raise CheckError(
                f"{reading.read} log lines read before -t {number(self.args.timeout)} ran out; "
                + ("keep a state file or give a longer -t" if problem else
                   "the next run goes on from there"))

    def log_notes(self) -> list[str]:
        """What the long output says about the reading itself."""
        lines = list(self.notes)
        reading = self.reading
        if reading:
            lines += [f"not read: {skipped}" for skipped in reading.skipped]
        if reading and reading.unreadable:
            lines.append(f"{reading.unreadable} of {reading.read} lines could not be read, "
                         f"such as: {reading.sample[:200]}")
        return lines


# -- judging -----------------------------------------------------------------


class Judged(nagiosplugin.Result):
    """A result that carries the findings it was judged from (nagiosplugin's
    ``result_cls`` hook), so the summary words them without judging again."""

    findings: tuple[Finding, ...]

    def __new__(cls, state: nagiosplugin.state.ServiceState, hint: str | None = None,
                metric: Metric | None = None,
                findings: Iterable[Finding] | None = None) -> Judged:
        self = super().__new__(cls, state, hint, metric)
        if findings is None:
            findings = [] if state == nagiosplugin.Ok else [Finding(level(state), str(self))]
        self.findings = tuple(findings)
        return self


def findings_of(result: nagiosplugin.Result) -> tuple[Finding, ...]:
    """A result's findings; nagiosplugin's own results (a CheckError) have one."""
    if isinstance(result, Judged):
        return result.findings
    return (Finding(level(result.state), str(result)),)


class Findings(nagiosplugin.Context):
    """One thing (an address, a selector) judged by its findings, which the
    probe found and the metric carries: the worst sets the state, none means
    OK. The result carries them on, for the Summary to word."""

    def __init__(self, name: str) -> None:
        super().__init__(name, result_cls=Judged)

    def evaluate(self, metric: Metric, resource: object) -> Judged:
        from check_mail.outcome import worst

        found = list(metric.value)
        return Judged(STATES[worst(found)], metric=metric, findings=found)


def _performance(metric: Metric, warning: object = "", critical: object = "",
                 ) -> nagiosplugin.Performance:
    def bound(value: float | None) -> str:
        return "" if value is None else number(value)

    return nagiosplugin.Performance(metric.name, number(metric.value), metric.uom or "",
                                    warning or "", critical or "", bound(metric.min),
                                    bound(metric.max))


class Threshold(nagiosplugin.ScalarContext):
    """A value judged by -w/-c ranges.

    ``fmt_metric(metric, context)`` words the finding when the value is out
    of range; it may quote ``context.violation(metric)``, which names the
    option: "outside -w 8". Without it the finding reads "name is value
    (outside range ...)". ``options`` are the flags of the two ranges.
    """

    def __init__(self, name: str, warning: object = None, critical: object = None,
                 fmt_metric: Callable[[Metric, Threshold], str] | None = None,
                 options: tuple[str, str] = ("-w", "-c")) -> None:
        super().__init__(name, warning, critical, result_cls=Judged,
                         **({"fmt_metric": fmt_metric} if fmt_metric else {}))
        self.own_wording = fmt_metric is not None
        self.options = options

    def violation(self, metric: Metric) -> str:
        """Why the value is out of range, naming the option: "outside -w 8"."""
        for rng, option in ((self.critical, self.options[1]), (self.warning, self.options[0])):
            if not rng.match(metric.value):
                return f"outside {option} {rng}"
        return ""

    def evaluate(self, metric: Metric, resource: object) -> Judged:
        result = super().evaluate(metric, resource)
        if self.own_wording:  # the wording says it all; no "(outside range ...)" appended
            return Judged(result.state, None, metric)
        return Judged(result.state, result.hint, metric)

    def performance(self, metric: Metric, resource: object) -> nagiosplugin.Performance:
        return _performance(metric, self.warning, self.critical)


class Limit(nagiosplugin.Context):
    """A count of failures outside its range makes the result UNKNOWN rather
    than a problem of the checked server: too many failed queries mean we do
    not know. Without a range, fewer than half of the metric's max may fail."""

    def __init__(self, name: str, limit: nagiosplugin.Range | None, hint: str) -> None:
        super().__init__(name, result_cls=Judged)
        self.limit = limit
        self.hint = hint

    def _range(self, metric: Metric) -> nagiosplugin.Range:
        return self.limit or nagiosplugin.Range(f"~:{max(0, (metric.max or 0) - 1) // 2}")

    def evaluate(self, metric: Metric, resource: object) -> Judged:
        if self._range(metric).match(metric.value):
            return Judged(nagiosplugin.Ok, metric=metric)
        return Judged(nagiosplugin.Unknown, self.hint, metric,
                      [Finding(Level.UNKNOWN, self.hint)])

    def performance(self, metric: Metric, resource: object) -> nagiosplugin.Performance:
        return _performance(metric, critical=self._range(metric))


class Measure(nagiosplugin.Context):
    """A value reported in perfdata only, such as the run time."""

    def performance(self, metric: Metric, resource: object) -> nagiosplugin.Performance:
        return _performance(metric)


def check(resource: Resource, *judges: nagiosplugin.Context | Summary) -> Check:
    """A check of the resource, with the contexts every check has ("limits",
    "time") besides its own, and its Summary."""
    return Check(resource, *judges, Findings("limits"), Measure("time"))


def number(value: float) -> str:
    """A perfdata number: never in exponent notation."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# -- wording -----------------------------------------------------------------


class Summary(nagiosplugin.Summary):
    """The wording of a check: ``ok()`` for the OK line, ``problem()`` (by
    default the first of the worst findings), ``verbose()`` for -v."""

    def __init__(self, resource: Any) -> None:
        self.resource = resource

    def problem(self, results: Results) -> str:
        return problem_line(results)

    def verbose(self, results: Results) -> list[str]:
        return []


def problem_line(results: Results) -> str:
    """A status line for a problem: the first of the worst findings, and how many
    more there are; the long output (-v) lists them all."""
    state = level(results.most_significant_state)
    problems = [f.text for r in results.most_significant for f in findings_of(r)
                if f.level is state]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more if problems else ""


def finding_lines(results: Results) -> list[str]:
    """Every finding that is not OK, as "warning: text", for the long output
    (the limits reached are the scaffolding's to print)."""
    return [f"{f.level}: {f.text}" for r in results if not _is_limits(r)
            for f in findings_of(r) if f.level is not Level.OK]


def _is_limits(result: nagiosplugin.Result) -> bool:
    return result.metric is not None and result.metric.context == "limits"


# -- running -----------------------------------------------------------------

BuildCheck = Callable[[argparse.Namespace, Deadline], Check]


def run(parser: Parser, build: BuildCheck, argv: list[str] | None = None, *,
        hard: bool = False) -> int:
    """Parse, check and print, always within ``-t``; return the plugin exit code.

    Nothing escapes: a bad argument, a failure or a timeout is one UNKNOWN line.
    ``hard`` (the executable's case) lets the backstop end the process itself
    when a run cannot be unwound in time.
    """
    forget_secrets()  # a run in-process (the tests') masks its own secrets only
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, --version or a bad argument: already printed
        return UNKNOWN
    name = parser.plugin_name
    _quiet()
    deadline = Deadline(args.timeout - min(RESERVE, args.timeout * 0.25))
    try:
        with _backstop(args.timeout - min(BACKSTOP, args.timeout * 0.1),
                       _unknown(name, f"plugin timed out after {number(args.timeout)} s")
                       if hard else ""):
            check = build(args, deadline)
            check()
            text, code = _output(name, check, args.verbose), check.exitcode
    except UsageError as exc:
        text, code = _unknown(name, str(exc)), UNKNOWN
    except PluginTimeout:
        text, code = _unknown(name, f"plugin timed out after {number(args.timeout)} s"), UNKNOWN
    except Exception as exc:
        tb = traceback.format_exc() if args.verbose >= 3 else ""
        hint = "" if tb else " (-vvv shows the traceback)"
        text = _unknown(name, f"internal error: {type(exc).__name__}: {exc}{hint}") + mask(tb)
        code = UNKNOWN
    sys.stdout.write(text)
    sys.stdout.flush()
    return code


def main(parser: Parser, build: BuildCheck, argv: list[str] | None = None) -> NoReturn:
    """The executable's entry: run, then leave at once. The work is done and
    printed; the interpreter's teardown would only cost time."""
    code = run(parser, build, argv, hard=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _output(name: str, check: Check, verbose: int) -> str:
    """Nagios' format: the status line; at -v the long output, then the perfdata
    on a line of its own; at -v0 the perfdata on the status line."""
    summary = check.summary_str.strip()
    status = printable(f"{name} {str(check.state).upper()}"
                       + (f" - {summary}" if summary else ""), STATUS_LIMIT)
    perfdata = " ".join(check.perfdata)
    if not verbose:
        return f"{status} | {perfdata}\n" if perfdata else f"{status}\n"
    details = check.verbose_str
    lines = details.splitlines() if isinstance(details, str) else list(details)
    lines += [f"{f.level}: {f.text}" for r in check.results if _is_limits(r)
              for f in findings_of(r)]
    out = [status, *(printable(line, LINE_LIMIT) for line in lines)]
    if perfdata:
        out.append(f"| {perfdata}")
    return "\n".join(out) + "\n"


def _unknown(name: str, message: str) -> str:
    return f"{name} UNKNOWN - {printable(' '.join(message.split()), STATUS_LIMIT)}\n"


def _quiet() -> None:
    """Nothing but our output reaches the monitoring system: no library logs
    and no interpreter warnings on stderr (an asyncio task cancelled at the
    deadline, say); -vvv tracebacks go to stdout."""
    import logging
    import warnings

    for logger in ("asyncio", "nagiosplugin"):
        logging.getLogger(logger).addHandler(logging.NullHandler())
        logging.getLogger(logger).propagate = False
    warnings.simplefilter("ignore")


@contextmanager
def _backstop(seconds: float, last_words: str) -> Iterator[None]:
    """Our own alarm, should anything run past the deadline (no DNS or SMTP
    wait does; this guards against the unforeseen). The first expiry raises
    PluginTimeout; if the run has not unwound GRACE later, the second ends
    the process with ``last_words`` (when given), written straight to the
    file descriptor, as nothing else is safe inside a signal handler."""
    fired: list[int] = []

    def expire(signum: int, frame: object) -> None:
        if fired and last_words:
            os.write(1, last_words.encode())
            os._exit(UNKNOWN)
        fired.append(signum)
        signal.setitimer(signal.ITIMER_REAL, GRACE)
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
