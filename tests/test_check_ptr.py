"""check_ptr as a user runs it, against the scripted nameserver and SMTP servers."""

from __future__ import annotations

import pytest

from check_mail.checks import ptr as check
from check_mail.simulation.dnsserver import Fault
from check_mail.simulation.smtpserver import Behaviour
from tests.helpers.plugins import run_check, run_plugin

V4 = "25.2.0.192.in-addr.arpa"
V6 = "5.2.0.0" + ".0" * 20 + ".8.b.d.0.1.0.0.2.ip6.arpa"
LO = "1.0.0.127.in-addr.arpa"


def ptr(nameserver, *args: str):
    return run_check(check, "-n", nameserver.address, *args)


@pytest.fixture
def mail_host(nameserver):
    """mail.example.org with an IPv4 and an IPv6 address, both forward-confirmed."""
    nameserver.add("mail.example.org", "A", "192.0.2.25")
    nameserver.add("mail.example.org", "AAAA", "2001:db8::25")
    nameserver.add(V4, "PTR", "mail.example.org.")
    nameserver.add(V6, "PTR", "mail.example.org.")
    return nameserver


def test_all_addresses_forward_confirmed(mail_host):
    run = ptr(mail_host, "-H", "mail.example.org")
    assert run.returncode == 0
    assert run.first == ("PTR OK - 2 addresses, all forward-confirmed (mail.example.org) | "
                         "addresses=2;;;0 passed=2;;;0;2 time=Xs;;;0")


def test_long_output_has_one_line_per_address(mail_host):
    run = ptr(mail_host, "-H", "mail.example.org", "-v")
    assert run.lines[1:3] == [
        "192.0.2.25: PTR mail.example.org; A mail.example.org: 192.0.2.25",
        "2001:db8::25: PTR mail.example.org; AAAA mail.example.org: 2001:db8::25",
    ]


def test_family_options(mail_host):
    assert ptr(mail_host, "-H", "mail.example.org", "-6").first.startswith(
        "PTR OK - 1 address, forward-confirmed (mail.example.org) | addresses=1")
    assert ptr(mail_host, "-H", "192.0.2.25").returncode == 0


def test_no_ptr_is_critical(nameserver):
    run = ptr(nameserver, "-H", "192.0.2.25")
    assert run.returncode == 2
    assert run.first == ("PTR CRITICAL - 192.0.2.25 has no PTR | addresses=1;;;0 "
                         "passed=0;;;0;1 time=Xs;;;0")


def test_a_ptr_that_does_not_resolve_back_is_critical(nameserver):
    nameserver.add(V4, "PTR", "mail.example.org.")
    nameserver.add("mail.example.org", "A", "192.0.2.26")
    run = ptr(nameserver, "-H", "192.0.2.25")
    assert run.returncode == 2
    assert run.first.startswith("PTR CRITICAL - 192.0.2.25: PTR mail.example.org does not "
                                "resolve back (A mail.example.org: 192.0.2.26) |")


@pytest.mark.parametrize("forward", ["nxdomain", "nodata"])
def test_a_ptr_name_without_address_is_critical(nameserver, forward):
    nameserver.add(V4, "PTR", "mail.example.org.")
    if forward == "nodata":
        nameserver.add("mail.example.org", "MX", "10 mail.example.org.")
    run = ptr(nameserver, "-H", "192.0.2.25")
    assert run.returncode == 2
    status = "NXDOMAIN" if forward == "nxdomain" else "no data"
    assert f"does not resolve back (A mail.example.org: {status})" in run.first


def test_several_ptrs_warn(nameserver):
    nameserver.add(V4, "PTR", "mail.example.org.", "smtp.example.org.")
    nameserver.add("mail.example.org", "A", "192.0.2.25")
    run = ptr(nameserver, "-H", "192.0.2.25")
    assert run.returncode == 1
    assert run.first.startswith("PTR WARNING - 192.0.2.25 has 2 PTRs (")


def test_generic_names_warn_unless_allowed(nameserver):
    nameserver.add(V4, "PTR", "192-0-2-25.dyn.isp.example.")
    nameserver.add("192-0-2-25.dyn.isp.example", "A", "192.0.2.25")
    run = ptr(nameserver, "-H", "192.0.2.25")
    assert run.returncode == 1
    assert run.first.startswith("PTR WARNING - 192.0.2.25: PTR 192-0-2-25.dyn.isp.example looks "
                                "generic (holds the address's digits; holds 'dyn') |")
    assert ptr(nameserver, "-H", "192.0.2.25", "--allow-generic").returncode == 0


def test_expect(mail_host):
    assert ptr(mail_host, "-H", "192.0.2.25", "--expect", "MAIL.example.org.").returncode == 0
    run = ptr(mail_host, "-H", "192.0.2.25", "--expect", "mx.example.org")
    assert run.returncode == 2
    assert run.first.startswith("PTR CRITICAL - 192.0.2.25: PTR mail.example.org is not "
                                "mx.example.org |")


def test_dns_failures_are_unknown_and_name_the_query(nameserver):
    nameserver.add(V4, "PTR", "mail.example.org.")
    nameserver.fault("mail.example.org", Fault.SERVFAIL)
    run = ptr(nameserver, "-H", "192.0.2.25")
    assert run.returncode == 3
    assert run.first.startswith("PTR UNKNOWN - 192.0.2.25: lookup failed: A mail.example.org "
                                "SERVFAIL |")
    nameserver.fault(V4, Fault.TIMEOUT)
    run = ptr(nameserver, "-H", "192.0.2.25", "-t", "2", "--query-timeout", "0.5")
    assert run.returncode == 3
    assert run.first.startswith(f"PTR UNKNOWN - 192.0.2.25: lookup failed: PTR {V4} timeout |")


