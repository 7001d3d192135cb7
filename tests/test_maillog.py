"""Reading the Postfix log (check_mail.maillog, check_mail.logstate): both
timestamp forms, the year a classic timestamp lacks, rotation in all three
forms, the state file and what makes it unusable, the journal."""

from __future__ import annotations

import calendar
import gzip
import json
import os
import shutil
import time

import pytest

from check_mail import logstate, maillog
from check_mail.deadline import Deadline
from check_mail.simulation.postfixlog import LogWriter, Message, Recipient

NOW = time.time()


def clock(now: float = NOW) -> maillog.Clock:
    return maillog.Clock(now)


def test_a_classic_line():
    line = maillog.parse("Nov 29 05:51:46 mail postfix/qmgr[9122]: 06BFE21E9A7: from=<a@b.c>, "
                         "size=325, nrcpt=1 (queue active)",
                         clock(time.mktime((2026, 11, 29, 12, 0, 0, 0, 0, -1))))
    assert line is not None
    assert (line.service, line.qid, line.text) == ("qmgr", "06BFE21E9A7",
                                                   "from=<a@b.c>, size=325, nrcpt=1 (queue active)")
    assert time.localtime(line.time)[:6] == (2026, 11, 29, 5, 51, 46)


def test_a_classic_timestamp_takes_the_year_that_is_not_in_the_future():
    new_year = time.mktime((2027, 1, 1, 0, 10, 0, 0, 0, -1))
    line = maillog.parse("Dec 31 23:59:00 mail postfix/smtpd[1]: 0A1B2C3D4E: client=x[1.2.3.4]",
                         clock(new_year))
    assert line is not None and time.localtime(line.time)[:3] == (2026, 12, 31)
    early = maillog.parse("Jan  1 00:05:00 mail postfix/smtpd[1]: 0A1B2C3D4E: client=x[1.2.3.4]",
                          clock(new_year))
    assert early is not None and time.localtime(early.time)[:3] == (2027, 1, 1)


@pytest.mark.parametrize("stamp,offset", [
    ("2026-11-29T05:51:46.123456+01:00", 3600),
    ("2026-11-29T05:51:46+0100", 3600),
    ("2026-11-29T05:51:46-05:30", -19800),
    ("2026-11-29T05:51:46Z", 0),
])
def test_iso_timestamps(stamp, offset):
    line = maillog.parse(f"{stamp} mail postfix/submission/smtpd[7]: 4bT2Lk1Xyz0zY1: "
                         "client=x[192.0.2.1]", clock())
    assert line is not None and line.service == "smtpd" and line.qid == "4bT2Lk1Xyz0zY1"
    assert line.time == calendar.timegm((2026, 11, 29, 5, 51, 46)) - offset


@pytest.mark.parametrize("raw", [
    "Nov 29 05:51:45 mail postfix/smtpd[9124]: connect from unknown[127.0.0.1]",
    "Nov 29 05:51:45 mail postfix/smtpd[9124]: warning: hostname x does not resolve",
    "Nov 29 05:51:45 mail postfix/smtpd[9124]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554",
    "Nov 29 05:51:45 mail dovecot[10]: 0A1B2C3D4E: login",
    "Nov 29 05:51:45 mail kernel: something",
])
def test_lines_without_a_queue_id_or_not_postfix_are_skipped(raw):
    assert maillog.parse(raw, clock()) is None


def test_a_line_with_a_broken_timestamp_raises():
    with pytest.raises(ValueError):
        maillog.parse("Foo 29 05:51:45 mail postfix/qmgr[1]: 0A1B2C3D4E: removed", clock())


def write(path, lines, mode="a"):
    with open(path, mode) as handle:
        handle.write("".join(line + "\n" for line in lines))


def messages(writer: LogWriter, at: float, count: int, sender: str = "alice") -> list[str]:
    lines = []
    for i in range(count):
        lines += writer.message(Message(at + i, f"{sender}@example.net",
                                        [Recipient("x@example.org")], sasl=sender))
    return lines


