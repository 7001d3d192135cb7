"""Postfix logs written to order, for the tests, the demo and the benchmark:
messages submitted over SMTP with or without AUTH or by local scripts, and
delivered, deferred (with receivers' real refusals) or bounced, line for line
as Postfix 3 logs them, in the classic or the ISO timestamp form.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# What receivers say, as Postfix logs it after "host X[a] said: ".
REPLIES = {
    "outlook-banned": ("outlook-com.olc.protection.outlook.com[104.47.1.33]:25", "5.7.606",
                       "550 5.7.606 Access denied, banned sending IP [{ip}]. To request "
                       "removal from this list please visit https://sender.office.com/ and "
                       "follow the directions. (in reply to RCPT TO command)"),
    "gmail-rate": ("gmail-smtp-in.l.google.com[142.250.102.27]:25", "4.7.28",
                   "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail "
                   "originating from your IP address. To protect our users from spam, mail "
                   "sent from your IP address has been temporarily rate limited. (in reply to "
                   "end of DATA command)"),
    "gmail-auth": ("gmail-smtp-in.l.google.com[142.250.102.27]:25", "5.7.26",
                   "550-5.7.26 This mail has been blocked because the sender is "
                   "unauthenticated. Gmail requires all senders to authenticate with either "
                   "SPF or DKIM. (in reply to end of DATA command)"),
    "yahoo-deferred": ("mta5.am0.yahoodns.net[67.195.204.72]:25", "4.7.0",
                       "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to "
                       "unexpected volume or user complaints - 4.16.55.1; see "
                       "https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM "
                       "command)"),
    "unknown-user": ("mx.example.com[198.51.100.10]:25", "5.1.1",
                     "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual "
                     "mailbox table (in reply to RCPT TO command)"),
    "mailbox-full": ("mx.example.com[198.51.100.10]:25", "5.2.2",
                     "552 5.2.2 <{rcpt}>: Mailbox full (in reply to RCPT TO command)"),
}
OUR_IP = "192.0.2.25"


@dataclass
class Recipient:
    address: str
    status: str = "sent"  # sent, deferred, bounced
    reply: str = ""  # a REPLIES key for deferred and bounced
    relay: str = "mx.example.com[198.51.100.10]:25"


@dataclass
class Message:
    at: float
    envelope: str
    recipients: list[Recipient]
    sasl: str = ""  # the SASL user, submitted over SMTP after AUTH
    local: str = ""  # the local user, submitted by sendmail (pickup)
    uid: int = 1000
    client: str = "unknown[192.0.2.77]"
    qid: str = field(default="")


class LogWriter:
    """Lines of a Postfix log; ``message()`` writes one message's life."""

    def __init__(self, seed: int = 1, host: str = "mail", iso: bool = False) -> None:
        self.rng = random.Random(seed)
        self.host = host
        self.iso = iso
        self.pid = 1000

    def stamp(self, at: float) -> str:
        if self.iso:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + \
                f".{int(at % 1 * 1e6):06d}+00:00"
        return time.strftime("%b %e %H:%M:%S", time.localtime(at))

    def line(self, at: float, service: str, text: str) -> str:
        self.pid += 1
        return f"{self.stamp(at)} {self.host} postfix/{service}[{self.pid % 30000 + 100}]: {text}"

    def qid(self) -> str:
        return "".join(self.rng.choice("0123456789ABCDEF") for _ in range(10))

    def message(self, message: Message) -> list[str]:
        """Submission, queueing, one delivery line per recipient, removal
        when every recipient is done."""
        qid = message.qid = message.qid or self.qid()
        at = message.at
        lines = []
        if message.local:
            lines.append(self.line(at, "pickup", f"{qid}: uid={message.uid} "
                                                 f"from=<{message.local}>"))
        else:
            auth = f", sasl_method=PLAIN, sasl_username={message.sasl}" if message.sasl else ""
            lines.append(self.line(at, "smtpd", f"{qid}: client={message.client}{auth}"))
        lines.append(self.line(at, "cleanup", f"{qid}: message-id=<{qid}@example.net>"))
        lines.append(self.line(at, "qmgr", f"{qid}: from=<{message.envelope}>, size=1234, "
                                           f"nrcpt={len(message.recipients)} (queue active)"))
        lines += self.deliveries(message, at + 0.3)
        return lines

    def deliveries(self, message: Message, at: float,
                   recipients: Sequence[Recipient] | None = None) -> list[str]:
        lines = []
        pending = False
        for rcpt in recipients if recipients is not None else message.recipients:
            if rcpt.status == "sent":
                relay, dsn, said = rcpt.relay, "2.0.0", \
                    f"250 2.0.0 Ok: queued as {self.qid()}"
            else:
                relay, dsn, said = REPLIES[rcpt.reply]
                said = said.format(ip=OUR_IP, rcpt=rcpt.address)
                pending |= rcpt.status == "deferred"
            host = relay.rsplit(":", 1)[0]
            lines.append(self.line(at, "smtp", f"{message.qid}: to=<{rcpt.address}>, "
                                               f"relay={relay}, delay=0.5, "
                                               f"delays=0.1/0/0.2/0.2, dsn={dsn}, "
                                               f"status={rcpt.status} (host {host} said: "
                                               f"{said})"))
        if not pending:
            lines.append(self.line(at, "qmgr", f"{message.qid}: removed"))
        return lines

    def retry(self, message: Message, at: float, status: str = "sent") -> list[str]:
        """A deferred message back in the active queue: qmgr's line again,
        then its deferred recipients' outcome."""
        lines = [self.line(at, "qmgr", f"{message.qid}: from=<{message.envelope}>, size=1234, "
                                       f"nrcpt={len(message.recipients)} (queue active)")]
        again = [Recipient(r.address, status, r.reply, r.relay) for r in message.recipients
                 if r.status == "deferred"]
        return lines + self.deliveries(message, at + 0.3, again)

    def noise(self, at: float) -> list[str]:
        """What else smtpd logs for every connection."""
        return [self.line(at, "smtpd", "connect from unknown[198.51.100.7]"),
                self.line(at, "smtpd", "disconnect from unknown[198.51.100.7] ehlo=1 quit=1 "
                                       "commands=2")]


