"""check_senders as a user runs it, against Postfix logs written to order."""

from __future__ import annotations

import time

import pytest

from check_mail.checks import senders as check
from check_mail.simulation.postfixlog import LogWriter, Message, Recipient
from tests.helpers.plugins import run_check, run_plugin


class Log:
    """A mail.log in a temporary folder, and the plugin run on it with its own state."""

    def __init__(self, tmp_path) -> None:
        self.path = tmp_path / "mail.log"
        self.state = tmp_path / "senders.json"
        self.writer = LogWriter()
        self.path.write_text("")

    def add(self, count: int, sender: str, *, at: float, every: float = 1.0, how: str = "sasl",
            recipients: int = 1) -> None:
        lines = []
        for i in range(count):
            rcpts = [Recipient(f"r{j}@example.org") for j in range(recipients)]
            envelope = sender if "@" in sender else f"{sender}@mail.example.net"
            message = Message(at + i * every, envelope, rcpts,
                              sasl=sender if how == "sasl" else "",
                              local=sender if how == "local" else "", uid=33)
            lines += self.writer.message(message)
        with open(self.path, "a") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def run(self, *args: str):
        return run_check(check, "--log", str(self.path), "--state-file", str(self.state), *args)


@pytest.fixture
def log(tmp_path):
    return Log(tmp_path)


NOW = time.time()


def test_quiet_senders_are_ok(log):
    log.add(40, "alice@example.net", at=NOW - 7200, every=60)
    log.add(3, "news@example.net", at=NOW - 3600, how="envelope")
    run = log.run()
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("SENDERS OK - 2 senders, 43 messages in 24h; the most: "
                                "alice@example.net with 40 (warning past 300) | distinct=2;;;0 "
                                "lines=")


def test_a_sender_over_its_limits(log):
    log.add(1240, "alice@example.net", at=NOW - 80000, every=60)
    log.add(350, "bob@example.net", at=NOW - 3600)
    log.add(320, "carol@example.net", at=NOW - 3000)
    run = log.run("-v")
    assert run.returncode == 2
    assert run.lines[0] == ("SENDERS CRITICAL - alice@example.net sent 1240 mails in 24h "
                            "(limit 1000); 3 senders over 300")
    assert run.lines[1].startswith("alice@example.net: 1240 (SASL user; from "
                                   "unknown[192.0.2.77]; first ")
    assert "warning: bob@example.net sent 350 mails in 24h (limit 300)" in run.lines


def test_outside_the_window_does_not_count(log):
    log.add(500, "alice@example.net", at=NOW - 90000)
    assert log.run().returncode == 0


def test_a_local_script_is_named_by_its_user(log):
    log.add(400, "www-data", at=NOW - 600, how="local")
    run = log.run("-v")
    assert run.lines[0] == "SENDERS WARNING - www-data sent 400 mails in 24h (limit 300)"
    assert run.lines[1].startswith("www-data: 400 (local user; from uid 33; first ")


