"""What a log check keeps between runs, so that a run reads only new lines:
where reading stopped, the messages it still follows, and per-minute counts
for the window (never the lines themselves, so the file stays the size of
the window's aggregate, whatever the log's size).

The file is JSON, written to a temporary file and renamed into place. One
that cannot be read, does not fit the shape of a state file, or comes from
another version or another set of logs and options (``identity``), is
ignored with a note: the run then reads the whole window again. The folder
it lives in must be the user's own and private, and no file in it is
opened through a link.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from check_mail.maillog import Line, Position, Reading

if TYPE_CHECKING:
    from check_mail.deadline import Deadline

VERSION = 1
# /var/tmp outlives reboots (the window does too); one folder per user, so
# that a run from a shell as root never locks the monitoring user out.
DIRECTORY = "/var/tmp/check-mail-{uid}"
MAX_STATE = 64 << 20  # octets: a day of minutes for thousands of senders takes far less

# What a state file holds, as a shape each part of it must fit (see fits()):
# a position is [path, fingerprint, offset]; a message still followed is
# [time, queued, how, who, client] (check_mail.postfixlog.Tracker).
POSITION = (str, str, int)
PENDING = {str: (float, bool, str, str, str)}
MINUTES = {str: {str: int}}
Shape = Any


def default_path(plugin: str, identity: str) -> str:
    """/var/tmp/check-mail-<uid>/<plugin>-<digest>.json: one per logs and options."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return os.path.join(DIRECTORY.format(uid=os.getuid()), f"{plugin}-{digest}.json")


class Refused(OSError):
    """A state folder or file that may not be trusted, and why."""


@contextmanager
def folder(path: str) -> Iterator[int]:
    """The folder of the state file ``path``, open as a descriptor that every
    file operation goes through (so a link planted later leads nowhere). It
    is made private to the user (0700) if missing, and refused (Refused) if
    it is a link, not the user's own, or writable by others: another user
    could feed us counts, or have us write where they choose."""
    directory = os.path.dirname(path) or "."
    with suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise Refused(f"{directory} is not this user's own folder (owner uid "
                          f"{info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o})")
        yield fd
    finally:
        os.close(fd)


def fits(value: Any, shape: Shape) -> bool:
    """Whether JSON data has the expected shape: a type (float takes any
    number, never a bool), ``(A, B, ...)`` a list of exactly those,
    ``[A]`` a list of A, ``{str: A}`` an object of any keys to A, and
    ``{"key": A, ...}`` an object with exactly those keys."""
    if isinstance(shape, type):
        if isinstance(value, bool):
            return shape is bool
        if shape is float:
            return isinstance(value, (int, float))
        return isinstance(value, shape)
    if isinstance(shape, tuple):
        return isinstance(value, list) and len(value) == len(shape) \
            and all(fits(v, s) for v, s in zip(value, shape))
    if isinstance(shape, list):
        return isinstance(value, list) and all(fits(v, shape[0]) for v in value)
    if not isinstance(value, dict):
        return False
    if str in shape:
        return all(fits(v, shape[str]) for v in value.values())
    return value.keys() == shape.keys() and all(fits(value[k], s) for k, s in shape.items())


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")  # NaN and Infinity: not JSON


class State:
    def __init__(self, identity: str, extra: dict[str, Shape] | None = None) -> None:
        self.identity = identity
        self.positions: dict[str, Position] = {}
        self.cursor = ""  # the journal's, with --journal
        self.pending: dict[str, list] = {}
        self.minutes: dict[int, Counter[str]] = {}  # minute (epoch // 60) -> key -> count
        self.extra: dict = {}  # what the check keeps besides counts (samples, times)
        self.extra_shape = extra or {}  # the shape of each of extra's parts
        self.note = ""  # why a state file on disk was not used

    @classmethod
    def load(cls, path: str, identity: str, extra: dict[str, Shape] | None = None) -> State:
        """The state kept in ``path``; a fresh one, with a note saying why, when
        the file cannot be trusted or read, or does not fit its shape."""
        state = cls(identity, extra)
        try:
            with folder(path) as directory:
                data = _read(os.path.basename(path), directory)
        except FileNotFoundError:
            return state
        except (OSError, ValueError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                str(exc) if isinstance(exc, OSError) else "not a state file"
            state.note = f"state file {path} ignored: {why}"
            return state
        if not isinstance(data, dict) or data.get("version") != VERSION:
            state.note = f"state file {path} ignored: from another version"
            return state
        if data.get("identity") != identity:
            state.note = f"state file {path} ignored: kept for other logs or options"
            return state
        shape = {"version": int, "identity": str, "positions": [POSITION], "cursor": str,
                 "pending": PENDING, "minutes": MINUTES,
                 "extra": {k: v for k, v in state.extra_shape.items() if
                           k in (data.get("extra") or {})}}
        try:
            if not fits(data, shape) or any(not m.isdigit() or len(m) > 12
                                            for m in data["minutes"]):
                raise ValueError
            state.positions = {p[0]: Position(p[0], p[1], p[2]) for p in data["positions"]}
            state.cursor = data["cursor"]
            state.pending = data["pending"]
            state.minutes = {int(m): Counter(counts) for m, counts in data["minutes"].items()}
            state.extra = data["extra"]
        except ValueError:
            fresh = cls(identity, extra)
            fresh.note = f"state file {path} ignored: not a state file"
            return fresh
        return state

    def save(self, path: str) -> str:
        """Write the state, replacing the file at once; "" or why it could not
        be written."""
        data = {"version": VERSION, "identity": self.identity,
                "positions": [list(p) for p in self.positions.values()],
                "cursor": self.cursor, "pending": self.pending,
                "minutes": {str(m): dict(c) for m, c in self.minutes.items()},
                "extra": self.extra}
        name = os.path.basename(path)
        temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}"
        try:
            with folder(path) as directory:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600, dir_fd=directory)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as out:
                        json.dump(data, out, separators=(",", ":"))
                    os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
                except BaseException:
                    with suppress(OSError):
                        os.unlink(temporary, dir_fd=directory)
                    raise
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


def _read(name: str, directory: int) -> Any:
    """A state file's JSON, opened inside the verified folder, never through
    a link, and only if it is a regular file of the user's."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            raise Refused("not a file of this user's")
        raw = handle.read(MAX_STATE + 1)
    if len(raw) > MAX_STATE:
        raise Refused(f"larger than {MAX_STATE >> 20} MiB")
    return json.loads(raw, parse_constant=_no_constant)


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
