"""check_refusals: which receivers refuse our mail, and why, from the Postfix log.

Microsoft, Gmail, Yahoo and others keep private blocklists and limits: the
only sign of a block is their reply in our own log (550 5.7.606 banned
sending IP, 421-4.7.28, TSS04...). Every deferred or bounced delivery in the
window is classified by a signature file (provider, category, meaning,
where to ask for delisting), and the queue is read for mail piling up.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import count

if TYPE_CHECKING:
    from check_mail.queue import Queue
    from check_mail.refusals import Signatures

CATEGORIES = ("blocked", "rate-limited", "authentication", "content", "recipient-unknown",
              "mailbox-full", "other")
MIN_DELIVERIES = 20  # below this, a bounce ratio says little
VERBS = {"blocked": "blocks", "rate-limited": "rate-limits",
         "authentication": "refuses unauthenticated mail", "content": "refuses as spam",
         "other": "refuses"}
_REMOTE = re.compile(r"^host \S+ said: (.*?)(?: \(in reply to [^)]*\))?$")

EPILOG = """\
states, per receiver and category in the window:
  CRITICAL  any refusal of a --critical-category (default: blocked, authentication);
            more than -c of another; recipient-unknown and mailbox-full bounces over
            --bounce-critical percent of the deliveries; deferred mail outside
            --queue-critical, or older than --age-critical
  WARNING   more than -w of another category (default: any); bounces over
            --bounce-warning percent; deferred mail outside --queue-warning, or older
            than --age-warning
  UNKNOWN   the log or the queue cannot be read (postqueue fails, hangs, floods or
            prints something else than its listing)

  Postfix not running (postqueue: "mail system is down") is CRITICAL. Only a
  postqueue that is not installed skips the queue, and the status line says so.

categories: blocked, rate-limited, authentication (SPF, DKIM, DMARC, PTR),
content (spam), recipient-unknown, mailbox-full, other. The shipped signature
file (check_mail/data/refusals.ini) knows Microsoft, Gmail, Yahoo/AOL, iCloud,
Comcast, T-Online, GMX/Web.de, Orange, Free, SFR, La Poste, Mail.ru and Yandex.

examples:
  check_refusals
  check_refusals --log /var/log/mail.log --window 1h -v
  check_refusals --journal --critical-category rate-limited --queue-critical 500
