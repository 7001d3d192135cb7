"""Reverse DNS: PTR lookups, forward confirmation, generic names."""

from __future__ import annotations

import pytest

from check_mail import ptr
from check_mail.deadline import Deadline
from check_mail.dns import Resolver, Status
from check_mail.simulation.dnsserver import Fault


def check(nameserver, *addresses):
    resolver = Resolver([nameserver.nameserver], deadline=Deadline(5), query_timeout=0.3)
    return ptr.check(resolver, list(addresses))


def test_forward_confirmed(nameserver):
    nameserver.add("25.2.0.192.in-addr.arpa", "PTR", "Mail.Example.org.")
    nameserver.add("mail.example.org", "A", "192.0.2.25", "192.0.2.26")
    (rdns,) = check(nameserver, "192.0.2.25")
    assert rdns.names == ("mail.example.org",)
    assert rdns.confirmed == ("mail.example.org",)
    assert rdns.failures == []


def test_ipv6_is_confirmed_by_aaaa_in_any_spelling(nameserver):
    nameserver.add("5.2.0.0" + ".0" * 20 + ".8.b.d.0.1.0.0.2.ip6.arpa", "PTR", "mail.example.org.")
    nameserver.add("mail.example.org", "AAAA", "2001:0db8:0000::0025")
    (rdns,) = check(nameserver, "2001:db8::25")
    assert rdns.confirmed == ("mail.example.org",)
    assert [q.rdtype for q in nameserver.log] == ["PTR", "AAAA"]


def test_mismatch_and_missing_forward(nameserver):
    nameserver.add("25.2.0.192.in-addr.arpa", "PTR", "a.example.org.", "b.example.org.")
    nameserver.add("a.example.org", "A", "192.0.2.99")
    (rdns,) = check(nameserver, "192.0.2.25")
    assert rdns.names == ("a.example.org", "b.example.org") or rdns.names == (
        "b.example.org", "a.example.org")
    assert rdns.confirmed == ()
    statuses = {f.name: f.answer.status for f in rdns.forwards}
    assert statuses == {"a.example.org": Status.ANSWER, "b.example.org": Status.NXDOMAIN}


def test_no_ptr(nameserver):
    (rdns,) = check(nameserver, "192.0.2.25")
    assert rdns.ptr.status is Status.NXDOMAIN
    assert rdns.names == () and rdns.forwards == () and rdns.failures == []


def test_failures_are_kept_apart(nameserver):
    nameserver.add("25.2.0.192.in-addr.arpa", "PTR", "mail.example.org.")
    nameserver.fault("mail.example.org", Fault.SERVFAIL)
    (rdns,) = check(nameserver, "192.0.2.25")
    assert [(a.name, a.status) for a in rdns.failures] == [("mail.example.org.", Status.SERVFAIL)]


@pytest.mark.parametrize(("name", "address", "reasons"), [
    ("mail.example.org", "192.0.2.25", []),
    ("mx25.example.org", "192.0.2.25", []),
    ("dsl.example", "192.0.2.25", []),
    ("192-0-2-25.static.isp.example", "192.0.2.25", ["holds the address's digits"]),
    ("25.2.0.192.dynamic.isp.example", "192.0.2.25",
     ["holds the address's digits", "holds 'dynamic'"]),
    ("host-0-2-25.isp.example", "192.0.2.25", ["holds the address's digits"]),
    ("c0000219.isp.example", "192.0.2.25", ["holds the address's digits"]),
    ("192000002025.isp.example", "192.0.2.25", ["holds the address's digits"]),
    ("pool-7.dhcp.isp.example", "192.0.2.25", ["holds 'dhcp', 'pool'"]),
    ("adsl123.isp.example", "192.0.2.25", ["holds 'adsl'"]),
    ("cpe-1.cable.isp.example", "192.0.2.25", ["holds 'cable'"]),
    ("mail.example.org", "2001:db8::25", []),
    ("2001-db8-0-0-0-0-1-25.isp.example", "2001:db8::1:25", ["holds the address's digits"]),
    ("5.2.0.0.0.0.0.0.0.0.0.0.ip6.isp.example", "2001:db8::25", ["holds the address's digits"]),
])
def test_generic_names(name, address, reasons):
    assert ptr.generic_reasons(name, address) == reasons
