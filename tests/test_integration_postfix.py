"""check_ptr and check_postmaster against a real Postfix on loopback, with the
domain's records served by a real NSD."""

from __future__ import annotations

import pytest

from tests.helpers.nsd import NSD, free_port
from tests.helpers.plugins import need, run_plugin
from tests.helpers.postfix import Postfix, available

SOA = ("@ 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n"
       "@ 3600 IN NS ns.example.test.\n")
ZONES = {
    "example.test": SOA + "@ 300 IN MX 10 mail.example.test.\n"
                          "mail 300 IN A 127.0.0.1\nns 300 IN A 127.0.0.1\n",
    "catchall.test": SOA + "@ 300 IN MX 10 mail.example.test.\n",
    "0.0.127.in-addr.arpa": SOA + "1 300 IN PTR mail.example.test.\n",
}
# What the README's example main.cf sets: the name the server announces.
BANNER = "smtpd_banner = $myhostname ESMTP\n"
# Mailboxes: example.test has postmaster and abuse but no hostmaster, and one
# greylisted address; catchall.test accepts anything.
MAILBOXES = BANNER + """\
virtual_alias_domains = example.test catchall.test
virtual_alias_maps = texthash:{dir}/virtual
smtpd_recipient_restrictions = check_recipient_access texthash:{dir}/access,
    permit_mynetworks, reject_unauth_destination
"""
FILES = {
    "virtual": "postmaster@example.test root@localhost\n"
               "abuse@example.test root@localhost\n"
               "greylisted@example.test root@localhost\n"
               "@catchall.test root@localhost\n",
    "access": "greylisted@example.test 451 4.7.1 Greylisted, try again later\n",
}


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    # Postfix first: without it, these tests have nothing to probe.
    need(not available(), available())
    need(NSD.binary is not None, "NSD is not installed (apt-get install nsd)")
    with NSD(tmp_path_factory.mktemp("nsd"), ZONES) as server:
        yield server


@pytest.fixture(scope="module")
def postfix():
    need(not available(), available())
    with Postfix(free_port(), "mail.example.test", extra_main=MAILBOXES, files=FILES) as mta:
        yield mta


def test_ptr_and_postfix_greeting_agree(nsd, postfix):
    run = run_plugin("check_ptr", "-n", f"127.0.0.1:{nsd.port}", "-H", "mail.example.test",
                     "--smtp", "-p", str(postfix.port), "--expect", "mail.example.test", "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[:2] == [
        "PTR OK - 1 address, forward-confirmed, SMTP names match (mail.example.test)",
        "127.0.0.1: PTR mail.example.test; A mail.example.test: 127.0.0.1; "
        "SMTP greeting mail.example.test, EHLO mail.example.test",
    ]
    assert "DATA" not in postfix.log()


def test_postfix_named_otherwise_is_a_mismatch(nsd):
    need(not available(), available())
    with Postfix(free_port(), "other.example.test", extra_main=BANNER) as mta:
        run = run_plugin("check_ptr", "-n", f"127.0.0.1:{nsd.port}", "-H", "127.0.0.1",
                         "--smtp", "-p", str(mta.port))
    assert run.returncode == 1
    assert run.first.startswith(
        f"PTR WARNING - 127.0.0.1 port {mta.port}: greeting announces other.example.test, "
        "PTR is mail.example.test (+1 more) |")


def check_postmaster(nsd, postfix, *args):
    return run_plugin("check_postmaster", "-n", f"127.0.0.1:{nsd.port}", "-p",
                      str(postfix.port), "--helo", "monitor.example.net", *args)


def test_postfix_without_hostmaster(nsd, postfix):
    run = check_postmaster(nsd, postfix, "-D", "example.test", "-v")
    assert run.returncode == 1, run.stdout
    assert run.lines[0] == (
        "POSTMASTER WARNING - mail.example.test 127.0.0.1 rejects hostmaster@example.test: "
        "550 5.1.1 <hostmaster@example.test>: Recipient address rejected: User unknown in "
        "virtual alias table")
    assert run.lines[2:5] == [
        "mail.example.test 127.0.0.1: postmaster@example.test: 250 2.1.5 Ok",
        "mail.example.test 127.0.0.1: hostmaster@example.test: 550 5.1.1 "
        "<hostmaster@example.test>: Recipient address rejected: User unknown in virtual alias "
        "table",
        "mail.example.test 127.0.0.1: abuse@example.test: 250 2.1.5 Ok",
    ]
    assert " DATA" not in postfix.log() and "data=" not in postfix.log()


def test_postfix_greylisted_mailbox(nsd, postfix):
    run = check_postmaster(nsd, postfix, "-D", "example.test", "--mailbox", "postmaster",
                           "--mailbox", "greylisted", "--greylist-wait", "0.2")
    assert run.returncode == 1
    assert run.first.startswith(
        "POSTMASTER WARNING - mail.example.test 127.0.0.1 temporarily refused "
        "greylisted@example.test: 451 4.7.1 <greylisted@example.test>: Recipient address "
        "rejected: Greylisted, try again later |")


def test_postfix_catch_all_domain(nsd, postfix):
    run = check_postmaster(nsd, postfix, "-D", "catchall.test")
    assert run.returncode == 0
    assert run.first.startswith(
        "POSTMASTER OK - postmaster, hostmaster, abuse accepted by 1 MX (1 address); catch-all: "
        "a random address is accepted too, so this proves little |")
