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
    # RFC 6376 3.2 through RFC 7489: a tag given twice voids the whole record.
    ("v=DMARC1; p=none; p=reject", "p", "duplicate tag p="),
])
def test_what_no_receiver_reads_as_a_record(record, tag, message):
    with pytest.raises(dmarc.DmarcError, match=message.replace("(", r"\(")) as caught:
        dmarc.parse(record)
    assert caught.value.tag == tag


@pytest.mark.parametrize(("record", "tag", "message"), [
    ("v=DMARC1; p=reject; np=x", "np", "np=x is none of"),
    ("v=DMARC1; p=reject; pct=150", "pct", "pct=150 is not a whole number from 0 to 100"),
    ("v=DMARC1; p=reject; pct=\u0665\u0660", "pct", "is not a whole number"),
    ("v=DMARC1; p=reject; pct=" + "9" * 5000, "pct", "is not a whole number"),  # issue 21
    ("v=DMARC1; p=reject; ri=" + "1" * 4301, "ri", "is not a whole number"),
    ("v=DMARC1; p=reject; ri=4294967296", "ri", "is not a whole number from 0 to 4294967295"),
    ("v=DMARC1; p=reject; adkim=relaxed", "adkim", "adkim=relaxed is none of r, s"),
    ("v=DMARC1; p=reject; aspf=", "aspf", "aspf= is none of r, s"),
    ("v=DMARC1; p=reject; fo=2", "fo", "fo=2: '2' is none of 0, 1, d, s"),
    ("v=DMARC1; p=reject; ri=-5", "ri", "ri=-5 is not a whole number"),
    ("v=DMARC1; p=reject; t=maybe", "t", "t=maybe is none of y, n"),
    ("v=DMARC1; p=reject; psd=x", "psd", "psd=x is none of y, n, u"),
    ("v=DMARC1; p=reject; novalue", "novalue", "malformed tag"),
    ("v=DMARC1; p=reject; a-b=c", "a-b", "malformed tag"),
    ("v=DMARC1; p=reject; rua=mailto:a@example.org,dmarc@example.org", "rua",
     "which is not a URI"),
])
def test_a_tag_receivers_cannot_use_is_ignored_and_the_rest_applied(record, tag, message):
    """Issue 25 (RFC 7489 6.3): an unknown or invalid tag is ignored, the
    rest of the record applied: p=reject stays p=reject."""
    policy = dmarc.parse(record)
    assert (policy.p, policy.applies) == ("reject", True)
    [error] = policy.errors
    assert (error.tag, error.effect, error.changes) == (tag, "receivers ignore it", False)
    assert message in error.problem


@pytest.mark.parametrize(("record", "applied", "effect"), [
    # 6.6.3 step 6A: no valid p= (or an invalid sp=), a valid rua=: p=none.
    ("v=DMARC1; p=rejected; rua=mailto:d@example.org", "none", "receivers apply p=none"),
    ("v=DMARC1; p=reject; sp=nil; rua=mailto:d@example.org", "none", "receivers apply p=none"),
    ("v=DMARC1; rua=mailto:d@example.org", "none", ""),  # no p=: none, as implicit_p says
    # ... and no valid rua=: no DMARC at all (bug 5, bug 6).
    ("v=DMARC1", None, "receivers apply no DMARC"),
    ("v=DMARC1; sp=reject", None, "receivers apply no DMARC"),
    ("v=DMARC1; p=rejected", None, "receivers apply no DMARC"),
    ("v=DMARC1; p=rejected; rua=dmarc@example.org", None, "receivers apply no DMARC"),
])
def test_a_record_without_a_valid_p_by_rfc_7489_6_6_3_step_6(record, applied, effect):
    """Issue 25, bugs 5 and 6."""
    policy = dmarc.parse(record)
    assert (policy.p if policy.applies else None) == applied
    assert all(effect in e.effect for e in policy.errors if e.tag in ("p", "sp"))
    assert bool(effect) == any(e.tag in ("p", "sp") for e in policy.errors)


@pytest.mark.parametrize("record", ["v=DMARC1; p=reject; rua=dmarc@example.org",
                                    "v=DMARC1; p=reject; ruf=mailto:x@bad domain"])
def test_reports_with_no_usable_uri_are_lost(record):
    policy = dmarc.parse(record)
    assert (policy.p, policy.rua, policy.ruf) == ("reject", (), ())
    assert [(e.effect, e.changes) for e in policy.errors] == [
        ("receivers send these reports nowhere", True)]


@pytest.mark.parametrize(("record", "check"), [
    # RFC 7489 6.4, RFC 5234 2.3: tag names are case-insensitive quoted strings.
    ("V=DMARC1; p=reject", lambda p: p.p == "reject"),
    ("v=DMARC1; P=quarantine", lambda p: p.p == "quarantine"),
    # fo's values are quoted literals too: any case.
    ("v=DMARC1; p=none; fo=D:S", lambda p: True),
    # RFC 6068: what follows "?" in a mailto: URI is not part of the address.
    ("v=DMARC1; p=none; rua=mailto:dmarc@example.com?subject=DMARC",
     lambda p: p.rua[0].address == "dmarc@example.com"),
])
def test_what_receivers_accept_is_a_record(record, check):
    """Issue 25, bugs 2, 3 and 4."""
    assert check(dmarc.parse(record))


def test_the_version_value_is_case_sensitive():
    with pytest.raises(dmarc.DmarcError, match="does not start with v=DMARC1"):
        dmarc.parse("v=dmarc1; p=reject")


def test_organizational_domains_and_alignment():
    assert dmarc.organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert dmarc.organizational_domain("mail.example.test.") == "example.test"
    assert dmarc.aligned("bounce.example.org", "example.org", strict=False)
    assert not dmarc.aligned("bounce.example.org", "example.org", strict=True)
    assert dmarc.aligned("Example.ORG.", "example.org", strict=True)
    assert not dmarc.aligned("example.co.uk", "other.co.uk", strict=False)


def test_the_tree_walk_by_rfc_9989_4_10_step_4():
    """Issue 25, bug 1: fewer than 8 labels, one removed at a time; from 8 on,
    cut to the last 7 first (an old draft's numbers stopped after five names
    and jumped to the last four)."""
    assert dmarc.walk_names("a.b.c.d.e.example.com") == [
        "a.b.c.d.e.example.com", "b.c.d.e.example.com", "c.d.e.example.com",
        "d.e.example.com", "e.example.com", "example.com", "com"]
    assert dmarc.walk_names("x.y.a.b.c.d.e.example.com") == [  # 9 labels: 8 names at most
        "x.y.a.b.c.d.e.example.com", "a.b.c.d.e.example.com", "b.c.d.e.example.com",
        "c.d.e.example.com", "d.e.example.com", "e.example.com", "example.com", "com"]
    assert dmarc.walk_names("mail.example.org") == ["mail.example.org", "example.org", "org"]


def test_the_tree_walk_finds_a_psd_n_record_deep_down(nameserver):
    """Issue 25, bug 1, the issue's own example."""
    nameserver.add("_dmarc.c.d.e.example.com", "TXT", '"v=DMARC1; p=reject; psd=n"')
    assert ask(nameserver, dmarc.discover, "a.b.c.d.e.example.com").walk_org == \
        "c.d.e.example.com"


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
