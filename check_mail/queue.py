"""Postfix's queue as ``postqueue -j`` shows it (Postfix 3.1 and later): one
JSON object a message. Deferred mail piling up for one destination is the
other face of a receiver's refusals."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import NamedTuple


class Queue(NamedTuple):
    messages: int  # in every queue
    deferred: int  # messages in the deferred queue
    by_domain: Counter[str]  # deferred recipients by domain
    oldest: float  # age in seconds of the oldest deferred message, 0 with none
    error: str = ""  # why the queue could not be read; "" when it was


def read(command: list[str], now: float, timeout: float) -> Queue:
    """Run ``command`` (postqueue -j, with -c CONFIG_DIR if given)."""
    try:
        done = subprocess.run(command, capture_output=True, timeout=max(timeout, 0.1))
    except FileNotFoundError:
        return Queue(0, 0, Counter(), 0.0, f"{command[0]} not found")
    except subprocess.TimeoutExpired:
        return Queue(0, 0, Counter(), 0.0, f"{command[0]} did not answer in time")
    except OSError as exc:
        return Queue(0, 0, Counter(), 0.0, f"{command[0]}: {exc.strerror or exc}")
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return Queue(0, 0, Counter(), 0.0, f"{command[0]} failed: "
                                           f"{lines[-1] if lines else done.returncode}")
    return parse(done.stdout.decode("utf-8", "replace"), now)


def parse(text: str, now: float) -> Queue:
    messages = deferred = 0
    by_domain: Counter[str] = Counter()
    oldest = 0.0
    for line in text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        messages += 1
        if message.get("queue_name") != "deferred":
            continue
        deferred += 1
        arrival = message.get("arrival_time")
        if isinstance(arrival, (int, float)):
            oldest = max(oldest, now - arrival)
        for recipient in message.get("recipients") or ():
            address = recipient.get("address", "") if isinstance(recipient, dict) else ""
            by_domain[address.rpartition("@")[2].lower() or "(local)"] += 1
    return Queue(messages, deferred, by_domain, oldest)