def catch_up(state, log, window=3600.0, now=None, seconds=5.0):
    """A reading, drained (its lines listed), as a check drains it."""
    reading = logstate.catch_up(state, [str(log)], False, now or time.time(), window,
                                Deadline(seconds))
    reading.lines = list(reading.lines)
    return reading


def qmgr_lines(reading):
    return sum(1 for line in reading.lines if line.service == "qmgr"
               and line.text.startswith("from="))


def test_a_first_run_reads_the_window_and_the_next_only_new_lines(tmp_path):
    log, writer, state = tmp_path / "mail.log", LogWriter(), logstate.State("x")
    now = time.time()
    write(log, messages(writer, now - 7200, 5) + messages(writer, now - 600, 3))
    assert qmgr_lines(catch_up(state, log)) == 3  # the two-hour-old ones are outside
    write(log, messages(writer, now - 60, 2))
    assert qmgr_lines(catch_up(state, log)) == 2
    assert qmgr_lines(catch_up(state, log)) == 0


def test_a_partial_last_line_waits_for_the_rest(tmp_path):
    log, writer, state = tmp_path / "mail.log", LogWriter(), logstate.State("x")
    lines = messages(writer, time.time() - 60, 1)
    write(log, lines[:2])
    with open(log, "a") as handle:
        handle.write(lines[2][:20])
    catch_up(state, log)
    with open(log, "a") as handle:
        handle.write(lines[2][20:] + "\n")
    assert qmgr_lines(catch_up(state, log)) == 1


@pytest.mark.parametrize("rotation", ["rename", "copytruncate", "compressed"])
def test_rotation_loses_and_doubles_nothing(tmp_path, rotation):
    log, writer, state = tmp_path / "mail.log", LogWriter(), logstate.State("x")
    now = time.time()
    write(log, messages(writer, now - 900, 4))
    assert qmgr_lines(catch_up(state, log)) == 4
    write(log, messages(writer, now - 600, 3))  # written before the rotation, not yet read
    if rotation == "copytruncate":
        shutil.copy(log, f"{log}.1")
        open(log, "w").close()
    else:
        os.rename(log, f"{log}.1")
        if rotation == "compressed":  # and rotated once more since: .1 is now .2.gz
            with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.2.gz", "wb") as dst:
                dst.write(src.read())
            os.remove(f"{log}.1")
            write(f"{log}.1", messages(writer, now - 400, 2), "w")
        open(log, "w").close()
    write(log, messages(writer, now - 300, 5))
    expected = 3 + 5 + (2 if rotation == "compressed" else 0)
    assert qmgr_lines(catch_up(state, log)) == expected
    assert qmgr_lines(catch_up(state, log)) == 0


def test_a_lost_position_reads_the_window_again(tmp_path):
    log, writer, state = tmp_path / "mail.log", LogWriter(), logstate.State("x")
    write(log, messages(writer, time.time() - 600, 2))
    catch_up(state, log)
    os.remove(log)  # rotated away and deleted: nothing holds that first line any more
    write(log, messages(writer, time.time() - 60, 1), "w")
    assert qmgr_lines(catch_up(state, log)) == 1


def test_rotated_files_are_found_newest_first(tmp_path):
    base = tmp_path / "mail.log"
    for name in ("mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.10.gz", "mail.log.old",
                 "mail.log.1.tmp"):
        (tmp_path / name).touch()
    assert [os.path.basename(p) for p in maillog.rotated(str(base))] == [
        "mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.10.gz"]
    dated = tmp_path / "maillog"
    for name in ("maillog", "maillog-20261127.gz", "maillog-20261128"):
        (tmp_path / name).touch()
    assert [os.path.basename(p) for p in maillog.rotated(str(dated))] == [
        "maillog", "maillog-20261128", "maillog-20261127.gz"]


