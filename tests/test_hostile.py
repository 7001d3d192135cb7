"""Property tests: whatever DNS servers, SMTP servers and command lines do, every
plugin keeps the contract.

- exit 0 to 3, and the first line is "NAME STATE" matching the exit code;
- one clean status line: no control character, no second line that reads
  like a status line, one "|" at most (the perfdata separator);
- no traceback, nothing on stderr;
- done within -t plus the scaffolding's margin;
- over SMTP, never DATA, and no command but the probe's own verbs.

Cases come from seeded generators (tests/helpers/hostile.py), so a failure
replays: the seed is in the test id.
"""

from __future__ import annotations

import os
import random
import re
import time

import pytest

from check_mail import plugin
from check_mail.checks import (
    dkim,
    dmarc,
    postmaster,
    ptr,
    rbl,
    refusals,
    relay,
    senders,
    spf,
    tls,
)
from check_mail.simulation.dnsserver import ScriptedNameserver
from tests.helpers import hostile
from tests.helpers.plugins import Run, run_check, run_plugin

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
STATUS = re.compile(r"^\s*[A-Z]+ (OK|WARNING|CRITICAL|UNKNOWN)\b")
TIMEOUT = 2.0
SLACK = 0.5  # scheduling on a busy two-core machine; the margin itself is plugin.MARGIN
PROBE_VERBS = {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"}


def assert_contract(run: Run, name: str, elapsed: float | None = None) -> None:
    assert run.returncode in STATES, run
    assert run.lines, "no output"
    assert run.lines[0].startswith(f"{name} {STATES[run.returncode]}"), run.stdout
    assert run.lines[0].count("|") <= 1, run.lines[0]
    assert not any(STATUS.match(line) for line in run.lines[1:]), run.stdout
    assert all(line.isprintable() for line in run.lines), run.stdout
    assert "Traceback" not in run.stdout
    assert run.stderr == ""
    if elapsed is not None:
        assert elapsed <= TIMEOUT + plugin.MARGIN + SLACK, (elapsed, run.stdout)


def timed(check, *args: str) -> tuple[Run, float]:
    started = time.monotonic()
    run = run_check(check, *args)
    return run, time.monotonic() - started


def hostile_dns(seed: int, loopback: bool = True) -> ScriptedNameserver:
    server = ScriptedNameserver()
    server.responder = hostile.HostileResolver(seed, loopback=loopback)
    return server.start()


MESSAGE = (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=; b=\r\n"
           b"From: a@example.org\r\n\r\nHi.\r\n")

# Every plugin, asking what its hostile nameserver makes of the names.
CASES = {
    "rbl": (rbl, "RBL", ["-H", "mail.example.org", "-s", "a.example", "-s", "b.example",
                         "-D", "example.org", "-v"]),
    "rbl-address": (rbl, "RBL", ["-H", "192.0.2.1", "--selftest", "-vv"]),
    "ptr": (ptr, "PTR", ["-H", "mail.example.org", "--smtp", "-p", "9", "-v"]),
    "ptr-address": (ptr, "PTR", ["-H", "127.0.0.1", "--expect", "mail.example.org", "-v"]),
    "postmaster": (postmaster, "POSTMASTER", ["-D", "example.org", "-p", "9", "-v"]),
    "spf": (spf, "SPF", ["-D", "example.org", "--ip", "192.0.2.1", "--mx-must-pass", "-v"]),
    "dkim": (dkim, "DKIM", ["-D", "example.org", "-s", "sel", "-s", "other.sel", "-v"]),
    "relay": (relay, "RELAY", ["-H", "relay.example.org", "-p", "9", "-v"]),
    "dmarc": (dmarc, "DMARC", ["-D", "example.org", "-D", "mail.example.net", "-v"]),
    "tls": (tls, "TLS", ["-D", "example.org", "-p", "9", "--mta-sts-port", "9", "-v"]),
}


# More seeds search further: CHECK_MAIL_HOSTILE_SEEDS=200 python -m pytest tests/test_hostile.py
SEEDS = int(os.environ.get("CHECK_MAIL_HOSTILE_SEEDS", "8"))


@pytest.mark.parametrize("seed", range(SEEDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_dns_answers(case, seed):
    check, name, args = CASES[case]
    server = hostile_dns(seed * 7919 + len(case))
    try:
        run, elapsed = timed(check, "-n", server.address, "-t", str(TIMEOUT),
                             "--query-timeout", "0.3", *args)
    finally:
        server.stop()
    assert_contract(run, name, elapsed)


@pytest.mark.parametrize("kind", hostile.HostileResolver.KINDS)
def test_every_kind_of_hostile_answer_as_a_user_runs_it(kind):
    """The installed executable: nothing on stderr, whatever the answer."""
    server = ScriptedNameserver()
    server.responder = hostile.HostileResolver(1, loopback=False, kind=kind)
    with server:
        started = time.monotonic()
        run = run_plugin("check_spf", "-n", server.address, "-t", str(TIMEOUT),
                         "--query-timeout", "0.3", "-D", "example.org", "--ip", "192.0.2.1")
        elapsed = time.monotonic() - started
    assert_contract(run, "SPF", elapsed - 0.1)  # less the interpreter's start


@pytest.mark.parametrize("seed", range(12))
def test_hostile_smtp_servers(seed, smtp_server, nameserver):
    rng = random.Random(seed)
    server = smtp_server(hostile.smtp_behaviour(rng))
    nameserver.add("example.org", "MX", "10 mx.example.org.")
    nameserver.add("mx.example.org", "A", "127.0.0.1")
    nameserver.add("1.0.0.127.in-addr.arpa", "PTR", "mx.example.org.")
    for check, name, args in (
            (postmaster, "POSTMASTER", ["-D", "example.org", "--mailbox", "postmaster"]),
            (ptr, "PTR", ["-H", "mx.example.org", "--smtp"]),
            (relay, "RELAY", ["-H", "mx.example.org"]),
            (tls, "TLS", ["-D", "example.org", "--mta-sts-port", "9"])):
        run, elapsed = timed(check, "-n", nameserver.address, "-p", str(server.port),
                             "-t", str(TIMEOUT), "--helo", "monitor.example.net", "-v", *args)
        assert_contract(run, name, elapsed)
    assert {command.split(" ", 1)[0].split(":", 1)[0].upper()
            for command in server.commands} <= PROBE_VERBS, server.commands


@pytest.mark.parametrize("seed", range(12))
def test_hostile_policy_hosts(seed, smtp_server, nameserver, tmp_path):
    """Whatever the MTA-STS policy host sends, check_tls keeps the contract."""
    from check_mail.mtasts import PATH
    from check_mail.simulation.certificates import TestCA
    from check_mail.simulation.httpsserver import ScriptedHttpsServer

    rng = random.Random(seed)
    ca = TestCA()
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    server = smtp_server(hostile.Behaviour(tls=ca.issue("mx.example.org").server_context()))
    nameserver.add("example.org", "MX", "10 mx.example.org.")
    nameserver.add("mx.example.org", "A", "127.0.0.1")
    nameserver.add("mta-sts.example.org", "A", "127.0.0.1")
    nameserver.add("_mta-sts.example.org", "TXT", '"v=STSv1; id=1"')
    with ScriptedHttpsServer(ca.issue("mta-sts.example.org").server_context()) as web:
        web.pages[PATH] = hostile.https_page(rng)
        run, elapsed = timed(tls, "-n", nameserver.address, "-p", str(server.port),
                             "--mta-sts-port", str(web.port), "--ca-file",
                             str(tmp_path / "ca.pem"), "-t", str(TIMEOUT), "-D", "example.org",
                             "--helo", "monitor.example.net", "-v")
    assert_contract(run, "TLS", elapsed)


def test_a_server_that_never_answers_quit_does_not_hold_the_check(smtp_server, nameserver):
    server = smtp_server(hostile.Behaviour(silent_on="QUIT", mailboxes={
        "postmaster": "250 2.1.5 Ok"}))
    nameserver.add("example.org", "MX", "10 mx.example.org.")
    nameserver.add("mx.example.org", "A", "127.0.0.1")
    run, elapsed = timed(postmaster, "-n", nameserver.address, "-p", str(server.port),
                         "-D", "example.org", "--mailbox", "postmaster", "-t", "30")
    assert run.returncode == 0, run.stdout
    assert elapsed < 10  # the QUIT grace, not the 30 s deadline


# -- command lines ---------------------------------------------------------------

BAD_VALUES = ["", " ", "-", "\r\nDATA", "[x]\r\nDATA", "1e10", "1_0", "\u0662\u0665", "inf",
              "nan", "-1", "0", "99999999999999999999", "fe80::1%eth0", "[1.2.3.4",
              "1.2.3.4", "a" * 300, "x|y", "\x1b[31m", "ex ample.org", "@10:5", ":", "~"]
OPTIONS = {
    rbl: ["-H", "-D", "-w", "-c", "-t", "-s", "--max-errors", "--workers", "--query-timeout",
          "-n"],
    ptr: ["-H", "--expect", "--helo", "-p", "-t", "-n"],
    postmaster: ["-D", "-H", "--mailbox", "--from", "--helo", "-p", "--greylist-wait", "-t"],
    spf: ["-D", "--ip", "--helo", "--sender", "-w", "-c", "--void-warning", "--max-ttl", "-t"],
    dkim: ["-D", "-s", "-w", "-c", "-t", "--private-key", "--message"],
    relay: ["-H", "-p", "--helo", "--source", "--foreign-domain", "--local-domain",
            "--auth-user", "--auth-password-file", "--from"],
    dmarc: ["-D", "--max-ttl", "--message", "--ip", "--sender", "--helo"],
    tls: ["-D", "-H", "-w", "-c", "-p", "--helo", "--ca-file", "--starttls", "--mta-sts-port",
          "-t"],
    senders: ["-w", "-c", "--limits", "--exclude", "--count", "--burst", "--top", "--log",
              "--window", "--state-file"],
    refusals: ["-w", "-c", "--critical-category", "--bounce-warning", "--bounce-critical",
               "--signatures", "--queue-warning", "--age-critical", "--postqueue", "--log",
               "--window"],
}
NAMES = {rbl: "RBL", ptr: "PTR", postmaster: "POSTMASTER", spf: "SPF", dkim: "DKIM",
         relay: "RELAY", dmarc: "DMARC", tls: "TLS", senders: "SENDERS", refusals: "REFUSALS"}
BASE = {rbl: ["-H", "192.0.2.1"], ptr: ["-H", "192.0.2.1"], postmaster: ["-D", "example.org"],
        spf: ["-D", "example.org"], dkim: ["-D", "example.org", "-s", "sel"],
        relay: ["-H", "127.0.0.1", "-p", "9"], dmarc: ["-D", "example.org"],
        tls: ["-D", "example.org", "-p", "9"],
        senders: ["--log", "/dev/null", "--no-state"],
        refusals: ["--log", "/dev/null", "--no-state", "--no-queue"]}


def bad_command_lines() -> list[tuple[object, list[str]]]:
    rng = random.Random(5)
    lines = []
    for check, options in OPTIONS.items():
        for option in options:
            for value in rng.sample(BAD_VALUES, 6):
                lines.append((check, [*BASE[check], option, value]))
    return lines


def case_id(value: object) -> str:
    return repr(" ".join(value))[:60] if isinstance(value, list) else NAMES[value]


@pytest.mark.parametrize(("check", "argv"), bad_command_lines(), ids=case_id)
def test_bad_command_lines(check, argv):
    run, _ = timed(check, "-n", "127.0.0.1:9", "-t", "1", *argv)
    assert_contract(run, NAMES[check])
    option, value = argv[-2:]
    refused = ("\r\nDATA", "[x]\r\nDATA", "\u0662\u0665", "fe80::1%eth0", "[1.2.3.4")
    numbers = ("-t", "-p", "-w", "-c", "--workers", "--query-timeout", "--max-ttl",
               "--greylist-wait", "--max-errors", "--void-warning", "--top", "--window",
               "--bounce-warning", "--bounce-critical", "--age-critical")
    if value in refused or (option in numbers and value in ("1e10", "1_0")):
        assert run.returncode == 3, run.stdout  # refused as bad input, never probed


@pytest.mark.parametrize(("check", "argv"), [
    (rbl, ["-H", "192.0.2.1", "-t", "1e10"]),
    (ptr, ["-H", "192.0.2.1", "-t", "1_0"]),
    (postmaster, ["-D", "example.org", "-p", "\u0662\u0665"]),
    (rbl, ["-H", "fe80::1%eth0"]),
    (ptr, ["-H", "fe80::1%eth0"]),
    (postmaster, ["-D", "example.org", "-H", "fe80::1%eth0"]),
    (spf, ["-D", "example.org", "--ip", "fe80::1%eth0"]),
    (rbl, ["-H", "192.0.2.1", "-w", ""]),
    (spf, ["-D", "example.org", "-c", ""]),
    (ptr, ["-H", "192.0.2.1", "--expect", ""]),
    (ptr, ["-H", "192.0.2.1", "--smtp", "--helo", ""]),
    (ptr, ["-H", "192.0.2.1", "--smtp", "--helo", "[1.2.3.4"]),
    (ptr, ["-H", "192.0.2.1", "--smtp", "--helo", "[x]\r\nDATA"]),
    (postmaster, ["-D", "example.org", "--helo", "[x]\r\nRCPT TO:<a@b.example>"]),
    (postmaster, ["-D", "example.org", "--mailbox", "abuse\r\nDATA"]),
    (postmaster, ["-D", "example.org", "--from", "a@b.example>\r\nDATA"]),
    (rbl, ["-n", "fe80::1%eth0", "-H", "192.0.2.1"]),
], ids=case_id)
def test_values_named_as_dangerous_are_refused(check, argv):
    run, _ = timed(check, *argv)
    assert_contract(run, NAMES[check])
    assert run.returncode == 3
    assert run.lines[0].startswith(f"{NAMES[check]} UNKNOWN - argument "), run.stdout


def test_the_backstop_ends_a_run_that_swallows_the_first_alarm():
    """Code that catches everything (here, on purpose) cannot hold the process:
    the second stage writes the UNKNOWN line and exits."""
    import subprocess
    import sys

    script = (
        "import time\n"
        "from check_mail import plugin\n"
        "def build(args, deadline):\n"
        "    while True:\n"
        "        try:\n"
        "            time.sleep(10)\n"
        "        except BaseException:\n"
        "            pass\n"
        "plugin.main(plugin.Parser('DEMO', 'check_demo', 'a demo'), build, ['-t', '1'])\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=20)
    elapsed = time.monotonic() - started
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        3, "DEMO UNKNOWN - plugin timed out after 1 s\n", "")
    assert elapsed < 1 + plugin.MARGIN + SLACK + 0.5  # the interpreter's start, too


# -- generated records and messages, at the library --------------------------------

SPF_DOMAINS = [f"d{i}.example" for i in range(6)]
SPF_TERMS = ["ip4:192.0.2.0/24", "ip6:2001:db8::/32", "a", "a:{d}", "mx", "mx:{d}/24", "ptr",
             "exists:%{i}.{d}", "include:{d}", "include:{d}", "redirect={d}", "exp={d}", "-all",
             "~all", "?all", "+all", "%{", "ip4:999.1.1.1", "a//129", "include:", "x=y",
             "v=spf1", "%{ir}.%{l1r-}.{d}", "a:%{p}.{d}", "mx:{d}//0", "-exists:{d}"]


def spf_world(rng: random.Random) -> ScriptedNameserver:
    server = ScriptedNameserver().start()
    for domain in SPF_DOMAINS:
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            terms = [rng.choice(SPF_TERMS).replace("{d}", rng.choice(SPF_DOMAINS))
                     for _ in range(rng.randrange(0, 12))]
            server.add(domain, "TXT", '"' + " ".join(["v=spf1", *terms]) + '"')
        if rng.random() < 0.5:
            server.add(domain, "A", hostile.address(rng, "A", loopback=False))
        if rng.random() < 0.5:
            server.add(domain, "MX", *(f"{n} {rng.choice(SPF_DOMAINS)}."
                                       for n in range(rng.randrange(1, 14))))
    return server


@pytest.mark.parametrize("seed", range(SEEDS * 5))
def test_generated_spf_worlds(seed):
    """Loops, diamonds, broken terms and missing records: every evaluation ends
    with a result of RFC 7208, within a bounded number of queries."""
    from check_mail import spf as spf_library
    from check_mail.deadline import Deadline
    from check_mail.dns import Resolver

    rng = random.Random(seed)
    server = spf_world(rng)
    try:
        for ip in ("192.0.2.7", "198.51.100.1", "2001:db8::1"):
            resolver = Resolver([server.nameserver], deadline=Deadline(5), query_timeout=0.3)
            outcome = spf_library.check_host(resolver, ip, rng.choice(SPF_DOMAINS))
            assert outcome.result in spf_library.Result
            assert len(outcome.queries) <= 150, outcome.queries
        resolver = Resolver([server.nameserver], deadline=Deadline(5), query_timeout=0.3)
        audit = spf_library.audit(resolver, rng.choice(SPF_DOMAINS))
        assert audit.walk is None or audit.walk.result in spf_library.Result
    finally:
        server.stop()


def mutations(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randrange(1, 6)):
        at = rng.randrange(len(data) + 1)
        change = rng.choice(("insert", "delete", "fold", "tag", "duplicate"))
        if change == "insert":
            data = data[:at] + rng.choice((b"\r\n", b"\n", b"\x00", b";", b"=", b" \t",
                                           b"\xff\xfe", b"=2E", b"@", b":")) + data[at:]
        elif change == "delete":
            data = data[:at] + data[at + rng.randrange(1, 30):]
        elif change == "fold":
            data = data.replace(b"; ", b";\r\n\t", rng.randrange(1, 4))
        elif change == "tag":
            tag = rng.choice((b"l", b"t", b"x", b"i", b"d", b"s", b"h", b"c", b"a", b"q", b"bh"))
            value = rng.choice((b"9" * 5000, b"-1", b"", b"a(b", b"joe@x=2", b"relaxed/odd",
                                b"\xd9\xa2", b"from:from:from" * 50))
            data = data.replace(b"DKIM-Signature: ", b"DKIM-Signature: " + tag + b"=" + value +
                                b"; ", 1)
        else:
            head, _, body = data.partition(b"\r\n\r\n")
            data = head + b"\r\n" + head.split(b"\r\n")[0] + b"\r\n\r\n" + body
    return data


@pytest.mark.parametrize("seed", range(SEEDS * 10))
def test_mutated_signed_messages(seed, nameserver):
    """Whatever a message holds, verification ends with a verdict per signature,
    or the message is refused as malformed; never another exception."""
    from check_mail import dkim as dkim_library
    from check_mail.deadline import Deadline
    from check_mail.dns import Resolver
    from tests.helpers import dkimkeys

    nameserver.add("s2025._domainkey.example.org", "TXT",
                   dkimkeys.txt(dkimkeys.record(dkimkeys.rsa_key(2048))))
    signed = dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, "s2025", "example.org",
                                  dkimkeys.rsa_key(2048), "rsa-sha256", "relaxed/relaxed")
    message = mutations(random.Random(seed), signed)
    resolver = Resolver([nameserver.nameserver], deadline=Deadline(5), query_timeout=0.3)
    try:
        verification = dkim_library.verify(resolver, message)
    except dkim_library.DkimError:
        return  # a header line that is no header: refused as bad input
    assert all(check.verdict in dkim_library.Verdict for check in verification.checks)


# -- round two: the log reader, state files, child processes, secrets -------------


def log_run(check, name: str, log: str, *args: str) -> Run:
    run = run_check(check, "--log", log, "-t", str(TIMEOUT), *args)
    assert_contract(run, name)
    assert "internal error" not in run.stdout, run.stdout
    return run


@pytest.mark.parametrize("seed", range(SEEDS))
@pytest.mark.parametrize("kind", hostile.LOG_KINDS)
def test_hostile_logs(kind, seed, tmp_path):
    """Whatever --log is, a judgement or a plain UNKNOWN: never a crash, never
    an OK for a log that could not be read."""
    rng = random.Random(seed)
    log = hostile.log_file(rng, tmp_path, kind)
    for check, name in ((senders, "SENDERS"), (refusals, "REFUSALS")):
        extra = ["--no-queue"] if check is refusals else []
        run = log_run(check, name, log, "--state-file", str(tmp_path / f"{name}.json"), *extra)
        if kind in ("directory", "fifo", "device"):
            assert run.returncode == 3, run.stdout
            assert "cannot read the log" in run.lines[0]


@pytest.mark.parametrize("seed", range(SEEDS * 3))
def test_hostile_state_files(seed, tmp_path):
    rng = random.Random(seed)
    log = hostile.log_file(rng, tmp_path, "postfix-and-noise")
    for check, name in ((senders, "SENDERS"), (refusals, "REFUSALS")):
        state = tmp_path / f"{name}.json"
        state.write_text(hostile.state_json(rng))
        extra = ["--no-queue"] if check is refusals else []
        run = log_run(check, name, log, "--state-file", str(state), "-v", *extra)
        assert run.returncode != 3, run.stdout
        assert any("ignored" in line for line in run.lines), run.stdout


@pytest.mark.parametrize("seed", range(SEEDS * 2))
def test_hostile_postqueue(seed, tmp_path):
    """A postqueue that hangs, floods, fails or lies is never an empty queue."""
    rng = random.Random(seed)
    log = hostile.log_file(rng, tmp_path, "postfix-and-noise")
    body, listing = hostile.postqueue_script(rng)
    script = tmp_path / "postqueue"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    started = time.monotonic()
    run = log_run(refusals, "REFUSALS", log, "--no-state", "--postqueue", str(script))
    assert time.monotonic() - started <= TIMEOUT + plugin.MARGIN + SLACK, run.stdout
    if not listing:
        assert run.returncode in (2, 3), run.stdout
        assert "queue: " not in run.lines[0], run.stdout


@pytest.mark.parametrize("seed", range(SEEDS * 2))
def test_secrets_echoed_by_dns_never_shown(seed, nameserver, tmp_path):
    """A keyed list echoes its key in every form a careless server might."""
    import base64

    rng = random.Random(seed)
    key = "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(rng.randrange(
        6, 40)))
    listed = f"1.2.0.192.{key}.zen.dq.spamhaus.net"
    raw = base64.b64encode(rng.choice(("", "x", "xy", "key=")).encode() + key.encode()).decode()
    echo = rng.choice((key, raw, f"key {key} ok", f"{raw}|{key}", key.upper() + key))
    nameserver.add(listed, "A", "127.0.0.2")
    nameserver.add(listed, "TXT", f'"{echo}"')
    keys = tmp_path / "keys"
    keys.write_text(f"spamhaus-dqs={key}\n")
    run = run_check(rbl, "-n", nameserver.address, "-H", "192.0.2.1", "--key-file", str(keys),
                    "-vvv")
    assert_contract(run, "RBL")
    assert key not in run.stdout
    assert raw[8:-4] not in run.stdout or len(raw[8:-4]) < 4
