"""One deadline shared by every DNS query and SMTP read of a plugin run.

Per-operation timeouts add up; a plugin must finish inside ``-t`` whatever
the network does, so everything asks the same clock how much time is left.
"""

from __future__ import annotations

import time


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.expires = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0
