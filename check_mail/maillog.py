"""Reading the mail log: Postfix's lines, from files (rotated ones included)
or the systemd journal, where the last run stopped.

A line is ``TIMESTAMP HOST postfix/SERVICE[PID]: QUEUEID: TEXT``. The
timestamp is the classic syslog one (``Nov 29 05:51:45``, local time, no
year) or RFC 3339 (``2026-11-29T05:51:45.123456+01:00``, Debian's rsyslog
today). The journal's entries come as journalctl's JSON, one object a line
with its own cursor. Only lines that carry a queue ID matter to the checks;
the rest are skipped without parsing further.

Where a file was left is kept as its size offset and a fingerprint of its
first line, so the next run finds that file again wherever rotation moved
it: renamed to ``mail.log.1``, copied and truncated, or compressed into
``mail.log.2.gz``. Nothing is read twice and nothing is lost. A file that
cannot be found again is read from the start of the window. Lines are
yielded as they are read, and reading stops between two blocks when the
deadline comes: the position then says where the next run goes on.

Memory does not grow with the log, whatever it holds: a line longer than
MAX_LINE is skipped as unreadable, and a saved position inside a
compressed file is reached by decompressing block by block. A log that
cannot be read is an error naming it and why; a rotated file that cannot
(permissions, a corrupt ``.gz``) is skipped with a note.
"""

from __future__ import annotations

import calendar
import errno
import glob
import gzip
import hashlib
import os
import re
import stat
import time
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Union

if TYPE_CHECKING:
    import io

    from check_mail.deadline import Deadline

    Handle = Union[gzip.GzipFile, io.BufferedReader]

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
FINGERPRINT = 1024  # octets of a file's first line that identify it
CHUNK = 1 << 20
MAX_LINE = 1 << 20  # octets: longer is no log line, and is skipped
# What reading a file may raise: the OS, and gzip's and zlib's word on a
# corrupt or truncated compressed file.
READ_ERRORS = (OSError, EOFError, zlib.error)
_ROTATED = re.compile(r"\.(\d+)(\.gz)?$|-(\d{8,10})(\.gz)?$")


class Line(NamedTuple):
    """One Postfix line with a queue ID."""

    time: float  # seconds since the epoch
    service: str  # smtpd, pickup, cleanup, qmgr, smtp, lmtp, local, bounce, ...
    qid: str
    text: str  # what follows "QUEUEID: "


class Position(NamedTuple):
    """Where reading stopped in one log file."""

    path: str
    fingerprint: str
    offset: int


