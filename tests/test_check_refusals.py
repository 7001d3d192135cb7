"""check_refusals as a user runs it, against Postfix logs written to order and
a postqueue stand-in."""

from __future__ import annotations

import time

import pytest

from check_mail.checks import refusals as check
from check_mail.simulation.postfixlog import LogWriter, Message, Recipient, postqueue_script
from tests.helpers.plugins import run_check, run_plugin

NOW = time.time()


class Log:
    def __init__(self, tmp_path) -> None:
        self.tmp = tmp_path
        self.path = tmp_path / "mail.log"
        self.writer = LogWriter()
        self.path.write_text("")

    def deliver(self, count: int, to: str = "x@example.org", status: str = "sent",
                reply: str = "", at: float = NOW - 600) -> None:
        lines = []
        for i in range(count):
            lines += self.writer.message(Message(at + i, "alice@example.net",
                                                 [Recipient(to, status, reply)], sasl="alice"))
        with open(self.path, "a") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def postqueue(self, messages: list[dict] | None = None, fails: bool = False) -> str:
        script = self.tmp / "postqueue"
        script.write_text(postqueue_script(messages or [], "postqueue: fatal: no queue"
                                           if fails else ""))
        script.chmod(0o755)
        return str(script)

    def run(self, *args: str, queue: str | None = None):
        where = ["--postqueue", queue] if queue else ["--no-queue"]
        return run_check(check, "--log", str(self.path), "--no-state", *where, *args)


@pytest.fixture
def log(tmp_path):
    return Log(tmp_path)


def test_no_refusals_is_ok(log):
    log.deliver(30)
    run = log.run(queue=log.postqueue())
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("REFUSALS OK - 0 refusals in 1h (30 deliveries); queue: 0 "
                                "deferred |")


def test_a_block_is_critical_from_the_first(log):
    log.deliver(20)
    log.deliver(12, "a@hotmail.com", "deferred", "outlook-banned")
    log.deliver(3, "b@gmail.com", "deferred", "gmail-rate")
    run = log.run("-v")
    assert run.returncode == 2
    assert run.lines[0] == ("REFUSALS CRITICAL - outlook.com blocks 192.0.2.25: 550 5.7.606 "
                            "Access denied, banned sending IP [192.0.2.25] (12 in 1h); gmail.com "
                            "rate-limits (3)")
    assert run.lines[1].startswith("outlook.com blocked: 12, e.g. 5.7.606 deferred: 550 5.7.606 "
                                   "Access denied")
    assert run.lines[1].endswith("; names 192.0.2.25; Microsoft blocks the sending IP on its "
                                 "own list; ask for delisting at sender.office.com; see "
                                 "https://sender.office.com/")
    assert "blocked=12;;;0" in run.lines[-1] and "rate_limited=3;;;0" in run.lines[-1]


def test_rate_limiting_warns_then_turns_critical(log):
    log.deliver(3, "b@gmail.com", "deferred", "gmail-rate")
    assert log.run().returncode == 1
    assert log.run("-c", "2").returncode == 2
    assert log.run("--critical-category", "rate-limited").returncode == 2


def test_authentication_failures_are_critical(log):
    log.deliver(1, "b@gmail.com", "bounced", "gmail-auth")
    run = log.run()
    assert run.returncode == 2
    assert run.first.startswith("REFUSALS CRITICAL - gmail.com refuses unauthenticated mail: "
                                "550-5.7.26 This mail has been blocked because the sender is "
                                "unauthenticated (1 in 1h) |")


def test_bounces_count_as_a_share_of_the_deliveries(log):
    log.deliver(90)
    log.deliver(7, "gone@example.org", "bounced", "unknown-user")
    run = log.run()
    assert run.returncode == 1
    assert run.first.startswith("REFUSALS WARNING - 7.2% of 97 deliveries bounced for unknown "
                                "or full mailboxes (over 5%): a list to clean |")
    log.deliver(10, "full@example.org", "bounced", "mailbox-full")
    assert log.run().returncode == 2


def test_too_few_deliveries_make_no_bounce_ratio(log):
    log.deliver(3, "gone@example.org", "bounced", "unknown-user")
    assert log.run().returncode == 0


def test_old_refusals_are_outside_the_window(log):
    log.deliver(5, "a@hotmail.com", "deferred", "outlook-banned", at=NOW - 7200)
    assert log.run().returncode == 0
    assert log.run("--window", "3h").returncode == 2


