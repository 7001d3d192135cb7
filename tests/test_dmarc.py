"""DMARC: the strict parser, discovery with the Public Suffix List and RFC 9989's
tree walk, report authorization, alignment, and verdicts for messages signed
by dkimpy."""

from __future__ import annotations

import pytest

from check_mail import dkim, dmarc
from check_mail.deadline import Deadline
from check_mail.dns import Resolver
from check_mail.simulation.dnsserver import Fault
from tests.helpers import dkimkeys


def resolver(server) -> Resolver:
    return Resolver([server.nameserver], deadline=Deadline(5), query_timeout=0.3)


def ask(server, function, *args):
    """A library coroutine on one resolver of the scripted nameserver, run."""
    asking = resolver(server)
    return asking.run(function(asking, *args))


def test_a_full_record():
    policy = dmarc.parse("v=DMARC1; p=reject; sp=quarantine; np=reject; pct=50; "
                         "rua=mailto:dmarc@example.org,mailto:a%2Cb@example.net!10m; "
                         "ruf=mailto:f@example.org; adkim=s; aspf=r; fo=1:d; ri=3600; t=y; "
                         "psd=n")
    assert (policy.p, policy.sp, policy.np, policy.pct) == ("reject", "quarantine", "reject", 50)
    assert (policy.adkim, policy.aspf, policy.testing, policy.psd) == ("s", "r", True, "n")
    assert [(u.address, u.size) for u in policy.rua] == [("dmarc@example.org", ""),
                                                         ("a,b@example.net", "10m")]
    assert policy.ruf[0].domain == "example.org"
    assert policy.unknown == () and not policy.implicit_p


def test_what_receivers_assume():
    policy = dmarc.parse("v=DMARC1")
    assert (policy.p, policy.implicit_p, policy.pct, policy.adkim) == ("none", True, 100, "r")
    assert dmarc.parse("v=DMARC1; p=none; foo=bar; Rua=mailto:x@example.org").unknown == \
        ("foo",)
    assert dmarc.parse("v = DMARC1 ;p=QUARANTINE;").p == "quarantine"


@pytest.mark.parametrize(("record", "tag", "message"), [
    ("p=reject; v=DMARC1", "v", "the record does not start with v=DMARC1"),
    ("v=DMARC2; p=reject", "v", "the record does not start with v=DMARC1"),
    ("v=DMARC1; p=rejected", "p", "p=rejected is none of none, quarantine, reject"),
    ("v=DMARC1; p=none; p=reject", "p", "duplicate tag p="),
    ("v=DMARC1; p=none; sp=nil", "sp", "sp=nil is none of"),
    ("v=DMARC1; p=none; np=x", "np", "np=x is none of"),
    ("v=DMARC1; p=none; pct=150", "pct", "pct=150 is not a whole number from 0 to 100"),
    ("v=DMARC1; p=none; pct=\u0665\u0660", "pct", "is not a whole number"),
    ("v=DMARC1; p=none; pct=" + "9" * 5000, "pct", "is not a whole number"),  # issue 21
    ("v=DMARC1; p=none; ri=" + "1" * 4301, "ri", "is not a whole number"),
    ("v=DMARC1; p=none; adkim=x", "adkim", "adkim=x is none of r, s"),
    ("v=DMARC1; p=none; aspf=", "aspf", "aspf= is none of r, s"),
    ("v=DMARC1; p=none; fo=2", "fo", "fo=2: '2' is none of 0, 1, d, s"),
    ("v=DMARC1; p=none; ri=-5", "ri", "ri=-5 is not a whole number"),
    ("v=DMARC1; p=none; t=maybe", "t", "t=maybe is none of y, n"),
    ("v=DMARC1; p=none; psd=x", "psd", "psd=x is none of y, n, u"),
    ("v=DMARC1; p=none; rua=dmarc@example.org", "rua", "which is not a URI"),
    ("v=DMARC1; p=none; rua=mailto:nobody", "rua", "which is not a mail address"),
    ("v=DMARC1; p=none; ruf=mailto:x@bad domain", "ruf", "which is not a mail address"),
    ("v=DMARC1; p=none; novalue", "novalue", "malformed tag"),
])
def test_invalid_records_name_the_tag(record, tag, message):
    with pytest.raises(dmarc.DmarcError, match=message.replace("(", r"\(")) as caught:
        dmarc.parse(record)
    assert caught.value.tag == tag