class Clock:
    """Timestamps to seconds, caching the date part: a million lines share a
    few dozen days. Classic syslog timestamps have no year: the one that does
    not put the line in the future is taken (a log read in January holds
    December's lines)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.year = time.localtime(now).tm_year
        self.hours: dict[tuple[int, int, int], float] = {}
        self.days: dict[str, float] = {}

    def classic(self, month: int, day: int, hms: str) -> float:
        hour = int(hms[0:2])
        key = (month, day, hour)
        start = self.hours.get(key)
        if start is None:
            start = self._hour(self.year, month, day, hour)
            if start > self.now + 86400:  # not in the future: last year's line
                start = self._hour(self.year - 1, month, day, hour)
            self.hours[key] = start
        return start + int(hms[3:5]) * 60 + int(hms[6:8])

    @staticmethod
    def _hour(year: int, month: int, day: int, hour: int) -> float:
        try:
            return time.mktime((year, month, day, hour, 0, 0, 0, 0, -1))
        except (OverflowError, ValueError):
            return 0.0

    def iso(self, text: str) -> float:
        """2026-11-29T05:51:45[.123456](+01:00|+0100|Z)"""
        day = text[:10]
        start = self.days.get(day)
        if start is None:
            start = calendar.timegm((int(day[0:4]), int(day[5:7]), int(day[8:10]), 0, 0, 0))
            self.days[day] = start
        seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
        zone = text[19:]
        if zone.startswith("."):
            zone = zone.lstrip(".0123456789")
        if zone in ("Z", ""):
            return start + seconds
        sign = -1 if zone[0] == "+" else 1  # +01:00 is an hour ahead of UTC
        digits = zone[1:].replace(":", "")
        return start + seconds + sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def parse(raw: str, clock: Clock) -> Line | None:
    """A Postfix line with a queue ID, or None (another program, no queue ID,
    or a line that does not read). Raises ValueError on a malformed timestamp."""
    end = raw.find("]: ")
    if end < 0:
        return None
    start = raw.rfind(" ", 0, end)
    bracket = raw.rfind("[", start, end)
    program = raw[start + 1:bracket]
    if not program.startswith("postfix"):
        return None
    text = raw[end + 3:]
    colon = _queue_id_end(text)
    if not colon:
        return None
    host = raw.rfind(" ", 0, start)
    stamp = raw[:host].strip()
    if stamp[:4].isdigit():
        when = clock.iso(stamp)
    else:
        month = MONTHS.get(stamp[:3])
        if month is None:
            raise ValueError(f"unknown month {stamp[:3]!r}")
        day, hms = stamp[3:].split()
        when = clock.classic(month, int(day), hms)
    return Line(when, program.rsplit("/", 1)[-1], text[:colon], text[colon + 2:].rstrip("\n"))


def _queue_id_end(text: str) -> int:
    """Where the queue ID that starts ``text`` ends ("QUEUEID: ..."), or 0.
    A queue ID is upper-case hex, or the long form with digits in it; not
    "warning:", "statistics:" or "NOQUEUE:"."""
    colon = text.find(": ")
    qid = text[:colon]
    if not 5 <= colon <= 20 or not qid.isalnum() or qid == "NOQUEUE" \
            or not (qid.isupper() or any(c.isdigit() for c in qid)):
        return 0
    return colon


def _postfix(program: str, text: str, when: float) -> Line | None:
    """A journal entry's Line, when it is Postfix's and has a queue ID."""
    colon = _queue_id_end(text) if program.startswith("postfix") else 0
    if not colon:
        return None
    return Line(when, program.rsplit("/", 1)[-1], text[:colon], text[colon + 2:].rstrip("\n"))


class Reading:
    """One run's reading: ``lines`` yields the Postfix lines with a queue ID,
    oldest first, one at a time, so memory does not grow with the log.
    Once they are drained, the counts are final and ``positions`` (files) or
    ``cursor`` (the journal) say where the next run starts. ``stopped`` is
    set when the deadline came first: the positions then keep what was read."""

    def __init__(self) -> None:
        self.lines: Iterator[Line] = iter(())
        self.read = 0
        self.unreadable = 0
        self.sample = ""  # one unreadable line, for -v
        self.positions: dict[str, Position] = {}
        self.cursor = ""
        self.stopped = False
        self.error = ""  # why the journal could not be read, found as it was drained
        self.skipped: list[str] = []  # rotated files not read, each with why


def rotated(path: str) -> list[str]:
    """The log and its rotated files, newest first: mail.log, mail.log.1,
    mail.log.2.gz, ... and dated ones (maillog-20261129[.gz])."""
    found = []
    for candidate in glob.glob(glob.escape(path) + ".*") + glob.glob(glob.escape(path) + "-*"):
        match = _ROTATED.search(candidate[len(path):])
        if match and match.start() == 0:
            number = match.group(1)
            found.append((int(number) if number else -int(match.group(3)), candidate))
    return [path, *(name for _, name in sorted(found))]


def fingerprint(path: str) -> str:
    """A digest of the file's first line ("" while it has none)."""
    try:
        with _open(path) as handle:
            first = handle.readline(FINGERPRINT)
    except READ_ERRORS:
        return ""
    if not first.endswith(b"\n") and len(first) < FINGERPRINT:
        return ""
    return hashlib.sha256(first).hexdigest()[:32]


