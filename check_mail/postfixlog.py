"""What Postfix's log lines say: who submitted each message, and what became
of each delivery.

A message is followed by its queue ID. smtpd logs the client and, after
AUTH, ``sasl_username``; pickup logs the local ``uid`` and sender of mail
from sendmail; cleanup logs ``message-id`` once, when the message is
queued; qmgr logs ``from=<...>, size=..., nrcpt=N (queue active)`` each
time the message enters the active queue, which is again after every
deferral. A message counts once: at its first qmgr line after cleanup's.
Delivery agents (smtp, lmtp, local, virtual, pipe, error) log one line per
recipient: ``to=<...>, relay=..., dsn=..., status=... (reply)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from check_mail.maillog import Line
from check_mail.text import integer

DELIVERY_AGENTS = frozenset(("smtp", "lmtp", "local", "virtual", "pipe", "error", "discard"))
STALE = 3600.0  # seconds a message may wait between cleanup and qmgr before it is forgotten

_CLIENT = re.compile(r"client=(\S+?)(?:,|$)")
_SASL = re.compile(r"sasl_username=([^,]+)")
_PICKUP = re.compile(r"uid=(\d+) from=<([^>]*)>")
_QMGR = re.compile(r"from=<([^>]*)>, size=\d+, nrcpt=(\d+)")
_DELIVERY = re.compile(r"to=<([^>]*)>,(?: orig_to=<[^>]*>,)? relay=([^,]+), .*?"
                       r"dsn=([0-9.]+), status=(\w+)(?: \((.*)\))?$")


class Submission(NamedTuple):
    """A message queued for delivery, and who sent it."""

    time: float
    qid: str
    sender: str  # the SASL user, else the local user, else the envelope sender
    how: str  # "sasl", "local" or "envelope"
    envelope: str  # the envelope sender (MAIL FROM)
    client: str  # "host[address]" for smtpd, "uid N" for pickup
    recipients: int


class Delivery(NamedTuple):
    """One recipient's delivery attempt."""

    time: float
    qid: str
    recipient: str
    relay: str  # "mx.example.org[192.0.2.1]:25", "none", "local"...
    dsn: str  # "5.7.606"
    status: str  # "sent", "deferred", "bounced", "expired"
    reply: str  # the remote server's words, or Postfix's reason

    @property
    def relay_host(self) -> str:
        return self.relay.split("[", 1)[0].lower()

    @property
    def domain(self) -> str:
        return self.recipient.rpartition("@")[2].lower()


class Tracker:
    """Follows messages from their first line to qmgr's. What it still waits
    for (``pending``: queue ID -> [time, queued, how, who, client]) goes into
    the state file between runs."""

    def __init__(self, pending: dict[str, list] | None = None) -> None:
        self.pending: dict[str, list] = dict(pending or {})

    def submissions(self, lines: Iterable[Line]) -> Iterator[Submission]:
        pending = self.pending
        for line in lines:
            service, text = line.service, line.text
            if service == "qmgr":
                if text.startswith("from=<"):
                    waiting = pending.pop(line.qid, None)
                    match = _QMGR.match(text)
                    recipients = _count(match.group(2)) if match else -1
                    if waiting is not None and waiting[1] and match and recipients >= 0:
                        # queued since we last saw it: new, not a retry
                        _, _, how, who, client = waiting
                        envelope = match.group(1)
                        yield Submission(line.time, line.qid,
                                         envelope if how == "envelope" else who, how, envelope,
                                         client, recipients)
                elif text == "removed":
                    pending.pop(line.qid, None)
            elif service == "smtpd" and text.startswith("client="):
                client = _CLIENT.match(text)
                user = _SASL.search(text)
                pending[line.qid] = [line.time, False, "sasl" if user else "envelope",
                                     user.group(1).strip() if user else "",
                                     client.group(1) if client else ""]
            elif service == "pickup" and text.startswith("uid="):
                match = _PICKUP.match(text)
                if match:
                    uid = f"uid {match.group(1)}"
                    pending[line.qid] = [line.time, False, "local", match.group(2) or uid, uid]
            elif service == "cleanup" and text.startswith("message-id="):
                pending.setdefault(line.qid, [line.time, False, "envelope", "", ""])[1] = True

    def forget(self, now: float) -> None:
        """Drop messages that never reached qmgr (a milter rejected them, say)."""
        for qid in [q for q, waiting in self.pending.items() if waiting[0] < now - STALE]:
            del self.pending[qid]


def _count(digits: str) -> int:
    """nrcpt=N as a number, -1 when it is not one (a forged line)."""
    try:
        return integer(digits, 9)
    except ValueError:
        return -1


def deliveries(lines: Iterable[Line]) -> Iterator[Delivery]:
    for line in lines:
        if line.service in DELIVERY_AGENTS and line.text.startswith("to=<"):
            match = _DELIVERY.match(line.text)
            if match:
                yield Delivery(line.time, line.qid, match.group(1), match.group(2),
                               match.group(3), match.group(4), match.group(5) or "")
