"""Mail exchangers: MX order, implicit MX, null MX, failures."""

from __future__ import annotations

from check_mail import mx
from check_mail.deadline import Deadline
from check_mail.dns import Resolver, Status
from check_mail.simulation.dnsserver import Fault


def lookup(nameserver, domain, family=None):
    resolver = Resolver([nameserver.nameserver], deadline=Deadline(5), query_timeout=0.3)
    return mx.lookup(resolver, domain, family)


def test_exchangers_in_order_of_preference_with_all_addresses(nameserver):
    nameserver.add("example.org", "MX", "20 MX2.example.org.", "10 mx1.example.org.")
    nameserver.add("mx1.example.org", "A", "192.0.2.1")
    nameserver.add("mx1.example.org", "AAAA", "2001:db8::1")
    nameserver.add("mx2.example.org", "A", "192.0.2.2")
    found = lookup(nameserver, "example.org")
    assert [(x.name, x.preference) for x in found.exchangers] == [
        ("mx1.example.org", 10), ("mx2.example.org", 20)]
    assert found.addresses == [("mx1.example.org", "192.0.2.1"),
                               ("mx1.example.org", "2001:db8::1"),
                               ("mx2.example.org", "192.0.2.2")]
    assert not found.null and not found.implicit and found.failures == []
    assert lookup(nameserver, "example.org", 6).addresses == [("mx1.example.org", "2001:db8::1")]


def test_no_mx_means_the_domain_itself(nameserver):
    nameserver.add("example.org", "A", "192.0.2.9")
    found = lookup(nameserver, "example.org")
    assert found.implicit
    assert found.addresses == [("example.org", "192.0.2.9")]


def test_null_mx(nameserver):
    nameserver.add("example.org", "MX", "0 .")
    found = lookup(nameserver, "example.org")
    assert found.null and found.exchangers == ()
    assert [q.rdtype for q in nameserver.log] == ["MX"]


def test_nxdomain_and_failures(nameserver):
    assert lookup(nameserver, "nothing.example").mx.status is Status.NXDOMAIN
    nameserver.add("example.org", "MX", "10 mx1.example.org.")
    nameserver.fault("mx1.example.org", Fault.SERVFAIL, "AAAA")
    nameserver.add("mx1.example.org", "A", "192.0.2.1")
    found = lookup(nameserver, "example.org")
    assert [(a.name, a.rdtype, a.status) for a in found.failures] == [
        ("mx1.example.org.", "AAAA", Status.SERVFAIL)]