def test_a_burst(log):
    """Counted by the clock minute: 150 mails within the first half of one."""
    log.add(150, "mallory@example.net", at=(NOW - 600) // 60 * 60 + 1, every=0.2)
    run = log.run("--burst", "100/1")
    assert run.returncode == 2
    assert run.first.startswith("SENDERS CRITICAL - mallory@example.net sent 150 mails within "
                                "1 minute (burst limit 100/1) |")
    assert log.run("--burst", "200/1").returncode == 0


def test_limits_and_exclusions(log, tmp_path):
    log.add(2500, "newsletter@example.net", at=NOW - 40000, every=10)
    log.add(310, "noreply@example.net", at=NOW - 3600)
    limits = tmp_path / "limits"
    limits.write_text("# our lists\nnewsletter@example.net 5000 20000\n")
    run = log.run("--limits", str(limits), "--exclude", "noreply@*")
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("SENDERS OK - 1 sender, 2500 messages in 24h; the most: "
                                "newsletter@example.net with 2500 (warning past 5000) |")
    log.add(2600, "newsletter@example.net", at=NOW - 30000, every=10)
    log.add(1100, "bob@example.net", at=NOW - 3600)
    run = log.run("--limits", str(limits), "--exclude", "noreply@*")
    assert run.first.startswith("SENDERS CRITICAL - bob@example.net sent 1100 mails in 24h "
                                "(limit 1000); 2 senders over their warning |")


def test_counting_recipients(log):
    log.add(100, "alice@example.net", at=NOW - 600, recipients=4)
    run = log.run("--count", "recipients")
    assert run.returncode == 1
    assert run.first.startswith("SENDERS WARNING - alice@example.net sent 400 recipients in "
                                "24h (limit 300) |")


def test_runs_read_only_new_lines_and_add_them_up(log):
    log.add(200, "alice@example.net", at=NOW - 3600)
    first = log.run()
    assert first.returncode == 0 and "lines=1000;" in first.first  # five lines a message
    log.add(150, "alice@example.net", at=NOW - 60, every=0.1)
    second = log.run()
    assert second.returncode == 1
    assert "lines=750;" in second.first  # the new lines only
    assert second.first.startswith("SENDERS WARNING - alice@example.net sent 350 mails in 24h")


def test_the_window_is_part_of_the_state(log):
    log.add(10, "alice@example.net", at=NOW - 600)
    log.run()
    run = log.run("--window", "1h", "-v")
    assert run.first.startswith("SENDERS OK - 1 sender, 10 messages in 1h")
    assert any(line.startswith("state file ") and line.endswith("kept for other logs or "
                                                                "options") for line in run.lines)


@pytest.mark.parametrize("args,message", [
    (["--log", "/nonexistent/mail.log", "--no-state"],
     "SENDERS UNKNOWN - cannot read the log: /nonexistent/mail.log: No such file or directory"),
    (["--burst", "100"], "SENDERS UNKNOWN - argument --burst: '100' is not N/MINUTES, such as "
                         "100/1"),
    (["--window", "forever"], "SENDERS UNKNOWN - argument --window: 'forever' is not a duration "
                              "such as 90s, 15m, 1h or 7d"),
    (["--count", "bytes"], "SENDERS UNKNOWN - argument --count: invalid choice: 'bytes'"),
])
def test_bad_input_is_one_unknown_line(args, message):
    run = run_check(check, *args)
    assert run.returncode == 3
    assert run.lines[0].startswith(message)


def test_a_bad_limits_line_is_named(log, tmp_path):
    limits = tmp_path / "limits"
    limits.write_text("a@example.net 10\n")
    run = log.run("--limits", str(limits))
    assert run.first == (f"SENDERS UNKNOWN - --limits {limits}, line 1: expected PATTERN "
                         "WARNING CRITICAL")


def test_the_installed_plugin(log):
    log.add(5, "alice@example.net", at=NOW - 60)
    run = run_plugin("check_senders", "--log", str(log.path), "--no-state")
    assert (run.returncode, run.stderr) == (0, "")
    assert run.first.startswith("SENDERS OK - 1 sender, 5 messages in 24h")


def test_a_log_too_long_for_one_run_is_read_over_several(log, monkeypatch):
    """When -t runs out in the middle of the log, the run is UNKNOWN and says
    so, and the next goes on where it stopped: no line is read twice."""
    from check_mail import maillog, plugin

    class Short(plugin.Deadline):  # runs out after a few chunks of the log
        checks = 0

        @property
        def expired(self) -> bool:
            Short.checks += 1
            return Short.checks % 4 == 0

    monkeypatch.setattr(maillog, "CHUNK", 4096)
    monkeypatch.setattr(plugin, "Deadline", Short)
    log.add(400, "alice@example.net", at=NOW - 3600)
    runs = [log.run("-t", "30") for _ in range(200)]
    done = next(i for i, run in enumerate(runs) if run.returncode != 3)
    assert done > 1
    assert runs[0].first.startswith("SENDERS UNKNOWN - ")
    assert runs[0].first.endswith(" log lines read before -t 30 ran out; the next run goes on "
                                  "from there")
    assert runs[done].first.startswith("SENDERS WARNING - alice@example.net sent 400 mails in "
                                       "24h (limit 300) |")
    stateless = run_check(check, "--log", str(log.path), "--no-state")
    assert stateless.first.endswith(" log lines read before -t 10 ran out; keep a state file "
                                    "or give a longer -t")


def test_a_log_the_monitoring_user_may_not_read_is_unknown(tmp_path):
    """Issue 21: the Debian case, a log of group adm (0640) and a monitoring
    user outside adm. Run as a user would: the installed plugin, without the
    power to read what it may not (root drops CAP_DAC_OVERRIDE through setpriv,
    and the log is someone else's)."""
    import grp
    import os
    import shutil
    import subprocess

    from tests.helpers.plugins import executable, need

    setpriv = shutil.which("setpriv")
    need(os.getuid() == 0 and setpriv is not None,
         "making a log another user's, and dropping root's power to read it, takes root "
         "and setpriv")
    log = tmp_path / "mail.log"
    log.write_text("")
    log.chmod(0o640)
    os.chown(log, 65534, grp.getgrnam("adm").gr_gid)
    prefix = [str(setpriv), "--bounding-set", "-dac_override,-dac_read_search", "--"]
    for plugin, name in (("check_senders", "SENDERS"), ("check_refusals", "REFUSALS")):
        proc = subprocess.run([*prefix, executable(plugin), "--log", str(log), "--no-state",
                               *(["--no-queue"] if name == "REFUSALS" else [])],
                              capture_output=True, text=True, timeout=30)
        assert (proc.returncode, proc.stderr) == (3, ""), proc.stdout
        assert proc.stdout == (f"{name} UNKNOWN - cannot read the log: {log}: permission "
                               f"denied: add the monitoring user to group adm\n")