def busy_log(path: str, messages: int, seed: int = 7, noise: int = 0,
             start: float | None = None) -> dict[str, int]:
    """Write a log of ``messages`` messages from 40 envelope senders over six
    hours (ending now, or from ``start``), a tenth of their recipients
    deferred once with a receiver's refusal and then delivered, half of them
    submitted after AUTH, each with ``noise`` connect/disconnect pairs; return
    how many messages each sender sent. For the scale tests and the bench."""
    rng = random.Random(seed)
    writer = LogWriter(seed)
    start = time.time() - 6 * 3600 if start is None else start
    replies = ("outlook-banned", "gmail-rate", "yahoo-deferred", "unknown-user",
               "mailbox-full")
    expected: dict[str, int] = {}
    with open(path, "w") as out:
        for i in range(messages):
            sender = f"user{rng.randrange(40)}@example.net"
            expected[sender] = expected.get(sender, 0) + 1
            rcpts = [Recipient(f"r{j}@example.org", *(("deferred", rng.choice(replies))
                                                      if rng.random() < 0.1 else ("sent", "")))
                     for j in range(rng.randrange(1, 4))]
            message = Message(start + i * 6 * 3600 / messages, sender, rcpts,
                              sasl=sender if rng.random() < 0.5 else "")
            lines = writer.message(message)
            if any(r.status == "deferred" for r in rcpts):
                lines += writer.retry(message, message.at + 60)
            for _ in range(noise):
                lines += writer.noise(message.at)
            out.write("\n".join(lines) + "\n")
    return expected


def postqueue_script(messages: Sequence[dict], fails: str = "") -> str:
    """A shell script standing in for ``postqueue -j``: the given queue
    entries as JSON lines, or ``fails`` on stderr and exit 75."""
    import json

    if fails:
        return f"#!/bin/sh\necho '{fails}' >&2\nexit 75\n"
    body = "".join(json.dumps(m) + "\n" for m in messages)
    return f"#!/bin/sh\ncat <<'EOF'\n{body}EOF\n"


# -- the demo's day of mail ----------------------------------------------------

