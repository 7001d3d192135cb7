"""The log reader at scale and beside an independent reading: Debian's
pflogsumm gives the same per-sender message counts on the same generated
log, retries and bounces included; a million lines are read with counts
that hold and a state file the size of the window, not of the log."""

from __future__ import annotations

import re
import shutil
import subprocess

from check_mail.checks import senders
from check_mail.simulation.postfixlog import busy_log
from tests.helpers.plugins import need, run_check


def pflogsumm_senders(path) -> dict[str, int]:
    out = subprocess.run(["pflogsumm", "--detail", "1000", "--no_bounce_detail",
                          "--no_deferral_detail", "--no_reject_detail", "--no_smtpd_warnings",
                          str(path)], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    section = out.split("Senders by message count", 1)[1].split("\n\n", 1)[0]
    return {m.group(2): int(m.group(1))
            for m in re.finditer(r"^\s+(\d+)\s+(\S+@\S+)$", section, re.M)}


def test_pflogsumm_counts_the_same_senders(tmp_path):
    need(shutil.which("pflogsumm") is not None, "pflogsumm is not installed (apt-get install "
                                                "pflogsumm)")
    log = tmp_path / "mail.log"
    expected = busy_log(str(log), 3000)
    run = run_check(senders, "--log", str(log), "--no-state", "--top", "100", "-v", "-w",
                    "10000", "-c", "10000")
    ours = {line.split(": ")[0]: int(line.split(": ")[1].split(" ")[0])
            for line in run.lines[1:] if "@example.net: " in line}
    assert ours == expected
    assert pflogsumm_senders(log) == expected


def test_a_million_lines(tmp_path):
    """72,000 messages with connection noise: a million lines. The counts hold,
    the state file holds minutes, and a second run reads nothing again.

    How many runs the first reading takes depends on the machine's speed
    at the moment (a run stopped by -t goes on in the next): the test
    counts the lines of every run, and times nothing (bench/logs.py does)."""
    log = tmp_path / "mail.log"
    expected = busy_log(str(log), 72_000, noise=4)
    with open(log, "rb") as handle:
        lines = sum(1 for _ in handle)
    assert lines > 1_000_000
    state = tmp_path / "state.json"
    read = 0
    for _ in range(100):
        first = run_check(senders, "--log", str(log), "--state-file", str(state), "-w",
                          "10000", "-c", "10000")
        stopped = re.match(r"SENDERS UNKNOWN - (\d+) log lines read before -t 10 ran out; "
                           r"the next run goes on from there", first.first)
        if not stopped:
            break
        read += int(stopped.group(1))
    assert first.returncode == 0, first.stdout
    assert f"lines={lines - read};" in first.first
    assert f"messages={sum(expected.values())};" in first.first
    # 360 minutes x 40 senders x a name and a count: the window, not the log
    assert state.stat().st_size < 360 * 40 * 30 < log.stat().st_size / 100
    again = run_check(senders, "--log", str(log), "--state-file", str(state), "-w", "10000",
                      "-c", "10000")
    assert "lines=0;" in again.first and f"messages={sum(expected.values())};" in again.first