def test_organizational_domains_and_alignment():
    assert dmarc.organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert dmarc.organizational_domain("mail.example.test.") == "example.test"
    assert dmarc.aligned("bounce.example.org", "example.org", strict=False)
    assert not dmarc.aligned("bounce.example.org", "example.org", strict=True)
    assert dmarc.aligned("Example.ORG.", "example.org", strict=True)
    assert not dmarc.aligned("example.co.uk", "other.co.uk", strict=False)


def test_the_tree_walk_asks_at_most_five_names():
    assert dmarc.walk_names("a.b.c.d.e.example.com") == [
        "a.b.c.d.e.example.com", "d.e.example.com", "e.example.com", "example.com", "com"]
    assert dmarc.walk_names("mail.example.org") == ["mail.example.org", "example.org", "org"]


@pytest.fixture
def dns(nameserver):
    nameserver.add("_dmarc.example.org", "TXT",
                   '"v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org"')
    return nameserver


def test_discovery_falls_back_to_the_organizational_domain(dns):
    found = ask(dns, dmarc.discover, "Mail.Example.ORG")
    assert (found.domain, found.found_at, found.inherited) == ("mail.example.org", "example.org",
                                                               True)
    assert found.policy.for_subdomains() == "quarantine"
    assert found.walk_org == found.org == "example.org"


def test_several_records_are_no_policy(dns):
    dns.add("_dmarc.example.net", "TXT", '"v=DMARC1; p=none"', '"v=DMARC1; p=reject"',
            '"some other text"')
    found = ask(dns, dmarc.discover, "example.net")
    assert len(found.records) == 2 and found.policy is None and found.error is None


def test_a_failed_lookup_concludes_nothing(dns):
    dns.fault("_dmarc.example.net", Fault.SERVFAIL)
    found = ask(dns, dmarc.discover, "example.net")
    assert [a.describe() for a in found.failures] == ["SERVFAIL"]
    assert found.found_at == ""


def test_the_tree_walk_follows_psd(nameserver):
    """RFC 9989 4.10.2: psd=y marks a public suffix (the organization is one
    label below), psd=n the organization itself."""
    nameserver.add("_dmarc.gov.example", "TXT", '"v=DMARC1; p=reject; psd=y"')
    found = ask(nameserver, dmarc.discover, "mail.agency.gov.example")
    assert found.walk_org == "agency.gov.example"
    assert found.org == "gov.example"  # the list knows nothing of .example
    nameserver.add("_dmarc.agency.gov.example", "TXT", '"v=DMARC1; p=none; psd=n"')
    assert ask(nameserver, dmarc.discover, "a.b.agency.gov.example").walk_org == \
        "agency.gov.example"


@pytest.mark.parametrize(("setup", "authorized"), [
    ({}, False),
    ({"example.org._report._dmarc.reports.example.net": '"v=DMARC1"'}, True),
    ({"*._report._dmarc.reports.example.net": '"v=DMARC1"'}, True),
    ({"example.org._report._dmarc.reports.example.net": '"something else"'}, False),
])
def test_external_report_destinations(nameserver, setup, authorized):
    for name, text in setup.items():
        nameserver.add(name, "TXT", text)
    policy = dmarc.parse("v=DMARC1; p=reject; rua=mailto:d@example.org,"
                         "mailto:d@reports.example.net; ruf=mailto:f@sub.example.org")
    found = ask(nameserver, dmarc.destinations, "example.org", policy)
    assert [(d.uri.address, d.authorized) for d in found] == [("d@reports.example.net",
                                                               authorized)]


