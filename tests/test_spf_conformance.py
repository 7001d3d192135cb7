"""The OpenSPF RFC 7208 test suite, every test, through the scripted nameserver."""

from __future__ import annotations

import pytest

from check_mail import spf
from check_mail.deadline import Deadline
from check_mail.dns import Resolver
from check_mail.simulation.dnsserver import ScriptedNameserver
from tests.helpers.plugins import need
from tests.helpers.spfsuite import SUITE, scenarios, serve

DOCS = scenarios() if SUITE.exists() else []
# Without ../shared there is nothing to run; one case says so (and fails under CI).
CASES = [(i, name) for i, doc in enumerate(DOCS) for name in doc["tests"]] or [(-1, "missing")]


@pytest.fixture(scope="module")
def servers():
    """One nameserver per scenario, started on first use."""
    started: dict[int, ScriptedNameserver] = {}

    def get(index: int, zonedata: dict) -> ScriptedNameserver:
        if index not in started:
            server = ScriptedNameserver().start()
            serve(server, zonedata)
            started[index] = server
        return started[index]

    yield get
    for server in started.values():
        server.stop()


def test_the_suite_is_there():
    need(SUITE.exists(), f"the RFC 7208 suite is not at {SUITE}")
    assert len(CASES) == 203


@pytest.mark.parametrize(("index", "name"), CASES, ids=[n for _, n in CASES])
def test_rfc7208(servers, index, name):
    need(index >= 0, f"the RFC 7208 suite is not at {SUITE}")
    doc = DOCS[index]
    case = doc["tests"][name]
    server = servers(index, doc.get("zonedata"))
    resolver = Resolver([server.nameserver], deadline=Deadline(10), query_timeout=0.2)
    mailfrom, helo = case.get("mailfrom") or "", case.get("helo") or ""
    if mailfrom:
        domain, sender = mailfrom.rpartition("@")[2], mailfrom
    else:
        domain, sender = helo, f"postmaster@{helo}"
    outcome = spf.check_host(resolver, case["host"], domain, sender, helo)
    expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
    assert outcome.result in expected, f"{case.get('description', '')} {outcome}"
    if "explanation" in case and outcome.result == "fail":
        wanted = "" if case["explanation"] == "DEFAULT" else case["explanation"]
        assert outcome.explanation == wanted