"""


def percent(text: str) -> float:
    """0 to 100, "%" optional."""
    number = text[:-1] if text.endswith("%") else text
    if not number.replace(".", "", 1).isdigit() or not number.isascii() \
            or float(number) > 100:
        raise ValueError(f"{text!r} is not a percentage (0 to 100)")
    return float(number)


def parser() -> plugin.Parser:
    p = plugin.Parser("REFUSALS", "check_refusals", __doc__, EPILOG,
                      verbose="one line per receiver and category, with a sample reply, the "
                              "address it names and where to turn; the queue by destination")
    p.add_thresholds("the refusals of one receiver and category", warning="0",
                     critical="10", notes=("any", "past 10"))
    p.add_argument("--critical-category", action="append", choices=CATEGORIES,
                   metavar="CATEGORY",
                   help="CRITICAL from the first refusal of this category (repeatable; "
                        "default: blocked, authentication)")
    p.add_argument("--bounce-warning", type=plugin.option_type(percent), default=5.0,
                   metavar="PERCENT",
                   help="WARNING when recipient-unknown and mailbox-full bounces pass this "
                        "share of the deliveries (default %(default)g)")
    p.add_argument("--bounce-critical", type=plugin.option_type(percent), default=10.0,
                   metavar="PERCENT", help="CRITICAL past this share (default %(default)g)")
    p.add_argument("--signatures", metavar="FILE",
                   help="read the providers and rules from this file instead of the "
                        "shipped one")
    queue = p.add_argument_group("the queue (postqueue -j)")
    queue.add_argument("--queue-warning", type=plugin.option_type(plugin.threshold),
                       default=plugin.threshold("100"), metavar="RANGE",
                       help="range for the deferred messages (default 100)")
    queue.add_argument("--queue-critical", type=plugin.option_type(plugin.threshold),
                       default=plugin.threshold("1000"), metavar="RANGE",
                       help="range for the deferred messages (default 1000)")
    queue.add_argument("--age-warning", type=plugin.option_type(plugin.duration),
                       default=plugin.duration("4h"), metavar="DURATION",
                       help="the oldest deferred message (default 4h)")
    queue.add_argument("--age-critical", type=plugin.option_type(plugin.duration),
                       default=plugin.duration("24h"), metavar="DURATION",
                       help="the oldest deferred message (default 24h)")
    queue.add_argument("--postqueue", default="postqueue", metavar="COMMAND",
                       help="the postqueue to run (default %(default)s)")
    queue.add_argument("--postfix-config", metavar="DIR",
                       help="the Postfix instance's configuration directory (postqueue -c)")
    queue.add_argument("--no-queue", action="store_true", help="do not look at the queue")
    p.add_log_options(window="1h")
    return p


class Refusals(plugin.LogResource):
    name = "refusals"
    state_shape: ClassVar[dict[str, Any]] = {"samples": {str: {
        "time": float, "dsn": str, "reply": str, "relay": str, "ours": [str], "meaning": str,
        "help": str, "status": str}}}

    def __init__(self, args: argparse.Namespace, deadline: Deadline,
                 signatures: Signatures) -> None:
        super().__init__(args, deadline)
        self.signatures = signatures
        self.counts: dict[tuple[str, str], int] = {}
        self.samples: dict[str, dict] = {}
        self.deliveries = 0
        self.queue: Queue | None = None
        # each refusal finding's text, and how the status line names it in brief
        self.brief: list[tuple[Level, str, str]] = []

    def probe(self):
        from check_mail import postfixlog, refusals

        args = self.args
        now = time.time()
        lines, state = self.catch_up(now, f"signatures={args.signatures or ''}")
        since = now - args.window
        samples = state.extra.setdefault("samples", {})
        for delivery in postfixlog.deliveries(lines):
            if delivery.time < since:
                continue
            minute = int(delivery.time // 60)
            state.add(minute, "deliveries")
            if delivery.status not in ("deferred", "bounced", "expired"):
                continue
            refusal = refusals.classify(delivery, self.signatures)
            key = f"{refusal.provider}\t{refusal.category}"
            state.add(minute, "refused\t" + key)
            samples[key] = {"time": delivery.time, "dsn": delivery.dsn,
                            "reply": remote_reply(delivery.reply), "relay": delivery.relay,
                            "ours": refusals.our_addresses(delivery),
                            "meaning": refusal.meaning, "help": refusal.help,
                            "status": delivery.status}
        for key in [k for k, sample in samples.items() if sample["time"] < since]:
            del samples[key]
        self.keep(state)
        totals = state.totals()
        self.deliveries = totals.get("deliveries", 0)
        self.counts = {}
        for key, n in totals.items():
            kind, _, rest = key.partition("\t")
            if kind == "refused":
                provider, _, category = rest.partition("\t")
                self.counts[(provider, category)] = n
        self.samples = samples
        yield plugin.Metric("refusals", self.judge(), context="refusals")
        if not args.no_queue:
            from check_mail import queue

            command = [args.postqueue, "-j"] + (["-c", args.postfix_config]
                                                if args.postfix_config else [])
            self.queue = queue.read(command, now, self.deadline)
            yield plugin.Metric("queue", self.judge_queue(), context="queue")
        by_category = {c: 0 for c in CATEGORIES}
        for (_, category), n in self.counts.items():
            by_category[category] += n
        for category, n in by_category.items():
            yield plugin.Metric(category.replace("-", "_"), n, min=0, context="measure")
        yield plugin.Metric("deliveries", self.deliveries, min=0, context="measure")
        yield plugin.Metric("bounce_ratio", round(self.bounce_ratio(), 2), "%", min=0,
                            max=100, context="measure")
        if self.queue is not None and not (self.queue.error or self.queue.skipped):
            yield plugin.Metric("deferred", self.queue.deferred, min=0, context="measure")
            yield plugin.Metric("oldest", int(self.queue.oldest), "s", min=0,
                                context="measure")
        yield plugin.Metric("lines", self.lines_read, min=0, context="measure")
        yield from self.finish()

    def bounce_ratio(self) -> float:
        from check_mail.refusals import BOUNCES

        bounces = sum(n for (_, category), n in self.counts.items() if category in BOUNCES)
        return 100.0 * bounces / self.deliveries if self.deliveries else 0.0

    def judge(self) -> list[Finding]:
        from check_mail.refusals import BOUNCES

        args = self.args
        critical = set(args.critical_category or ("blocked", "authentication"))
        window = plugin.duration_text(args.window)
        out = []
        ordered = sorted(self.counts.items(), key=lambda item: -item[1])
        for (provider, category), n in ordered:
            if category in BOUNCES:
                continue
            if category in critical or not args.critical.match(n):
                level = Level.CRITICAL
            elif not args.warning.match(n):
                level = Level.WARNING
            else:
                continue
            sample = self.samples.get(f"{provider}\t{category}", {})
            ours = f" {', '.join(sample['ours'])}" if sample.get("ours") and \
                category == "blocked" else ""
            reply = sample.get("reply", "")
            verb = VERBS.get(category, "refuses")
            text = f"{provider} {verb}{ours}: {_short(reply)} ({n} in {window})"
            out.append(Finding(level, text))
            self.brief.append((level, text, f"{provider} {verb} ({n})"))
        if self.deliveries >= MIN_DELIVERIES:
            ratio = self.bounce_ratio()
            for limit, level in ((args.bounce_critical, Level.CRITICAL),
                                 (args.bounce_warning, Level.WARNING)):
                if ratio > limit:
                    out.append(Finding(level, f"{ratio:.1f}% of {self.deliveries} deliveries "
                                              f"bounced for unknown or full mailboxes (over "
                                              f"{limit:g}%): a list to clean"))
                    break
        return out

    def judge_queue(self) -> list[Finding]:
        args, found = self.args, self.queue
        assert found is not None
        if found.skipped:
            return [Finding(Level.OK, f"queue not checked: {found.skipped}")]
        if found.down:
            return [Finding(Level.CRITICAL, down(found))]
        if found.error:
            return [Finding(Level.UNKNOWN, f"the queue could not be read: {found.error}")]
        out = []
        where = ", ".join(f"{domain} {n}" for domain, n in found.by_domain.most_common(3))
        for rng, level, option in ((args.queue_critical, Level.CRITICAL, "--queue-critical"),
                                   (args.queue_warning, Level.WARNING, "--queue-warning")):
            if not rng.match(found.deferred):
                out.append(Finding(level, f"{found.deferred} messages deferred in the queue "
                                          f"({where}; outside {option} {rng})"))
                break
        for limit, level in ((args.age_critical, Level.CRITICAL),
                             (args.age_warning, Level.WARNING)):
            if found.oldest > limit:
                out.append(Finding(level, f"the oldest deferred message waits for "
                                          f"{_age(found.oldest)} (over "
                                          f"{plugin.duration_text(limit)})"))
                break
        return out


def down(found: Queue) -> str:
    return f"Postfix is not running ({found.error})"


def remote_reply(reply: str) -> str:
    """The receiver's own words: "550 5.7.606 Access denied, ..." from Postfix's
    "host X[a] said: ... (in reply to RCPT TO command)"."""
    match = _REMOTE.match(reply)
    return match.group(1) if match else reply


def _short(reply: str, limit: int = 120) -> str:
    """The reply's first sentence, cut to ``limit``."""
    end = reply.find(". ")
    if 0 < end < limit:
        return reply[:end]
    return reply if len(reply) <= limit else reply[:limit - 1].rstrip() + "\u2026"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class Wording(plugin.Summary):
    resource: Refusals

    def ok(self, results: plugin.Results) -> str:
        resource = self.resource
        window = plugin.duration_text(resource.args.window)
        refused = sum(resource.counts.values())
        line = (f"{count(refused, 'refusal')} in {window} "
                f"({count(resource.deliveries, 'delivery', 'deliveries')})")
        found = resource.queue
        if found is not None and found.skipped:
            line += f"; queue not checked ({found.skipped})"
        elif found is not None:
            line += f"; queue: {found.deferred} deferred"
            if found.deferred:
                line += f", oldest {_age(found.oldest)}"
        return line

    def problem(self, results: plugin.Results) -> str:
        """The worst refusal in full, the other refusals in brief: "outlook.com
        blocks 192.0.2.25: 550 5.7.606 ... (12 in 1h); gmail.com rate-limits (3)"."""
        line = plugin.problem_line(results)
        ranked = sorted(self.resource.brief, key=lambda item: -item[0].rank)
        found = self.resource.queue
        if found is not None and found.down:  # the worst of all: it leads, refusals follow
            briefs = [brief for _, _, brief in ranked]
            return down(found) + (f"; {', '.join(briefs[:3])}" if briefs else "")
        if not any(line.startswith(full) for _, full, _ in ranked):
            return line  # the worst is not a refusal (the queue, bounces)
        first = line.split(" (+", 1)[0]
        others = [brief for _, full, brief in ranked if full != first]
        if others:
            first += "; " + ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
        return first

    def verbose(self, results: plugin.Results) -> list[str]:
        resource = self.resource
        lines = []
        for (provider, category), n in sorted(resource.counts.items(), key=lambda i: -i[1]):
            sample = resource.samples.get(f"{provider}\t{category}", {})
            line = f"{provider} {category}: {n}"
            if sample:
                line += f", e.g. {sample['dsn']} {sample['status']}: {sample['reply']}"
                if sample.get("ours"):
                    line += f"; names {', '.join(sample['ours'])}"
                if sample.get("meaning"):
                    line += f"; {sample['meaning']}"
                if sample.get("help"):
                    line += f"; see {sample['help']}"
            lines.append(line)
        found = resource.queue
        if found is not None:
            if found.skipped:
                lines.append(f"queue not checked: {found.skipped}")
            elif not found.error:
                where = ", ".join(f"{d} {n}" for d, n in found.by_domain.most_common(5))
                lines.append(f"queue: {found.messages} messages, {found.deferred} deferred"
                             + (f" ({where})" if where else ""))
        return lines + plugin.finding_lines(results) + resource.log_notes()


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    from check_mail import refusals

    try:
        signatures = refusals.load(args.signatures or refusals.DEFAULT_FILE)
    except refusals.SignatureError as exc:
        raise plugin.UsageError(str(exc)) from None
    resource = Refusals(args, deadline, signatures)
    return plugin.check(
        resource,
        plugin.Findings("refusals"),
        plugin.Findings("queue"),
        plugin.Measure("measure"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)