# -- SMTP ------------------------------------------------------------------


@pytest.fixture
def loopback_host(nameserver):
    """mail.example.org at 127.0.0.1, PTR and A matching."""
    nameserver.add(LO, "PTR", "mail.example.org.")
    nameserver.add("mail.example.org", "A", "127.0.0.1")
    return nameserver


def smtp_run(nameserver, server, *args: str):
    return ptr(nameserver, "-H", "127.0.0.1", "--smtp", "-p", str(server.port), *args)


def test_smtp_names_match(loopback_host, smtp_server):
    server = smtp_server(Behaviour(name="mail.example.org"))
    run = smtp_run(loopback_host, server, "-v")
    assert run.returncode == 0
    assert run.lines[:2] == [
        "PTR OK - 1 address, forward-confirmed, SMTP names match (mail.example.org)",
        "127.0.0.1: PTR mail.example.org; A mail.example.org: 127.0.0.1; "
        "SMTP greeting mail.example.org, EHLO mail.example.org",
    ]
    assert server.commands[-1] == "QUIT"


def test_a_wrong_banner_name_warns_or_is_critical(loopback_host, smtp_server):
    server = smtp_server(Behaviour(name="localhost.localdomain", ehlo_name="mail.example.org"))
    run = smtp_run(loopback_host, server)
    assert run.returncode == 1
    assert run.first.startswith("PTR WARNING - 127.0.0.1 port "
                                f"{server.port}: greeting announces localhost.localdomain, "
                                "PTR is mail.example.org |")
    assert smtp_run(loopback_host, server, "--smtp-mismatch", "critical").returncode == 2


@pytest.mark.parametrize(("behaviour", "error"), [
    (Behaviour(greeting_delay=10), "timed out waiting for the greeting"),
    (Behaviour(drip=0.2), "timed out waiting for the greeting"),
    (Behaviour(greeting=b"garbage\r\n"), "garbage in the greeting: 'garbage'"),
    (Behaviour(greeting=b"220-mail.example.org\r\n", close_after_greeting=True),
     "connection closed in the middle of the greeting"),
])
def test_smtp_failures_are_critical_with_the_reason(loopback_host, smtp_server, behaviour,
                                                     error):
    server = smtp_server(behaviour)
    run = smtp_run(loopback_host, server, "-t", "2")
    assert run.returncode == 2
    assert run.first.startswith(f"PTR CRITICAL - 127.0.0.1 port {server.port}: {error} |")


def test_smtp_refused(loopback_host):
    run = ptr(loopback_host, "-H", "127.0.0.1", "--smtp", "-p", "1")
    assert run.returncode == 2
    assert run.first.startswith("PTR CRITICAL - 127.0.0.1 port 1: cannot connect: "
                                "Connection refused |")


def test_every_address_is_probed_at_once(nameserver, smtp_server):
    nameserver.add("mail.example.org", "A", "127.0.0.1", "127.0.0.2")
    nameserver.add(LO, "PTR", "mail.example.org.")
    nameserver.add("2.0.0.127.in-addr.arpa", "PTR", "mail.example.org.")
    first = smtp_server(Behaviour(name="mail.example.org", greeting_delay=0.5))
    second = smtp_server(Behaviour(name="mail.example.org", greeting_delay=0.5),
                         host="127.0.0.2", port=first.port)
    run = ptr(nameserver, "-H", "mail.example.org", "--smtp", "-p", str(first.port), "-t", "1.5")
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("PTR OK - 2 addresses, all forward-confirmed, SMTP names match")
    assert first.sessions == second.sessions == 1


@pytest.mark.parametrize(("args", "message"), [
    ([], "the following arguments are required: -H/--host"),
    (["-H", "300.1.2.3"],
     "argument -H/--host: '300.1.2.3' is neither an IP address nor a hostname"),
    (["-H", "no_such host"],
     "argument -H/--host: 'no_such host' is neither an IP address nor a hostname"),
    (["-H", "192.0.2.1", "-6"], "-H 192.0.2.1 is not an IPv6 address"),
    (["-H", "192.0.2.1", "--smtp", "-p", "70000"],
     "argument -p/--port: '70000' is not a port (1-65535)"),
    (["-H", "192.0.2.1", "--smtp-mismatch", "maybe"],
     "argument --smtp-mismatch: invalid choice: 'maybe' (choose from 'warning', 'critical')"),
    (["-H", "192.0.2.1", "--expect", "bad name"],
     "argument --expect: 'bad name' is not a hostname"),
    (["-H", "192.0.2.1", "--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_input_is_one_unknown_line(nameserver, args, message):
    run = run_plugin("check_ptr", "-n", nameserver.address, *args)
    assert run.returncode == 3
    assert run.lines[0] == f"PTR UNKNOWN - {message}"
    assert run.stderr == ""


def test_help_and_version_exit_3():
    assert run_plugin("check_ptr", "--help").returncode == 3
    assert run_plugin("check_ptr", "-V").stdout.startswith("check_ptr (check-mail) ")


def test_many_ptr_names_are_capped(nameserver):
    names = [f"n{i}.example.org." for i in range(40)]
    nameserver.add(V4, "PTR", *names)
    run = ptr(nameserver, "-H", "192.0.2.25", "-v")
    assert run.returncode == 2  # and none resolves back
    assert "warning: 192.0.2.25 has 40 PTRs; only the first 10 are resolved back" in run.lines
    assert sum(q.rdtype == "A" for q in nameserver.log) == 10