def _open(path: str) -> Handle:
    """A regular file, opened for reading (decompressed if ``.gz``). Opening
    never blocks, so a FIFO is refused rather than waited on; a directory or a
    device raises OSError too."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if not path.endswith(".gz"):
            return os.fdopen(fd, "rb")
        raw = os.fdopen(fd, "rb", buffering=0)  # gzip buffers
    except BaseException:
        os.close(fd)
        raise
    unpacked = gzip.GzipFile(fileobj=raw, mode="rb")
    unpacked.myfileobj = raw  # closed with it, as when gzip opens the file itself
    return unpacked


def why_unreadable(path: str, exc: BaseException) -> str:
    """Why a log cannot be read, in the words that lead to the fix:
    "permission denied: add the monitoring user to group adm"."""
    if isinstance(exc, PermissionError):
        try:
            info = os.stat(path)
        except OSError:
            return "permission denied"
        if info.st_mode & stat.S_IRGRP and info.st_gid not in os.getgroups() \
                and info.st_gid != os.getegid():
            import grp

            try:
                group = grp.getgrgid(info.st_gid).gr_name
            except KeyError:
                group = f"gid {info.st_gid}"
            return f"permission denied: add the monitoring user to group {group}"
        return f"permission denied (mode {stat.S_IMODE(info.st_mode):04o})"
    if isinstance(exc, IsADirectoryError) or (isinstance(exc, OSError) and os.path.isdir(path)):
        return "a directory, not a log file"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Unreadable(OSError):
    """A log that cannot be read, and why in the user's words."""


def read_files(paths: list[str], positions: dict[str, Position], clock: Clock,
               since: float, deadline: Deadline) -> Reading:
    """Every complete line added to each log since its position (or, without
    one, since ``since``). A log that cannot be opened raises Unreadable
    naming it, at once; the lines come as ``Reading.lines`` is drained."""
    for path in paths:
        try:  # a missing or unreadable log is the user's to hear about
            _open(path).close()
        except READ_ERRORS as exc:
            code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EIO
            raise Unreadable(code, why_unreadable(path, exc), path) from None
    reading = Reading()
    reading.positions = dict(positions)
    reading.lines = _files(paths, positions, clock, since, deadline, reading)
    return reading


def _files(paths: list[str], positions: dict[str, Position], clock: Clock, since: float,
           deadline: Deadline, reading: Reading) -> Iterator[Line]:
    for path in paths:
        files = rotated(path)
        known = positions.get(path)
        start, offset = len(files), 0
        if known is not None and known.fingerprint:
            for index, candidate in enumerate(files):
                if fingerprint(candidate) == known.fingerprint:
                    start, offset = index, known.offset
                    break
        if start == len(files):  # first run, or lost track: the window from its start
            start = _first_covering(files, since)
            offset, from_time = 0, since
        else:
            from_time = 0.0
        for index in range(start, -1, -1):  # oldest first
            name = files[index]
            where = [offset if index == start else 0]
            yield from _read(name, where, clock, from_time, deadline, reading)
            if reading.stopped or index == 0:  # the next run goes on from here
                reading.positions[path] = Position(path, fingerprint(name), where[0])
                break
        if reading.stopped:
            return


def _first_covering(files: list[str], since: float) -> int:
    """The oldest file that may hold lines from ``since`` on: a rotated file
    last written before then holds none, nor do the older ones."""
    start = 0
    for index, candidate in enumerate(files):
        try:
            if os.stat(candidate).st_mtime < since:
                break
        except OSError:
            break
        start = index
    return start


def _read(path: str, where: list[int], clock: Clock, since: float, deadline: Deadline,
          reading: Reading) -> Iterator[Line]:
    """The complete lines of one file from ``where[0]``, which follows the
    reading (the end of the last complete line read). A file that cannot be
    read, or breaks off (a corrupt ``.gz``), is noted in ``reading.skipped``:
    what was read of it counts."""
    try:
        handle = _open(path)
    except READ_ERRORS as exc:
        reading.skipped.append(f"{path}: {why_unreadable(path, exc)}")
        return
    with handle:
        try:
            yield from _blocks(path, handle, where, clock, since, deadline, reading)
        except READ_ERRORS as exc:
            reading.skipped.append(f"{path}: read up to octet {where[0]}, then "
                                   f"{why_unreadable(path, exc)}")


