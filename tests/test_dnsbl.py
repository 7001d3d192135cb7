"""DNSBL semantics: answer codes, zones files, keys and self-tests."""

from __future__ import annotations

import pytest

from check_mail import dnsbl
from check_mail.deadline import Deadline
from check_mail.dns import Answer, Resolver, Status
from check_mail.dnsbl import Reading, Verdict, Zone
from check_mail.simulation.dnsserver import Fault

ZEN = next(z for z in dnsbl.load_zones() if z.name == "zen.spamhaus.org")


def answer(*codes: str, status: Status = Status.ANSWER) -> Answer:
    return Answer("x.zen.spamhaus.org.", "A", status, codes)


@pytest.mark.parametrize(("reply", "reading"), [
    (answer(status=Status.NXDOMAIN), Reading(Verdict.CLEAN)),
    (answer(status=Status.NODATA), Reading(Verdict.CLEAN)),
    (answer("127.0.0.2"), Reading(Verdict.LISTED)),
    (answer("127.0.0.4", "127.0.0.10"), Reading(Verdict.LISTED)),
    (answer("127.255.255.254"), Reading(
        Verdict.ERROR, "refused: query via a public or open resolver",
        "zone refused the query: query via a public or open resolver")),
    (answer("127.0.0.2", "127.255.255.255"), Reading(
        Verdict.ERROR, "refused: too many queries", "zone refused the query: too many queries")),
    (answer("192.0.2.1"), Reading(
        Verdict.ERROR, "answer outside 127.0.0.0/8",
        "answer 192.0.2.1 is outside 127.0.0.0/8 (hijacking resolver or parked zone)")),
    (answer("127.0.0.1"), Reading(Verdict.CLEAN, "", "answer 127.0.0.1 is not a listing code")),
    (Answer("x.", "A", Status.SERVFAIL, detail="rcode NOTIMP"),
     Reading(Verdict.ERROR, "SERVFAIL", "SERVFAIL (rcode NOTIMP)")),
    (answer(status=Status.TIMEOUT), Reading(Verdict.ERROR, "timeout", "timeout")),
])
def test_classify_zen(reply, reading):
    assert dnsbl.classify(ZEN, reply) == reading


def test_only_loopback_answers_can_list_even_for_a_zone_listing_everything():
    anything = Zone("any.example", listed=(dnsbl.Network("0.0.0.0/0"),))
    assert dnsbl.classify(anything, answer("203.0.113.7")).verdict is Verdict.ERROR


def test_query_names_follow_rfc_5782():
    assert ZEN.query_name("192.0.2.99") == "99.2.0.192.zen.spamhaus.org."
    assert ZEN.query_name("2001:db8::1") == "1." + "0." * 23 + "8.b.d.0.1.0.0.2.zen.spamhaus.org."
    dbl = Zone("dbl.spamhaus.org", families=frozenset({dnsbl.Family.DOMAIN}))
    assert dbl.query_name("example.org.") == "example.org.dbl.spamhaus.org."


def test_zone_serves_only_its_families():
    v4 = Zone("v4.example", families=frozenset({dnsbl.Family.IPV4}))
    assert v4.serves("192.0.2.1")
    assert not v4.serves("2001:db8::1")
    assert not v4.serves("example.org")


def test_shipped_zones_hold_no_dead_zone():
    names = {z.name for z in dnsbl.load_zones()}
    dead = ("sorbs.net", "ahbl.org", "njabl.org", "spamcannibal.org", "cbl.abuseat.org",
            "manitu.net", "wpbl.info", "backscatterer.org", "megarbl.net")
    assert not [n for n in names if n.endswith(dead)]
    assert {"zen.spamhaus.org", "bl.spamcop.net", "dbl.spamhaus.org"} <= names


def test_every_shipped_zone_has_a_delisting_url_and_a_test_entry_it_would_list():
    for zone in dnsbl.load_zones():
        assert zone.delist.startswith("http"), zone.name
        listed, clean = zone.test_entries()
        assert zone.serves(listed) and zone.serves(clean), zone.name


def test_zones_file(tmp_path):
    path = tmp_path / "zones.ini"
    path.write_text("[bl.example.net]\nfamilies = ipv4\nlisted = 127.0.0.2-127.0.0.3\n"
                    "errors = 127.0.0.255\nlabels = 127.0.0.2 spam, 127.0.0.3 dialup\n"
                    "delist = https://bl.example.net/\n")
    (zone,) = dnsbl.load_zones(path)
    assert zone.families == {dnsbl.Family.IPV4}
    assert zone.label("127.0.0.3") == "dialup"
    assert dnsbl.classify(zone, answer("127.0.0.3")).verdict is Verdict.LISTED
    assert dnsbl.classify(zone, answer("127.0.0.4")).verdict is Verdict.CLEAN
    assert dnsbl.classify(zone, answer("127.0.0.255")).verdict is Verdict.ERROR


