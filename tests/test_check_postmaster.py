"""check_postmaster as a user runs it, against scripted DNS and SMTP servers."""

from __future__ import annotations

import pytest

from check_mail.checks import postmaster as check
from check_mail.simulation.dnsserver import Fault
from check_mail.simulation.smtpserver import Behaviour
from tests.helpers.plugins import run_check, run_plugin

OK = "250 2.1.5 Ok"
ROLES = {"postmaster": OK, "hostmaster": OK, "abuse": OK}


@pytest.fixture
def domain(nameserver):
    """example.org with one MX, mx.example.org at 127.0.0.1."""
    nameserver.add("example.org", "MX", "10 mx.example.org.")
    nameserver.add("mx.example.org", "A", "127.0.0.1")
    return nameserver


def postmaster(nameserver, server, *args: str):
    port = ["-p", str(server.port)] if server else []
    return run_check(check, "-n", nameserver.address, *port, "--helo",
                      "monitor.example.net", *args)


def test_every_mailbox_accepted(domain, smtp_server):
    server = smtp_server(Behaviour(mailboxes=ROLES))
    run = postmaster(domain, server, "-D", "example.org")
    assert run.returncode == 0
    assert run.first == ("POSTMASTER OK - postmaster, hostmaster, abuse accepted by 1 MX "
                         "(1 address) | accepted=3;;;0;3 addresses=1;;;0 rejected=0;;;0;3 "
                         "time=Xs;;;0")
    assert "DATA" not in server.commands


def test_long_output_has_one_line_per_address_and_mailbox(domain, smtp_server):
    server = smtp_server(Behaviour(mailboxes=ROLES))
    run = postmaster(domain, server, "-D", "example.org", "-v")
    assert run.lines[1].startswith("mx.example.org 127.0.0.1: random address: 550 5.1.1 "
                                   "<check-mail-")
    assert run.lines[2:5] == [
        "mx.example.org 127.0.0.1: postmaster@example.org: 250 2.1.5 Ok",
        "mx.example.org 127.0.0.1: hostmaster@example.org: 250 2.1.5 Ok",
        "mx.example.org 127.0.0.1: abuse@example.org: 250 2.1.5 Ok",
    ]


def test_a_rejected_hostmaster_warns(domain, smtp_server):
    server = smtp_server(Behaviour(mailboxes={"postmaster": OK, "abuse": OK}))
    run = postmaster(domain, server, "-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith(
        "POSTMASTER WARNING - mx.example.org 127.0.0.1 rejects hostmaster@example.org: "
        "550 5.1.1 <hostmaster@example.org>: Recipient address rejected: User unknown |")
    assert "accepted=2;;;0;3" in run.first and "rejected=1;;;0;3" in run.first
    assert postmaster(domain, server, "-D", "example.org",
                      "--critical-mailbox", "hostmaster").returncode == 2


def test_a_rejected_postmaster_is_critical(domain, smtp_server):
    server = smtp_server(Behaviour(mailboxes={"hostmaster": OK, "abuse": OK}))
    run = postmaster(domain, server, "-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(
        "POSTMASTER CRITICAL - mx.example.org 127.0.0.1 rejects postmaster@example.org: 550")


def test_every_address_of_every_mx_is_asked(nameserver, smtp_server):
    nameserver.add("example.org", "MX", "10 mx1.example.org.", "20 mx2.example.org.")
    nameserver.add("mx1.example.org", "A", "127.0.0.1")
    nameserver.add("mx2.example.org", "A", "127.0.0.2")
    first = smtp_server(Behaviour(mailboxes=ROLES))
    second = smtp_server(Behaviour(mailboxes={"postmaster": OK}), host="127.0.0.2",
                         port=first.port)
    run = postmaster(nameserver, first, "-D", "example.org", "-v")
    assert run.returncode == 1
    assert run.lines[0] == ("POSTMASTER WARNING - mx2.example.org 127.0.0.2 rejects "
                            "hostmaster@example.org: 550 5.1.1 <hostmaster@example.org>: "
                            "Recipient address rejected: User unknown (+1 more)")
    assert first.sessions == second.sessions == 1


def test_greylisting_cleared_by_the_retry(domain, smtp_server):
    server = smtp_server(Behaviour(mailboxes=ROLES, greylist={"abuse": 1}))
    run = postmaster(domain, server, "-D", "example.org", "--greylist-wait", "0.2", "-v")
    assert run.returncode == 0
    assert "mx.example.org 127.0.0.1: abuse@example.org: 250 2.1.5 Ok (after a retry)" in run.lines


def test_greylisting_that_stays_is_temporarily_refused(domain, smtp_server):
    server = smtp_server(Behaviour(mailboxes=ROLES, greylist={"abuse": 5}))
    run = postmaster(domain, server, "-D", "example.org", "--greylist-wait", "0.2")
    assert run.returncode == 1
    assert run.first.startswith(
        "POSTMASTER WARNING - mx.example.org 127.0.0.1 temporarily refused abuse@example.org: "
        "451 4.7.1 <abuse@example.org>: Recipient address rejected: Greylisted |")


