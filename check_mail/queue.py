"""Postfix's queue as ``postqueue -j`` shows it (Postfix 3.1 and later): one
JSON object a message. Deferred mail piling up for one destination is the
other face of a receiver's refusals.

A queue that could not be read is never an empty queue: Postfix not
running, a postqueue that fails, hangs, floods or prints something else
than its listing each say so (``Queue.error``, ``Queue.down``). Only a
postqueue that is not installed skips the queue (``Queue.skipped``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

from check_mail import process

if TYPE_CHECKING:
    from check_mail.deadline import Deadline

MAX_LISTING = 64 << 20  # octets of postqueue's output: some 100,000 messages
MAX_RECIPIENTS = 10_000  # per message, as Postfix's own default recipient limit does
DOWN = "mail system is down"  # postqueue's words when Postfix is not running


class Queue(NamedTuple):
    messages: int = 0  # in every queue
    deferred: int = 0  # messages in the deferred queue
    by_domain: Counter[str] = Counter()  # deferred recipients by domain
    oldest: float = 0.0  # age in seconds of the oldest deferred message, 0 with none
    error: str = ""  # why the queue could not be read; "" when it was
    down: bool = False  # Postfix is not running
    skipped: str = ""  # why the queue was not looked at (no postqueue here)


def read(command: list[str], now: float, deadline: Deadline) -> Queue:
    """Run ``command`` (postqueue -j, with -c CONFIG_DIR if given)."""
    ran = process.run(command, deadline, MAX_LISTING)
    if ran.missing:
        return Queue(skipped=ran.error)
    if ran.error:
        return Queue(error=ran.error)
    if ran.limit:
        return Queue(error=f"{ran.program} stopped: {ran.limit}")
    if ran.status != 0:
        down = DOWN in ran.complaint
        return Queue(error=f"{ran.program} failed: {ran.complaint}", down=down)
    return parse(ran.stdout.decode("utf-8", "replace"), now)


def parse(text: str, now: float) -> Queue:
    """The listing; lines that are not a message as ``postqueue -j`` writes
    one make the whole listing unreadable (``error``), never a shorter queue."""
    messages = deferred = 0
    by_domain: Counter[str] = Counter()
    oldest = 0.0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        message = _message(line)
        if message is None:
            return Queue(error=f"postqueue -j printed something other than its listing "
                               f"(line {number})")
        queue_name, arrival, recipients = message
        messages += 1
        if queue_name != "deferred":
            continue
        deferred += 1
        if arrival is not None:
            oldest = max(oldest, now - arrival)
        for address in recipients:
            by_domain[address.rpartition("@")[2].lower() or "(local)"] += 1
    return Queue(messages, deferred, by_domain, oldest)


def _message(line: str) -> tuple[str, float | None, list[str]] | None:
    """A listing line's queue name, arrival time and recipients, or None when
    the line is not of that shape (JSON of another form, or no JSON)."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("queue_name"), str):
        return None
    arrival = message.get("arrival_time")
    if arrival is not None:
        if isinstance(arrival, bool) or not isinstance(arrival, (int, float)) \
                or not -1e12 < arrival < 1e12:  # seconds since the epoch: nan, inf excluded
            return None
        arrival = float(arrival)
    recipients = message.get("recipients", [])
    if not isinstance(recipients, list) or len(recipients) > MAX_RECIPIENTS \
            or not all(isinstance(r, dict) and isinstance(r.get("address"), str)
                       for r in recipients):
        return None
    return message["queue_name"], arrival, [r["address"] for r in recipients]