def test_unreadable_lines_are_counted_with_a_sample(tmp_path):
    log, state = tmp_path / "mail.log", logstate.State("x")
    write(log, ["Foo 29 05:51:45 mail postfix/qmgr[1]: 0A1B2C3D4E: removed", "short"])
    reading = catch_up(state, log)
    assert (reading.read, reading.unreadable) == (2, 1)
    assert reading.sample.startswith("Foo 29")


def test_a_missing_log_is_an_error_naming_it(tmp_path):
    with pytest.raises(maillog.Unreadable) as raised:
        catch_up(logstate.State("x"), tmp_path / "nowhere.log")
    assert raised.value.filename == str(tmp_path / "nowhere.log")
    assert raised.value.strerror == "No such file or directory"


@pytest.mark.parametrize(("make", "why"), [
    (lambda path: path.mkdir(), "a directory, not a log file"),
    (lambda path: os.mkfifo(path), "not a regular file"),
    (lambda path: path.symlink_to("/dev/zero"), "not a regular file"),
])
def test_a_log_that_is_no_file_is_an_error_never_empty(tmp_path, make, why):
    """Issue 21: a directory, a FIFO (never waited on) or a device as --log."""
    log = tmp_path / "mail.log"
    make(log)
    with pytest.raises(maillog.Unreadable) as raised:
        catch_up(logstate.State("x"), log)
    assert (raised.value.filename, raised.value.strerror) == (str(log), why)


def test_why_a_log_may_not_be_read_names_the_group(tmp_path):
    """Issue 21: root:adm 0640 and a user outside adm (the test runs the
    real plugin that way in test_check_senders)."""
    log = tmp_path / "mail.log"
    log.write_text("")
    log.chmod(0o640)
    os.chown(log, -1, 4 if os.getuid() == 0 else os.getgid())
    denied = PermissionError(13, "Permission denied", str(log))
    why = maillog.why_unreadable(str(log), denied)
    if os.getuid() == 0 and 4 not in os.getgroups():
        import grp

        assert why == (f"permission denied: add the monitoring user to group "
                       f"{grp.getgrgid(4).gr_name}")
    log.chmod(0o600)
    assert maillog.why_unreadable(str(log), denied) == "permission denied (mode 0600)"


def gz_log(path, lines: list[str]) -> None:
    with gzip.open(path, "wt") as out:
        out.write("".join(line + "\n" for line in lines))


def test_a_corrupt_rotated_file_is_skipped_with_a_note_and_the_rest_read(tmp_path):
    """Issue 21: zlib's error on a broken .gz is a note, not a crash."""
    log, writer, state = tmp_path / "mail.log", LogWriter(), logstate.State("x")
    now = time.time()
    gz_log(tmp_path / "mail.log.2.gz", messages(writer, now - 3000, 2))
    broken = bytearray((tmp_path / "mail.log.2.gz").read_bytes())
    broken[20:40] = b"\xff" * 20
    (tmp_path / "mail.log.2.gz").write_bytes(bytes(broken))
    (tmp_path / "mail.log.3.gz").write_bytes(b"\x1f\x8b not gzip at all")
    write(log, messages(writer, now - 60, 3))
    reading = catch_up(state, log, window=7200)
    assert qmgr_lines(reading) == 3
    assert len(reading.skipped) == 2
    assert all(".gz: " in note for note in reading.skipped)