HACKED_CLIENT = "unknown[203.0.113.45]"
WINDOWS = (3600, 4 * 3600, 86400)  # those of the README's examples
STEADY = 900  # seconds after the demo starts during which their counts hold


def demo_log(now: float) -> str:
    """The demo's mail.log: a day of mail ending at ``now``, ISO timestamps.

    alice@example.net's password was stolen: 40 mails over the day from her
    usual client, then 1200 in twenty minutes three hours ago from another;
    the web form of www-data sends 350; bob and carol send a normal day. In
    the last hour Microsoft refuses our IP, Gmail and Yahoo defer us for
    volume, and a few recipients are unknown or over quota."""
    writer = LogWriter(seed=2026, iso=True)
    rng = random.Random(2026)
    chunks: list[tuple[float, list[str]]] = []
    others = ("x@example.org", "y@example.com", "z@example.org")

    def send(at: float, envelope: str, rcpts: list[Recipient], **who: Any) -> None:
        message = Message(at, envelope, rcpts, **who)
        lines = writer.message(message)
        chunks.append((at, lines))
        if any(r.status == "deferred" for r in rcpts):
            chunks.append((at + 900, writer.retry(message, at + 900, "deferred")))

    def spread(n: int, start: float, end: float) -> list[float]:
        """n times between start and end, none in the first minutes of the
        windows the README's examples use: their counts hold that long."""
        out: list[float] = []
        while len(out) < n:
            at = start + rng.random() * (end - start)
            if not any(now - window <= at < now - window + STEADY for window in WINDOWS):
                out.append(at)
        return sorted(out)

    day = now - 86400 + STEADY
    for at in spread(40, day, now - 4 * 3600):
        send(at, "alice@example.net", [Recipient(rng.choice(others))], sasl="alice@example.net")
    burst = (now - 3 * 3600) // 60 * 60  # on the minute: bursts are counted by the minute
    for at in spread(1200, burst, burst + 1200):
        send(at, "alice@example.net", [Recipient(f"u{rng.randrange(10**6)}@example.com")],
             sasl="alice@example.net", client=HACKED_CLIENT)
    for at in spread(350, day, now - 120):
        send(at, "www-data@mail.example.net", [Recipient(rng.choice(others))],
             local="www-data", uid=33)
    for name, n in (("bob", 140), ("carol", 90)):
        for at in spread(n, day, now - 120):
            send(at, f"{name}@example.net",
                 [Recipient(rng.choice(others)) for _ in range(rng.randrange(1, 3))],
                 sasl=f"{name}@example.net")
    refused = [("outlook-banned", "bounced", "@outlook.com", 12),
               ("gmail-rate", "deferred", "@gmail.com", 3),
               ("yahoo-deferred", "deferred", "@yahoo.com", 2),
               ("unknown-user", "bounced", "@example.com", 4),
               ("mailbox-full", "bounced", "@example.org", 1)]
    for reply, status, domain, n in refused:
        for i, at in enumerate(spread(n, now - 2400, now - 1000)):
            send(at, "bob@example.net", [Recipient(f"friend{i}{domain}", status, reply)],
                 sasl="bob@example.net")
    chunks.sort(key=lambda chunk: chunk[0])
    return "".join(line + "\n" for _, lines in chunks for line in lines)


def demo_queue(now: float) -> list[dict]:
    """What ``postqueue -j`` shows beside the demo's log: the deferred mail
    to Gmail and Yahoo, and one message waiting for a dead domain for 5 hours."""
    def entry(qid: str, age: float, rcpt: str, reason: str) -> dict:
        return {"queue_name": "deferred", "queue_id": qid, "arrival_time": int(now - age),
                "message_size": 1234, "sender": "bob@example.net",
                "recipients": [{"address": rcpt, "delay_reason": reason}]}

    rate = "host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.28 rate limited"
    return [entry(f"4Q{i}RATE{i:02d}", 2400, f"friend{i}@gmail.com", rate) for i in range(3)] \
        + [entry(f"4Q{i}TSS04{i}", 2400, f"friend{i}@yahoo.com", "TSS04") for i in range(2)] \
        + [entry("4QOLDDEAD01", 5.5 * 3600, "info@gone.example",
                 "connect to mx.gone.example[198.51.100.99]:25: Connection timed out")]