def _blocks(path: str, handle: Handle, where: list[int], clock: Clock, since: float,
            deadline: Deadline, reading: Reading) -> Iterator[Line]:
    size = os.fstat(handle.fileno()).st_size
    if not path.endswith(".gz") and size < where[0]:  # truncated: start again
        where[0] = 0
    if path.endswith(".gz"):
        left = where[0]  # no seeking in a compressed file: read up to it, block by block
        while left > 0:
            if deadline.expired:
                reading.stopped = True
                return
            skipped = len(handle.read(min(left, CHUNK)))
            if not skipped:
                return  # the position was past the end: nothing new
            left -= skipped
    elif where[0]:
        handle.seek(where[0])
    rest = b""
    overlong = False  # inside a line too long to keep, until its end
    while True:
        if deadline.expired:
            reading.stopped = True
            return
        block = handle.read(CHUNK)
        if not block:
            return
        if overlong:
            end = block.find(b"\n") + 1
            where[0] += end or len(block)
            if not end:
                continue
            block, overlong = block[end:], False
        block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        yield from _lines(block[:cut], clock, since, reading)
        where[0] += cut
        if len(rest) > MAX_LINE:
            reading.read += 1
            reading.unreadable += 1
            reading.sample = reading.sample or rest[:200].decode("utf-8", "replace")
            where[0] += len(rest)
            rest, overlong = b"", True


def _lines(block: bytes, clock: Clock, since: float, reading: Reading) -> Iterator[Line]:
    """The lines of a block of complete lines. Only LF ends a line (CR LF
    too): str.splitlines() would also cut at a form feed or U+2028 inside a
    receiver's reply, the very text the checks read."""
    text = block.decode("utf-8", "replace").replace("\r\n", "\n")
    for raw in text.split("\n")[:-1]:
        reading.read += 1
        try:
            line = parse(raw, clock)
        except (ValueError, IndexError):
            reading.unreadable += 1
            reading.sample = reading.sample or raw
            continue
        if line is not None and line.time >= since:
            yield line


JOURNAL = ["journalctl", "--unit=postfix*", "--output=json", "--no-pager",
           "--output-fields=MESSAGE,SYSLOG_IDENTIFIER"]
# What journalctl says (on stderr, exit 0) to a user who may not read the
# system's entries: it would show only the user's own, none of Postfix's.
NOT_ALLOWED = b"not seeing messages from other users"


def read_journal(cursor: str, since: float, deadline: Deadline) -> Reading:
    """The Postfix units' entries in the systemd journal after ``cursor`` (or
    since ``since``). journalctl's JSON gives each entry its cursor and a
    timestamp in microseconds, so a reading stopped by the deadline still
    knows where to go on. Raises OSError when journalctl cannot be run."""
    import subprocess

    command = [*JOURNAL, f"--after-cursor={cursor}" if cursor else f"--since=@{int(since)}"]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise OSError("journalctl is not installed (no systemd journal here)") from None
    reading = Reading()
    reading.cursor = cursor
    reading.lines = _journal(process, since, deadline, reading)
    return reading


def _journal(process: Any, since: float, deadline: Deadline,
             reading: Reading) -> Iterator[Line]:
    import json
    import threading

    timer = threading.Timer(deadline.remaining(), process.kill)
    timer.start()
    try:
        # a line at most MAX_LINE long: a longer one comes in pieces, unreadable
        for raw in iter(lambda: process.stdout.readline(MAX_LINE), b""):
            reading.read += 1
            try:
                entry = json.loads(raw)
                message = entry.get("MESSAGE")
                if isinstance(message, list):  # not UTF-8: journalctl gives the octets
                    message = bytes(message).decode("utf-8", "replace")
                when = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
                program = str(entry.get("SYSLOG_IDENTIFIER", ""))
                reading.cursor = str(entry["__CURSOR"])
            except (ValueError, KeyError, TypeError, AttributeError):
                reading.unreadable += 1
                reading.sample = reading.sample or raw.decode("utf-8", "replace")
                continue
            line = _postfix(program, message or "", when)
            if line is not None and when >= since:
                yield line
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    complaint = process.stderr.read(64 * 1024)
    if process.returncode < 0:
        reading.stopped = True  # killed at the deadline
    elif NOT_ALLOWED in complaint:
        reading.error = ("journalctl: this user may not read the system's journal (add it to "
                         "the systemd-journal or adm group)")
    elif process.returncode:
        said = complaint.decode("utf-8", "replace").strip().splitlines()
        reading.error = f"journalctl failed: {said[-1] if said else process.returncode}"