def test_a_catch_all_is_noted_or_warned(domain, smtp_server):
    server = smtp_server(Behaviour(unknown_rcpt=OK))
    run = postmaster(domain, server, "-D", "example.org")
    assert run.returncode == 0
    assert run.first.startswith(
        "POSTMASTER OK - postmaster, hostmaster, abuse accepted by 1 MX (1 address); catch-all: "
        "a random address is accepted too, so this proves little |")
    warned = postmaster(domain, server, "-D", "example.org", "--catch-all", "warning")
    assert warned.returncode == 1
    assert warned.first.startswith("POSTMASTER WARNING - mx.example.org 127.0.0.1 accepts any "
                                   "address (catch-all) |")


@pytest.mark.parametrize(("behaviour", "error"), [
    (Behaviour(reply_delay=10), "timed out waiting for the reply to EHLO"),
    (Behaviour(close_after="MAIL"), "connection closed before the reply to MAIL"),
    (Behaviour(mail_reply="554 5.7.1 no bounces here"),
     "MAIL FROM refused: 554 5.7.1 no bounces here"),
])
def test_a_broken_mx_is_critical_with_the_reason(domain, smtp_server, behaviour, error):
    server = smtp_server(behaviour)
    run = postmaster(domain, server, "-D", "example.org", "-t", "2")
    assert run.returncode == 2
    assert run.first.startswith(f"POSTMASTER CRITICAL - mx.example.org 127.0.0.1: {error} |")


def test_a_closed_port_is_critical(domain):
    run = run_plugin("check_postmaster", "-n", domain.address, "-p", "1", "-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith("POSTMASTER CRITICAL - mx.example.org 127.0.0.1: cannot connect: "
                                "Connection refused |")


def test_null_mx(nameserver):
    nameserver.add("example.org", "MX", "0 .")
    run = postmaster(nameserver, None, "-D", "example.org")
    assert run.returncode == 2
    assert run.first == ("POSTMASTER CRITICAL - example.org has a null MX (RFC 7505): it accepts "
                         "no mail at all | time=Xs;;;0")


def test_no_mx_uses_the_domain_itself(nameserver, smtp_server):
    nameserver.add("example.org", "A", "127.0.0.1")
    server = smtp_server(Behaviour(mailboxes=ROLES))
    run = postmaster(nameserver, server, "-D", "example.org")
    assert run.returncode == 0
    assert run.first.startswith("POSTMASTER OK - postmaster, hostmaster, abuse accepted by 1 MX")
    nameserver.clear()
    nameserver.add("example.org", "TXT", '"v=spf1 -all"')
    run = postmaster(nameserver, server, "-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith("POSTMASTER CRITICAL - the domain itself has no address |")


def test_dns_failure_is_unknown(nameserver):
    nameserver.fault("example.org", Fault.SERVFAIL)
    run = postmaster(nameserver, None, "-D", "example.org")
    assert run.returncode == 3
    assert run.first.startswith("POSTMASTER UNKNOWN - lookup failed: MX example.org SERVFAIL |")


def test_host_option_and_bare_postmaster_and_sender(nameserver, smtp_server):
    server = smtp_server(Behaviour(mailboxes={"postmaster": OK}))
    run = postmaster(nameserver, server, "-D", "example.org", "-H", "127.0.0.1", "--mailbox",
                     "postmaster", "--bare-postmaster", "--from", "monitor@example.net")
    assert run.returncode == 0
    assert run.first.startswith("POSTMASTER OK - postmaster accepted by 127.0.0.1 (1 address) |")
    assert "RCPT TO:<postmaster>" in server.commands
    assert "MAIL FROM:<monitor@example.net>" in server.commands
    assert [q.rdtype for q in nameserver.log] == []  # -H with an address needs no DNS


@pytest.mark.parametrize(("args", "message"), [
    ([], "the following arguments are required: -D/--domain"),
    (["-D", "not a domain"], "argument -D/--domain: 'not a domain' is not a domain name"),
    (["-D", "localhost"], "argument -D/--domain: 'localhost' is not a domain name"),
    (["-D", "example.org", "--mailbox", "post master"],
     "argument --mailbox: 'post master' is not a valid local part"),
    (["-D", "example.org", "--from", "nobody"], "argument --from: 'nobody' is not a mail address"),
    (["-D", "example.org", "-H", "1.2.3.999"],
     "argument -H/--host: '1.2.3.999' is neither an IP address nor a hostname"),
    (["-D", "example.org", "-p", "0"], "argument -p/--port: '0' is not a port (1-65535)"),
    (["-D", "example.org", "--greylist-wait", "soon"],
     "argument --greylist-wait: 'soon' must be a number greater than 0"),
    (["-D", "example.org", "--catch-all", "ignore"],
     "argument --catch-all: invalid choice: 'ignore' (choose from 'note', 'warning')"),
])
def test_bad_input_is_one_unknown_line(nameserver, args, message):
    run = run_plugin("check_postmaster", "-n", nameserver.address, *args)
    assert run.returncode == 3
    assert run.lines[0] == f"POSTMASTER UNKNOWN - {message}"
    assert run.stderr == ""