@pytest.mark.parametrize(("text", "message"), [
    ("[bl example]\n", "not a valid zone name"),
    ("[bl.example.net]\nfamilies = ipv5\n", "families must be among"),
    ("[bl.example.net]\nlisted = 127.0.0.300\n", "bad answer code '127.0.0.300'"),
    ("[{key}.bl.example.net]\n", ""),
    ("[bl.example.net]\nkey = mine\n", "must hold {key}"),
    ("no section\n", "cannot read zones file"),
    ("", "defines no zones"),
])
def test_bad_zones_files(tmp_path, text, message):
    path = tmp_path / "zones.ini"
    path.write_text(text)
    if not message:
        dnsbl.load_zones(path)
        return
    with pytest.raises(dnsbl.ZoneError, match=message.replace("{", r"\{").replace("}", r"\}")):
        dnsbl.load_zones(path)


def test_keys_enable_keyed_zones_and_drop_what_they_replace():
    zones = dnsbl.load_zones()
    plain = dnsbl.select(zones, {})
    assert "zen.spamhaus.org" in {z.name for z in plain.zones}
    assert "{key}.zen.dq.spamhaus.net" in {z.name for z in plain.skipped}
    keyed = dnsbl.select(zones, {"spamhaus-dqs": "abc123"})
    names = {z.name for z in keyed.zones}
    assert "zen.spamhaus.org" not in names and "dbl.spamhaus.org" not in names
    dqs = next(z for z in keyed.zones if z.name == "{key}.zen.dq.spamhaus.net")
    assert dqs.query_name("192.0.2.1") == "1.2.0.192.abc123.zen.dq.spamhaus.net."
    with pytest.raises(dnsbl.ZoneError, match="no zone takes the key 'nope'"):
        dnsbl.select(zones, {"nope": "x"})
    with pytest.raises(dnsbl.ZoneError, match="not a valid DNS label"):
        dnsbl.select(zones, {"abusix": "a.b"})


def test_zone_for_unknown_zone_uses_generic_codes():
    zone = dnsbl.zone_for("BL.Example.NET.", dnsbl.load_zones())
    assert zone.name == "bl.example.net"
    assert dnsbl.classify(zone, answer("127.255.255.254")).verdict is Verdict.ERROR
    assert dnsbl.zone_for("zen.spamhaus.org", dnsbl.load_zones()) == ZEN
    with pytest.raises(dnsbl.ZoneError):
        dnsbl.zone_for("not a zone", [])


def test_public_resolvers_are_named():
    from check_mail.dns import Nameserver

    assert dnsbl.public_resolvers([Nameserver("8.8.8.8"), Nameserver("192.0.2.53")]) == [
        "8.8.8.8 (Google)"]


def check(nameserver, items, zones, **kwargs):
    resolver = Resolver([nameserver.nameserver], deadline=Deadline(5), query_timeout=0.3)
    return dnsbl.check(resolver, items, zones, **kwargs)


def test_check_reads_the_reason_only_for_listings(nameserver):
    nameserver.add("99.2.0.192.bl.example.net", "A", "127.0.0.2")
    nameserver.add("99.2.0.192.bl.example.net", "TXT", '"spam seen"')
    report = check(nameserver, ["192.0.2.99", "192.0.2.25"], [Zone("bl.example.net")])
    (outcome,) = report.zones
    assert outcome.verdict is Verdict.LISTED
    assert [(lk.item, lk.verdict, lk.reason) for lk in outcome.lookups] == [
        ("192.0.2.99", Verdict.LISTED, "spam seen"), ("192.0.2.25", Verdict.CLEAN, "")]
    txt = [q.name for q in nameserver.log if q.rdtype == "TXT"]
    assert txt == ["99.2.0.192.bl.example.net."]
    assert report.listed_items == ["192.0.2.99"]


def test_each_zone_ends_as_exactly_one_verdict(nameserver):
    nameserver.add("99.2.0.192.listed.example", "A", "127.0.0.2")
    nameserver.fault("99.2.0.192.broken.example", Fault.SERVFAIL)
    nameserver.add("99.2.0.192.both.example", "A", "127.0.0.2")
    nameserver.fault("25.2.0.192.both.example", Fault.REFUSED)
    zones = [Zone(n) for n in ("listed.example", "broken.example", "both.example",
                               "clean.example")]
    report = check(nameserver, ["192.0.2.99", "192.0.2.25"], zones)
    assert [(o.zone.name, o.verdict) for o in report.zones] == [
        ("listed.example", Verdict.LISTED), ("broken.example", Verdict.ERROR),
        ("both.example", Verdict.LISTED), ("clean.example", Verdict.CLEAN)]


def test_selftest_finds_dead_and_list_everything_zones(nameserver):
    nameserver.add("2.0.0.127.good.example", "A", "127.0.0.2")
    nameserver.add("2.0.0.127.greedy.example", "A", "127.0.0.2")
    nameserver.add("1.0.0.127.greedy.example", "A", "127.0.0.2")
    nameserver.fault("2.0.0.127.flaky.example", Fault.SERVFAIL)
    zones = [Zone(n) for n in ("good.example", "dead.example", "greedy.example", "flaky.example")]
    report = check(nameserver, ["192.0.2.25"], zones, with_selftest=True)
    assert [(o.zone.name, o.usable, o.selftest) for o in report.zones] == [
        ("good.example", True, ""),
        ("dead.example", False, "test entry 127.0.0.2 is not listed (dead zone?)"),
        ("greedy.example", False, "test entry 127.0.0.1 is listed (zone lists everything)"),
        ("flaky.example", True, ""),
    ]
    assert [o.zone.name for o in report.usable] == ["good.example", "flaky.example"]