def test_a_position_deep_in_a_gz_is_reached_in_bounded_memory(tmp_path):
    """Issue 21: a saved (or hostile) offset inside a compressed file is
    skipped by streaming, not by one read of that many octets."""
    import tracemalloc

    writer = LogWriter()
    filler = "x" * 200
    now = time.time()
    with gzip.open(tmp_path / "mail.log.1.gz", "wt", compresslevel=1) as out:
        for _ in range(150_000):  # some 30 MB, read back from a position near its end
            out.write(filler + "\n")
        out.write("".join(line + "\n" for line in messages(writer, now - 60, 1)))
    (tmp_path / "mail.log").write_text("")
    first = maillog.fingerprint(str(tmp_path / "mail.log.1.gz"))
    for offset in (150_000 * 201, 10**15):
        positions = {str(tmp_path / "mail.log"): maillog.Position(
            str(tmp_path / "mail.log"), first, offset)}
        tracemalloc.start()
        reading = maillog.read_files([str(tmp_path / "mail.log")], positions, clock(),
                                     now - 3600, Deadline(30))
        lines = list(reading.lines)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 8 * maillog.CHUNK, peak
        queued = sum(1 for line in lines if line.text.startswith("from="))
        assert queued == (1 if offset < 10**15 else 0)


def test_a_line_without_end_is_skipped_in_bounded_memory(tmp_path):
    """A log (or a gzip bomb) of one endless line: counted unreadable, and
    memory stays at a block or two."""
    import tracemalloc

    writer = LogWriter()
    log = tmp_path / "mail.log"
    with open(log, "w") as out:
        out.write("y" * (3 * maillog.MAX_LINE) + "\n")
    write(log, messages(writer, time.time() - 60, 1))
    tracemalloc.start()
    reading = catch_up(logstate.State("x"), log)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert qmgr_lines(reading) == 1
    assert reading.unreadable == 1 and reading.sample.startswith("yyy")
    assert peak < 8 * maillog.CHUNK, peak


def test_the_state_file_round_trip(tmp_path):
    path = tmp_path / "state" / "senders.json"
    state = logstate.State("senders /var/log/mail.log window=86400")
    state.add(100, "alice", 3)
    state.pending = {"0A1B2C3D4E": [1.0, True, "sasl", "alice", "x[1.2.3.4]"]}
    state.positions = {"/var/log/mail.log": maillog.Position("/var/log/mail.log", "ab", 10)}
    assert state.save(str(path)) == ""
    assert oct(os.stat(path.parent).st_mode & 0o777) == "0o700"
    again = logstate.State.load(str(path), state.identity)
    assert (again.minutes, again.pending, again.positions, again.note) == (
        state.minutes, state.pending, state.positions, "")


@pytest.mark.parametrize("content,why", [
    ("{not json", "state file {path} ignored: "),
    ('{"version": 99}', "state file {path} ignored: from another version"),
    ('{"version": 1, "identity": "other"}', "state file {path} ignored: kept for other logs "
                                            "or options"),
    ('{"version": 1, "identity": "x", "positions": 5}', "state file {path} ignored: not a "
                                                       "state file"),
    ('[1, 2]', "state file {path} ignored: from another version"),
])
def test_a_state_file_that_cannot_be_used_is_ignored_with_a_note(tmp_path, content, why):
    path = tmp_path / "state.json"
    path.write_text(content)
    state = logstate.State.load(str(path), "x")
    assert state.note.startswith(why.format(path=path))
    assert not state.minutes and not state.positions


