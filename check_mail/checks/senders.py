"""check_senders: does any user or script send more mail than it should?

A hacked mailbox or a vulnerable web form sends hundreds of mails a
minute, and the big providers then block the server's whole IP. This counts,
per sender, the messages Postfix queued in the window, from its own log: the
SASL user when there is one, else the local user (pickup, for mail from
sendmail), else the envelope sender. Only new lines are read each run.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from check_mail import files, plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import count

if TYPE_CHECKING:
    from check_mail.logstate import State

LIMITS_LIMIT = 1 << 20  # octets of a --limits file
MAX_CLIENTS = 3  # kept per sender, for the long output

EPILOG = """\
states, per sender (the worst sets the state):
  CRITICAL  more than -c in the window, or a --burst exceeded
  WARNING   more than -w in the window
  UNKNOWN   the log cannot be read

-w and -c are ranges on one sender's count: -w 300 warns past 300. A
--limits file gives some senders their own, one "PATTERN WARNING CRITICAL"
a line (shell patterns; # comments), the first match wins:
  newsletter@example.org  5000  20000
  *@lists.example.org     2000  10000

examples:
  check_senders
  check_senders --log /var/log/mail.log -w 300 -c 1000 --burst 100/1
  check_senders --journal --window 1h -w 100 -c 300 --exclude 'noreply@*'
"""


def burst(text: str) -> tuple[int, int]:
    """N/MINUTES: more than N mails within MINUTES minutes."""
    number, slash, minutes = text.partition("/")
    if not slash or not (number.isascii() and number.isdigit() and minutes.isascii()
                         and minutes.isdigit()) or not int(number) or not 0 < int(minutes) <= 1440:
        raise ValueError(f"{text!r} is not N/MINUTES, such as 100/1")
    return int(number), int(minutes)


def parser() -> plugin.Parser:
    p = plugin.Parser("SENDERS", "check_senders", __doc__, EPILOG,
                      verbose="the top senders with their counts, clients and first and last "
                              "times; lines that could not be read")
    p.add_thresholds("one sender's count in the window", warning="300", critical="1000",
                     notes=("past 300", "past 1000"))
    p.add_argument("--limits", metavar="FILE",
                   help="other ranges for some senders: PATTERN WARNING CRITICAL a line")
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="leave senders matching this shell pattern out (repeatable)")
    p.add_argument("--count", choices=("messages", "recipients"), default="messages",
                   help="count messages, or their recipients (default %(default)s)")
    p.add_argument("--burst", type=plugin.option_type(burst), metavar="N/MINUTES",
                   help="CRITICAL when a sender sends more than N mails within MINUTES "
                        "minutes (counted by the clock minute), such as 100/1")
    p.add_argument("--top", type=plugin.option_type(plugin.positive_int), default=10,
                   metavar="N", help="senders in the long output (default %(default)s)")
    p.add_log_options(window="24h")
    return p


class Senders(plugin.LogResource):
    name = "senders"

    state_shape: ClassVar[dict[str, Any]] = {"senders": {str: {
        "how": str, "first": float, "last": float, "clients": [str]}}}

    def __init__(self, args: argparse.Namespace, deadline: Deadline,
                 limits: list[tuple[str, Any, Any]]) -> None:
        super().__init__(args, deadline)
        self.sender_limits = limits
        self.totals: Counter[str] = Counter()
        self.info: dict[str, dict] = {}
        self.over_warning = 0
        self.warnings_passed: set[str] = set()  # the -w or --limits ranges passed

    def probe(self):
        from check_mail.postfixlog import Tracker

        args = self.args
        now = time.time()
        lines, state = self.catch_up(now, f"count={args.count}")
        tracker = Tracker(state.pending)
        since = now - args.window
        info = state.extra.setdefault("senders", {})
        for sub in tracker.submissions(lines):
            if not sub.sender or sub.time < since:
                continue  # the null sender is Postfix's own bounces
            state.add(int(sub.time // 60), sub.sender,
                      sub.recipients if args.count == "recipients" else 1)
            known = info.setdefault(sub.sender, {"how": sub.how, "first": sub.time,
                                                 "last": sub.time, "clients": []})
            known["last"] = max(known["last"], sub.time)
            known["first"] = min(known["first"], sub.time)
            if sub.client and sub.client not in known["clients"] \
                    and len(known["clients"]) < MAX_CLIENTS:
                known["clients"].append(sub.client)
        tracker.forget(now)
        state.pending = tracker.pending
        for sender in [s for s, known in info.items() if known["last"] < since]:
            del info[sender]
        self.keep(state)
        self.totals = Counter({s: n for s, n in state.totals().items()
                               if not excluded(s, args.exclude)})
        self.info = info
        found = self.judge(state)
        yield plugin.Metric("senders", found, context="senders")
        top = max(self.totals.values(), default=0)
        yield plugin.Metric("top", top, min=0, context="measure")
        yield plugin.Metric("over_warning", self.over_warning, min=0, context="measure")
        yield plugin.Metric(args.count, sum(self.totals.values()), min=0, context="measure")
        yield plugin.Metric("distinct", len(self.totals), min=0, context="measure")
        yield plugin.Metric("lines", self.lines_read, min=0, context="measure")
        yield from self.finish()

    def judge(self, state: State) -> list[Finding]:
        args = self.args
        window = plugin.duration_text(args.window)
        noun = "mails" if args.count == "messages" else "recipients"
        out = []
        for sender, total in self.totals.most_common():
            warning, critical = limits_for(sender, self.sender_limits, args)
            if not critical.match(total):
                out.append(Finding(Level.CRITICAL, f"{sender} sent {total} {noun} in {window} "
                                                   f"(limit {critical})"))
            elif not warning.match(total):
                out.append(Finding(Level.WARNING, f"{sender} sent {total} {noun} in {window} "
                                                  f"(limit {warning})"))
            if not warning.match(total):
                self.over_warning += 1
                self.warnings_passed.add(str(warning))
        if args.burst:
            most, minutes = args.burst
            for sender, peak in bursts(state, minutes).items():
                if peak > most and sender in self.totals:
                    out.append(Finding(Level.CRITICAL, f"{sender} sent {peak} {noun} within "
                                                       f"{count(minutes, 'minute')} (burst limit "
                                                       f"{most}/{minutes})"))
        return out


def excluded(sender: str, patterns: list[str]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(sender.lower(), p.lower()) for p in patterns)


def limits_for(sender: str, limits: list[tuple[str, Any, Any]],
               args: argparse.Namespace) -> tuple[Any, Any]:
    import fnmatch

    for pattern, warning, critical in limits:
        if fnmatch.fnmatch(sender.lower(), pattern.lower()):
            return warning, critical
    return args.warning, args.critical


def bursts(state: State, minutes: int) -> dict[str, int]:
    """Each sender's largest count within any ``minutes`` consecutive minutes."""
    per_sender: dict[str, dict[int, int]] = {}
    for minute, counts in state.minutes.items():
        for sender, n in counts.items():
            per_sender.setdefault(sender, {})[minute] = n
    peaks = {}
    for sender, by_minute in per_sender.items():
        ordered = sorted(by_minute)
        best = total = start = 0
        for minute in ordered:  # a window sliding over the minutes that have mail
            total += by_minute[minute]
            while ordered[start] <= minute - minutes:
                total -= by_minute[ordered[start]]
                start += 1
            best = max(best, total)
        peaks[sender] = best
    return peaks


def read_limits(path: str) -> list[tuple[str, Any, Any]]:
    data = plugin.read_input(path, "--limits", LIMITS_LIMIT).decode("utf-8", "replace")
    limits = []
    for number, line in files.entries(data):
        words = line.split()
        try:
            if len(words) != 3:
                raise ValueError("expected PATTERN WARNING CRITICAL")
            limits.append((words[0], plugin.threshold(words[1]), plugin.threshold(words[2])))
        except ValueError as exc:
            raise plugin.UsageError(f"--limits {path}, line {number}: {exc}") from None
    return limits


class Wording(plugin.Summary):
    resource: Senders

    def ok(self, results: plugin.Results) -> str:
        resource = self.resource
        args = resource.args
        total = sum(resource.totals.values())
        noun = "messages" if args.count == "messages" else "recipients"
        line = (f"{count(len(resource.totals), 'sender')}, {total} {noun} in "
                f"{plugin.duration_text(args.window)}")
        if resource.totals:
            sender, most = resource.totals.most_common(1)[0]
            warning, _ = limits_for(sender, resource.sender_limits, args)
            line += f"; the most: {sender} with {most} (warning past {warning})"
        return line

    def problem(self, results: plugin.Results) -> str:
        line = plugin.problem_line(results)
        over, passed = self.resource.over_warning, self.resource.warnings_passed
        if over > 1:
            line += f"; {over} senders over " + (passed.pop() if len(passed) == 1
                                                 else "their warning")
        return line

    def verbose(self, results: plugin.Results) -> list[str]:
        resource = self.resource
        lines = []
        for sender, total in resource.totals.most_common(resource.args.top):
            known = resource.info.get(sender, {})
            how = {"sasl": "SASL user", "local": "local user", "envelope": "envelope sender"}
            details = [how.get(known.get("how", ""), "")]
            if known.get("clients"):
                details.append("from " + ", ".join(known["clients"]))
            if known:
                details.append(f"first {_when(known['first'])}, last {_when(known['last'])}")
            lines.append(f"{sender}: {total} ({'; '.join(d for d in details if d)})")
        return lines + plugin.finding_lines(results) + resource.log_notes()


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    limits = read_limits(args.limits) if args.limits else []
    resource = Senders(args, deadline, limits)
    return plugin.check(
        resource,
        plugin.Findings("senders"),
        plugin.Measure("measure"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
