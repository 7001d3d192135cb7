"""check_ptr against a real Postfix on loopback, with its PTR served by a real NSD."""

from __future__ import annotations

import pytest

from conftest import need, run_plugin
from nsd import NSD, free_port
from postfix import Postfix, available

SOA = ("@ 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n"
       "@ 3600 IN NS ns.example.test.\n")
ZONES = {
    "example.test": SOA + "mail 300 IN A 127.0.0.1\nns 300 IN A 127.0.0.1\n",
    "0.0.127.in-addr.arpa": SOA + "1 300 IN PTR mail.example.test.\n",
}
# What the README's example main.cf sets: the name the server announces.
BANNER = "smtpd_banner = $myhostname ESMTP\n"


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    need(NSD.binary is not None, "NSD is not installed (apt-get install nsd)")
    with NSD(tmp_path_factory.mktemp("nsd"), ZONES) as server:
        yield server


@pytest.fixture(scope="module")
def postfix():
    need(not available(), available())
    with Postfix(free_port(), "mail.example.test", extra_main=BANNER) as mta:
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