def test_a_state_that_cannot_be_written_says_so(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    problem = logstate.State("x").save(str(blocked / "state.json"))
    assert problem.startswith(f"state not kept in {blocked}/state.json: ")


def test_the_journal(tmp_path, monkeypatch):
    """A journalctl stand-in: the plugin asks it as it would ask the real one."""
    writer = LogWriter(iso=True)
    lines = messages(writer, time.time() - 60, 2)
    entries = []
    for i, line in enumerate(lines):  # journalctl -o json: one object an entry
        program, message = line.split(" ", 2)[2].split(": ", 1)
        entries.append(json.dumps({"__CURSOR": f"s=abc;i={i}", "__REALTIME_TIMESTAMP":
                                   str(int((time.time() - 60) * 1e6)), "MESSAGE": message,
                                   "SYSLOG_IDENTIFIER": program.split("[")[0]}))
    entries.append(json.dumps({"__CURSOR": "s=abc;i=99", "__REALTIME_TIMESTAMP": "1",
                               "MESSAGE": [65, 66], "SYSLOG_IDENTIFIER": "kernel"}))
    journal(tmp_path, monkeypatch, "\n".join(entries))
    state = logstate.State("x")
    reading = logstate.catch_up(state, [], True, time.time(), 3600, Deadline(5.0))
    assert qmgr_lines(reading) == 2 and state.cursor == "s=abc;i=99"
    assert (reading.read, reading.unreadable) == (len(lines) + 1, 0)
    list(logstate.catch_up(state, [], True, time.time(), 3600, Deadline(5.0)).lines)
    calls = (tmp_path / "args").read_text().splitlines()
    assert "--unit=postfix*" in calls[0] and "--since=@" in calls[0]
    assert "--after-cursor=s=abc;i=99" in calls[1]


def journal(tmp_path, monkeypatch, output: str, stderr: str = "", code: int = 0) -> None:
    """A journalctl stand-in on the PATH that notes its arguments."""
    fake = tmp_path / "journalctl"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/args\n"
                    f"cat <<'EOF'\n{output}\nEOF\n"
                    + (f"echo '{stderr}' >&2\n" if stderr else "") + f"exit {code}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")


@pytest.mark.parametrize("stderr, code, error", [
    ("Hint: You are currently not seeing messages from other users and the system.", 0,
     "journalctl: this user may not read the system's journal (add it to the systemd-journal "
     "or adm group)"),
    ("Failed to add filter for units: No data available", 1,
     "journalctl failed: Failed to add filter for units: No data available"),
])
def test_a_journal_we_may_not_read_is_an_error(tmp_path, monkeypatch, stderr, code, error):
    journal(tmp_path, monkeypatch, "", stderr, code)
    reading = logstate.catch_up(logstate.State("x"), [], True, time.time(), 3600, Deadline(5))
    assert list(reading.lines) == [] and reading.error == error


def test_a_reading_stopped_by_the_deadline_goes_on_next_time(tmp_path):
    """A log too long for one run's -t: each run keeps where it stopped, the
    next goes on from there; together they count every message once."""
    log, writer, state = tmp_path / "mail.log", LogWriter(), logstate.State("x")
    write(log, messages(writer, time.time() - 600, 4000))  # several chunks
    stopped = catch_up(state, log, seconds=0)
    assert stopped.lines == [] and stopped.stopped
    runs = counted = 0
    while runs < 200:
        reading = catch_up(state, log, seconds=0.02)
        runs, counted = runs + 1, counted + qmgr_lines(reading)
        if not reading.stopped:
            break
    assert runs > 1 and counted == 4000
    assert qmgr_lines(catch_up(state, log)) == 0


def test_no_journalctl_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OSError, match="journalctl is not installed"):
        logstate.catch_up(logstate.State("x"), [], True, time.time(), 3600, Deadline(5.0))


