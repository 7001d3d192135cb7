"""check_rbl against a real authoritative nameserver (NSD) on loopback."""

from __future__ import annotations

import pytest

from tests.helpers.nsd import NSD
from tests.helpers.plugins import need, run_plugin

SOA = "@ 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n" \
      "@ 3600 IN NS ns.example.test.\n"

BLOCKLIST = SOA + """\
2.0.0.127 300 IN A 127.0.0.2
2.0.0.127 300 IN TXT "RFC 5782 test entry"
99.2.0.192 300 IN A 127.0.0.2
99.2.0.192 300 IN A 127.0.0.4
99.2.0.192 300 IN TXT "192.0.2.99 sent spam to our traps"
"""

HOSTS = SOA + """\
mail 300 IN A 192.0.2.25
mail 300 IN AAAA 2001:db8::25
mx2 300 IN A 192.0.2.99
ns 300 IN A 127.0.0.1
"""


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    need(NSD.binary is not None, "NSD is not installed (apt-get install nsd)")
    zones = {"bl.example.test": BLOCKLIST, "example.test": HOSTS}
    with NSD(tmp_path_factory.mktemp("nsd"), zones) as server:
        yield server


def rbl(nsd, *args):
    return run_plugin("check_rbl", "-n", f"127.0.0.1:{nsd.port}", "-s", "bl.example.test", *args)


def test_clean_host_on_a_real_server(nsd):
    run = rbl(nsd, "-H", "mail.example.test", "--selftest")
    assert run.returncode == 0
    assert run.first == ("RBL OK - mail.example.test (192.0.2.25, 2001:db8::25) not listed "
                         "on 1 zone | errors=0;;~:0;0;1 listed=0;0;1;0;1 time=Xs;;;0 zones=1;;;0")


def test_listed_host_on_a_real_server(nsd):
    run = rbl(nsd, "-H", "mx2.example.test", "-v")
    assert run.returncode == 1
    assert run.lines[:2] == [
        "RBL WARNING - 192.0.2.99 listed on 1 of 1 zone (bl.example.test)",
        '192.0.2.99 listed on bl.example.test: 127.0.0.2, 127.0.0.4 '
        '"192.0.2.99 sent spam to our traps"',
    ]


def test_a_zone_the_server_refuses_is_an_error(nsd):
    run = run_plugin("check_rbl", "-n", f"127.0.0.1:{nsd.port}", "-H", "192.0.2.99",
                     "-s", "bl.example.test", "-s", "other.example", "-v", "--max-errors", "1")
    assert run.returncode == 1
    assert run.lines[0] == ("RBL WARNING - 192.0.2.99 listed on 1 of 2 zones (bl.example.test); "
                            "1 of 2 zones failed (1 REFUSED)")
    assert "192.0.2.99 on other.example: error, REFUSED" in run.lines
