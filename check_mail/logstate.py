"""What a log check keeps between runs, so that a run reads only new lines:
where reading stopped, the messages it still follows, and per-minute counts
for the window (never the lines themselves, so the file stays the size of
the window's aggregate, whatever the log's size).

The file is JSON, written to a temporary file and renamed into place. One
that cannot be read, or comes from another version or another set of logs
and options (``identity``), is ignored with a note: the run then reads the
whole window again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from check_mail.maillog import Line, Position, Reading

if TYPE_CHECKING:
    from check_mail.deadline import Deadline

VERSION = 1
# /var/tmp outlives reboots (the window does too); one folder per user, so
# that a run from a shell as root never locks the monitoring user out.
DIRECTORY = "/var/tmp/check-mail-{uid}"
MAX_STATE = 64 << 20  # octets: a day of minutes for thousands of senders takes far less


def default_path(plugin: str, identity: str) -> str:
    """/var/tmp/check-mail-<uid>/<plugin>-<digest>.json: one per logs and options."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return os.path.join(DIRECTORY.format(uid=os.getuid()), f"{plugin}-{digest}.json")


def foreign(directory: str) -> str:
    """Why the default folder may not be trusted ("" when it may): in a
    folder anyone can write to, another user could have made it first and
    fed us counts."""
    try:
        info = os.lstat(directory)
    except OSError:
        return ""
    import stat

    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return f"{directory} is not this user's own folder"
    return ""


class State:
    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.positions: dict[str, Position] = {}
        self.cursor = ""  # the journal's, with --journal
        self.pending: dict[str, list] = {}
        self.minutes: dict[int, Counter[str]] = {}  # minute (epoch // 60) -> key -> count
        self.extra: dict = {}  # what the check keeps besides counts (samples, times)
        self.note = ""  # why a state file on disk was not used

    @classmethod
    def load(cls, path: str, identity: str) -> State:
        state = cls(identity)
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read(MAX_STATE + 1))
        except FileNotFoundError:
            return state
        except (OSError, ValueError) as exc:
            state.note = f"state file {path} ignored: {getattr(exc, 'strerror', None) or exc}"
            return state
        if not isinstance(data, dict) or data.get("version") != VERSION:
            state.note = f"state file {path} ignored: from another version"
            return state
        if data.get("identity") != identity:
            state.note = f"state file {path} ignored: kept for other logs or options"
            return state
        try:
            state.positions = {p[0]: Position(str(p[0]), str(p[1]), int(p[2]))
                               for p in data["positions"]}
            state.cursor = str(data["cursor"])
            state.pending = {str(k): list(v) for k, v in data["pending"].items()}
            state.minutes = {int(m): Counter({str(k): int(n) for k, n in counts.items()})
                             for m, counts in data["minutes"].items()}
            state.extra = dict(data["extra"])
        except (KeyError, TypeError, ValueError, IndexError):
            fresh = cls(identity)
            fresh.note = f"state file {path} ignored: not a state file"
            return fresh
        return state

    def save(self, path: str) -> str:
        """Write the state; "" or why it could not be written."""
        data = {"version": VERSION, "identity": self.identity,
                "positions": [list(p) for p in self.positions.values()],
                "cursor": self.cursor, "pending": self.pending,
                "minutes": {str(m): dict(c) for m, c in self.minutes.items()},
                "extra": self.extra}
        directory = os.path.dirname(path) or "."
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=".state-")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, separators=(",", ":"))
            os.replace(temporary, path)
        except OSError as exc:
            return f"state not kept in {path}: {exc.strerror or exc}"
        return ""

    def add(self, minute: int, key: str, count: int = 1) -> None:
        bucket = self.minutes.get(minute)
        if bucket is None:
            bucket = self.minutes[minute] = Counter()
        bucket[key] += count

    def prune(self, since: float) -> None:
        """Forget the minutes before ``since`` (epoch seconds)."""
        first = int(since // 60)
        for minute in [m for m in self.minutes if m < first]:
            del self.minutes[minute]

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.minutes.values():
            total.update(counts)
        return total


def catch_up(state: State, paths: list[str], journal: bool, now: float, window: float,
             deadline: Deadline) -> Reading:
    """Read what the logs gained since the state's positions (or the whole
    window, without them), forget minutes past the window. As the reading's
    lines are drained, the state's positions move on. Raises OSError naming
    a log that cannot be read."""
    from check_mail import maillog

    since = now - window
    if journal:
        reading = maillog.read_journal(state.cursor, since, deadline)
    else:
        reading = maillog.read_files(paths, state.positions, maillog.Clock(now), since,
                                     deadline)
    state.prune(since)
    reading.lines = _advancing(state, reading, reading.lines)
    return reading


def _advancing(state: State, reading: Reading, lines: Iterator[Line]) -> Iterator[Line]:
    yield from lines
    state.positions, state.cursor = reading.positions, reading.cursor