def test_a_state_file_holds_only_the_window(tmp_path):
    state = logstate.State("x")
    now = time.time()
    state.add(int((now - 7200) // 60), "old")
    state.add(int((now - 60) // 60), "new")
    state.prune(now - 3600)
    assert list(state.totals()) == ["new"]
    path = tmp_path / "s.json"
    state.save(str(path))
    assert "old" not in json.loads(path.read_text())["minutes"].__repr__()


def test_a_state_folder_is_made_private_and_refused_when_it_is_not(tmp_path):
    """Issue 21: the folder is made 0700; one that is shared, another's, or a
    link is refused, for the default folder and --state-file alike."""
    state = logstate.State("x")
    assert state.save(str(tmp_path / "new" / "s.json")) == ""
    assert oct(os.stat(tmp_path / "new").st_mode & 0o777) == "0o700"
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    assert state.save(str(shared / "s.json")) == (
        f"state not kept in {shared}/s.json: {shared} is not this user's own folder "
        f"(owner uid {os.getuid()}, mode 1777)")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "new")
    assert state.save(str(link / "s.json")).startswith(f"state not kept in {link}/s.json: ")
    (shared / "s.json").write_text('{"version": 1}')
    assert logstate.State.load(str(shared / "s.json"), "x").note.startswith(
        f"state file {shared}/s.json ignored: {shared} is not this user's own folder")
    assert logstate.default_path("senders", "x").startswith(f"/var/tmp/check-mail-{os.getuid()}/")


def test_a_state_file_that_is_a_link_is_neither_read_nor_followed(tmp_path):
    """Issue 21: a link planted where the state file goes: the state is
    replaced by a file of its own, and the link's target is never written."""
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    target = tmp_path / "target"
    target.write_text("precious")
    (folder / "s.json").symlink_to(target)
    state = logstate.State.load(str(folder / "s.json"), "x")
    assert state.note.startswith(f"state file {folder}/s.json ignored: ")
    assert state.save(str(folder / "s.json")) == ""
    assert target.read_text() == "precious"
    assert not (folder / "s.json").is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["s.json"]  # no temporary left


@pytest.mark.parametrize("data", [
    "[" * 100_000 + "]" * 100_000,
    '{"version": 1, "identity": "x", "positions": [[1, 2, 3]], "cursor": "", "pending": {}, '
    '"minutes": {}, "extra": {}}',
    '{"version": 1, "identity": "x", "positions": [], "cursor": "", "pending": {"A": [1, 2]}, '
    '"minutes": {}, "extra": {}}',
    '{"version": 1, "identity": "x", "positions": [], "cursor": "", "pending": {}, '
    '"minutes": {"12": {"a": "many"}}, "extra": {}}',
    '{"version": 1, "identity": "x", "positions": [], "cursor": "", "pending": {}, '
    '"minutes": {"NaN": {}}, "extra": {}}',
    '{"version": 1, "identity": "x", "positions": [], "cursor": "", "pending": {}, '
    '"minutes": {}, "extra": {"senders": {"a": {"how": "sasl", "first": NaN, "last": 1, '
    '"clients": []}}}}',
    '{"version": 1, "identity": "x", "positions": [], "cursor": "", "pending": {}, '
    '"minutes": {}, "extra": {"senders": {"a": {"how": "sasl"}}}}',
    '{"version": 1, "identity": "x", "positions": [], "cursor": "", "pending": {}, '
    '"minutes": {}, "extra": {"senders": []}}',
])
def test_a_hostile_state_file_is_ignored_with_a_note(tmp_path, data):
    """Issue 21: deep nesting, wrong types, NaN: ignored, never a crash."""
    from check_mail.checks.senders import Senders

    path = tmp_path / "s.json"
    path.write_text(data)
    state = logstate.State.load(str(path), "x", Senders.state_shape)
    assert state.note.startswith(f"state file {path} ignored: "), state.note
    assert (state.positions, state.pending, state.minutes, state.extra) == ({}, {}, {}, {})


def test_only_a_line_feed_ends_a_line(tmp_path):
    """A receiver's reply may hold a form feed or U+2028: the delivery line
    stays one line, as Postfix wrote it (CR LF ends one too)."""
    log, state = tmp_path / "mail.log", logstate.State("x")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))
    text = (f"{stamp} mail postfix/smtp[1]: 0A1B2C3D4E: to=<a@example.org>, relay=mx[1.2.3.4]"
            f":25, delay=1, dsn=5.7.1, status=bounced (host mx said: 550 no\u2028more\x0cmail)\n"
            f"{stamp} mail postfix/qmgr[2]: 0A1B2C3D4E: removed\r\n")
    log.write_bytes(text.encode())
    reading = catch_up(state, log)
    assert (reading.read, reading.unreadable) == (2, 0)
    assert [line.text.rsplit(": ", 1)[-1] for line in reading.lines] == [
        "550 no\u2028more\x0cmail)", "removed"]