def test_the_queue(log):
    deferred = [{"queue_name": "deferred", "queue_id": f"A{i}", "arrival_time": NOW - 5 * 3600,
                 "recipients": [{"address": f"u{i}@gmail.com", "delay_reason": "4.7.28"}]}
                for i in range(150)]
    active = [{"queue_name": "active", "queue_id": "B", "arrival_time": NOW,
               "recipients": [{"address": "x@example.org"}]}]
    queue = log.postqueue(deferred + active)
    run = log.run("-v", queue=queue)
    assert run.returncode == 1
    assert run.lines[0] == ("REFUSALS WARNING - 150 messages deferred in the queue (gmail.com "
                            "150; outside --queue-warning 100) (+1 more)")
    assert "queue: 151 messages, 150 deferred (gmail.com 150)" in run.lines
    assert "warning: the oldest deferred message waits for 5h (over 4h)" in run.lines
    assert log.run("--age-critical", "2h", queue=queue).returncode == 2


def test_no_postqueue_skips_the_queue_and_says_so(log):
    log.deliver(3)
    run = log.run("-v", queue="/nonexistent/postqueue")
    assert run.returncode == 0
    assert run.first.startswith("REFUSALS OK - 0 refusals in 1h (3 deliveries); queue not "
                                "checked (/nonexistent/postqueue not found)")
    assert "queue not checked: /nonexistent/postqueue not found" in run.lines


def test_a_failing_postqueue_is_unknown_never_an_empty_queue(log):
    log.deliver(3)
    run = log.run(queue=log.postqueue(fails=True))
    assert run.returncode == 3, run.stdout
    assert run.first.startswith("REFUSALS UNKNOWN - the queue could not be read: postqueue "
                                "failed: postqueue: fatal: no queue |")


def test_postfix_down_is_critical(log, tmp_path):
    log.deliver(3)
    script = tmp_path / "down"
    script.write_text("#!/bin/sh\necho 'postqueue: fatal: Queue report unavailable - mail "
                      "system is down' >&2\nexit 69\n")
    script.chmod(0o755)
    run = log.run(queue=str(script))
    assert run.returncode == 2, run.stdout
    assert run.first.startswith("REFUSALS CRITICAL - Postfix is not running (down failed: "
                                "postqueue: fatal: Queue report unavailable - mail system is "
                                "down) |")


@pytest.mark.parametrize(("body", "why"), [
    ("exec sleep 60", "stopped: it had not finished after "),
    ("exec yes '{}'", "stopped: it printed more than 64 MiB"),
    ("echo 'not json'", "printed something other than its listing (line 1)"),
    ("echo '{\"queue_name\": \"deferred\", \"recipients\": [{\"address\": 5}]}'",
     "printed something other than its listing (line 1)"),
    ("echo '{\"queue_name\": \"deferred\", \"arrival_time\": \"NaN\"}'",
     "printed something other than its listing (line 1)"),
    ("python3 -c 'print(\"[\" * 100000)'", "printed something other than its listing"),
    ("kill -9 $$", "postqueue failed: exit status -9"),
])
def test_a_postqueue_that_hangs_floods_or_lies_is_unknown(log, tmp_path, body, why):
    script = tmp_path / "postqueue"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    run = log.run("-t", "3", queue=str(script))
    assert run.returncode == 3, run.stdout
    assert run.first.startswith("REFUSALS UNKNOWN - the queue could not be read: ")
    assert why in run.first


def test_bad_input_is_one_unknown_line(log, tmp_path):
    run = run_check(check, "--log", str(tmp_path / "none.log"), "--no-state", "--no-queue")
    assert run.first == (f"REFUSALS UNKNOWN - cannot read the log: {tmp_path}/none.log: No such "
                         "file or directory")
    bad = tmp_path / "sig.ini"
    bad.write_text("[rule x]\ncategory = nope\nmatch = a\n")
    run = log.run("--signatures", str(bad))
    assert run.returncode == 3
    assert run.first.startswith(f"REFUSALS UNKNOWN - signature file {bad}, [rule x]: ")
    assert run_check(check, "--bounce-warning", "120").returncode == 3


def test_the_installed_plugin(log):
    log.deliver(2, "b@gmail.com", "deferred", "gmail-rate")
    run = run_plugin("check_refusals", "--log", str(log.path), "--no-state", "--no-queue")
    assert (run.returncode, run.stderr) == (1, "")
    assert run.first.startswith("REFUSALS WARNING - gmail.com rate-limits: 421-4.7.28 Gmail has "
                                "detected an unusual rate of unsolicited mail originating from "
                                "your IP address (2 in 1h) |")