def test_authorization_through_a_cname(nameserver):
    nameserver.add("example.org._report._dmarc.reports.example.net", "CNAME",
                   "all._report._dmarc.reports.example.net.")
    nameserver.add("all._report._dmarc.reports.example.net", "TXT", '"v=DMARC1"')
    policy = dmarc.parse("v=DMARC1; p=reject; rua=mailto:d@reports.example.net")
    (found,) = ask(nameserver, dmarc.destinations, "example.org", policy)
    assert found.authorized


# -- messages -------------------------------------------------------------------

KEY = dkimkeys.rsa_key(2048)


@pytest.fixture
def world(nameserver):
    """example.org signs as itself and through an ESP (esp.example); mail leaves
    from 192.0.2.25 (example.org's SPF) and 198.51.100.20 (the ESP's)."""
    for domain in ("example.org", "esp.example"):
        nameserver.add(f"s1._domainkey.{domain}", "TXT", dkimkeys.txt(dkimkeys.record(KEY)))
    nameserver.add("_dmarc.example.org", "TXT", '"v=DMARC1; p=reject; rua=mailto:d@example.org"')
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.25 -all"')
    nameserver.add("bounce.example.org", "TXT", '"v=spf1 ip4:192.0.2.25 -all"')
    nameserver.add("bounce.esp.example", "TXT", '"v=spf1 ip4:198.51.100.20 -all"')
    return nameserver


def signed(domain: str) -> bytes:
    return dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, "s1", domain, KEY, "rsa-sha256",
                                "relaxed/relaxed")


def verdict(server, message: bytes, ip: str, mail_from: str) -> dmarc.MessageVerdict:
    return ask(server, dmarc.evaluate, dkim.parse_message(message), ip, mail_from,
               "mail.example.org")


def test_dkim_aligned_passes_without_spf(world):
    found = verdict(world, signed("example.org"), "203.0.113.9", "bounce@bounce.esp.example")
    assert found.result == "pass" and found.aligned_passes == 1
    assert [(i.method, i.domain, i.result, i.aligned) for i in found.identifiers] == [
        ("spf", "bounce.esp.example", "fail", False), ("dkim", "example.org", "pass", True)]


def test_an_esp_with_its_own_domains_fails(world):
    found = verdict(world, signed("esp.example"), "198.51.100.20", "bounce@bounce.esp.example")
    assert found.result == "fail" and found.aligned_passes == 0
    assert [(i.method, i.result, i.aligned) for i in found.identifiers] == [
        ("spf", "pass", False), ("dkim", "pass", False)]


def test_spf_aligned_in_relaxed_not_in_strict_mode(world):
    found = verdict(world, dkimkeys.MESSAGE, "192.0.2.25", "bounce@bounce.example.org")
    assert found.result == "pass"
    world.clear()
    world.add("_dmarc.example.org", "TXT", '"v=DMARC1; p=reject; aspf=s"')
    world.add("bounce.example.org", "TXT", '"v=spf1 ip4:192.0.2.25 -all"')
    assert verdict(world, dkimkeys.MESSAGE, "192.0.2.25", "bounce@bounce.example.org"
                   ).result == "fail"


def test_no_policy_is_none(world):
    message = dkimkeys.MESSAGE.replace(b"joe@example.org", b"joe@example.net")
    assert verdict(world, message, "192.0.2.25", "").result == "none"


@pytest.mark.parametrize(("headers", "problem"), [
    (b"To: a@example.net\r\n", "0 From: header fields where one belongs"),
    (b"From: a@example.org\r\nFrom: b@example.org\r\n", "2 From: header fields where one "
                                                         "belongs"),
    (b"From: a@example.org, b@example.net\r\n", "From: holds 2 addresses where one belongs"),
    (b"From: Joe <joe>\r\n", "From: holds 'joe', not an address with a domain"),
])
def test_a_message_without_one_author_fails(world, headers, problem):
    found = verdict(world, headers + b"\r\nHi.\r\n", "192.0.2.25", "")
    assert (found.result, found.problem) == ("fail", problem)
