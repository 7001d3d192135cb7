"""The DNS layer against the scripted nameserver: every outcome and fault."""

from __future__ import annotations

import socket

import pytest

from check_mail.deadline import Deadline
from check_mail.dns import (
    Nameserver,
    Resolver,
    Status,
    parse_nameserver,
    reverse_labels,
    system_nameservers,
    valid_name,
)
from check_mail.simulation.dnsserver import Fault, ScriptedNameserver


def resolver(server: ScriptedNameserver, seconds: float = 5, **kwargs) -> Resolver:
    kwargs.setdefault("query_timeout", 0.5)
    return Resolver([server.nameserver], deadline=Deadline(seconds), **kwargs)


def ask(server: ScriptedNameserver, name: str, rdtype: str = "A", **kwargs):
    return resolver(server, **kwargs).resolve([(name, rdtype)])[0]


def test_answer_keeps_every_record_and_the_ttl(nameserver):
    nameserver.add("mail.example.org", "A", "192.0.2.1", "192.0.2.2", ttl=600)
    answer = ask(nameserver, "mail.example.org")
    assert answer.status is Status.ANSWER
    assert sorted(answer.records) == ["192.0.2.1", "192.0.2.2"]
    assert answer.ttl == 600
    assert answer.server == nameserver.nameserver


def test_nxdomain_and_nodata_are_told_apart(nameserver):
    nameserver.add("mail.example.org", "A", "192.0.2.1")
    assert ask(nameserver, "mail.example.org", "AAAA").status is Status.NODATA
    assert ask(nameserver, "nothing.example.org").status is Status.NXDOMAIN


def test_txt_strings_are_joined_with_nothing_between(nameserver):
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.0/24 " "-all"')
    assert ask(nameserver, "example.org", "TXT").records == ("v=spf1 ip4:192.0.2.0/24 -all",)


def test_cname_chain_is_followed_to_the_asked_type(nameserver):
    nameserver.add("s1._domainkey.example.org", "CNAME", "s1.dkim.provider.example.")
    nameserver.add("s1.dkim.provider.example", "TXT", '"v=DKIM1; p=AAAA"')
    answer = ask(nameserver, "s1._domainkey.example.org", "TXT")
    assert answer.status is Status.ANSWER
    assert answer.records == ("v=DKIM1; p=AAAA",)


@pytest.mark.parametrize(("fault", "status"), [
    (Fault.SERVFAIL, Status.SERVFAIL),
    (Fault.REFUSED, Status.REFUSED),
    (Fault.GARBAGE, Status.MALFORMED),
    (Fault.TIMEOUT, Status.TIMEOUT),
])
def test_faults_are_classified(nameserver, fault, status):
    nameserver.fault("broken.example.org", fault)
    answer = ask(nameserver, "broken.example.org", query_timeout=0.2)
    assert answer.status is status
    assert not answer.answered


def test_truncated_udp_answer_is_retried_over_tcp(nameserver):
    nameserver.add("big.example.org", "TXT", '"' + "x" * 200 + '"')
    nameserver.fault("big.example.org", Fault.TRUNCATE)
    answer = ask(nameserver, "big.example.org", "TXT")
    assert answer.status is Status.ANSWER
    assert [q.transport for q in nameserver.log] == ["udp", "tcp"]


def test_the_ad_bit_of_a_validating_resolver_is_kept(nameserver):
    """RFC 6840 5.7: a query with AD set asks the resolver to say whether it
    validated the answer; a real Unbound is asked in test_integration_dane."""
    nameserver.add("_25._tcp.mx.example.org", "TLSA", "3 1 1 " + "ab" * 32)
    nameserver.add("big.example.org", "TXT", '"' + "x" * 200 + '"')
    nameserver.fault("big.example.org", Fault.TRUNCATE)
    assert not ask(nameserver, "_25._tcp.mx.example.org", "TLSA").secure
    nameserver.validate("example.org")
    answer = ask(nameserver, "_25._tcp.mx.example.org", "TLSA")
    assert answer.secure and answer.records == ("3 1 1 " + "ab" * 32,)
    assert ask(nameserver, "nothing.example.org").secure  # a validated NXDOMAIN
    assert ask(nameserver, "big.example.org", "TXT").secure  # over TCP too


def test_names_are_asked_absolute(nameserver):
    ask(nameserver, "mail")
    assert [q.name for q in nameserver.log] == ["mail."] * len(nameserver.log)


def test_next_server_is_asked_after_a_failure(nameserver):
    with ScriptedNameserver() as broken:
        broken.fault("mail.example.org", Fault.SERVFAIL)
        nameserver.add("mail.example.org", "A", "192.0.2.1")
        both = Resolver([broken.nameserver, nameserver.nameserver], deadline=Deadline(5))
        answer = both.resolve([("mail.example.org", "A")])[0]
    assert answer.status is Status.ANSWER
    assert answer.server == nameserver.nameserver


def test_an_unreachable_server_is_reported_as_such():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = Resolver([Nameserver("127.0.0.1", port)], deadline=Deadline(2), query_timeout=0.3)
    answer = dead.resolve([("mail.example.org", "A")])[0]
    assert answer.status in (Status.UNREACHABLE, Status.TIMEOUT)


def test_the_deadline_ends_every_query(nameserver):
    nameserver.fault("slow.example.org", Fault.TIMEOUT)
    answers = resolver(nameserver, seconds=0.5, query_timeout=10).resolve(
        [(f"{i}.slow.example.org", "A") for i in range(3)] + [("slow.example.org", "A")])
    assert {a.status for a in answers} == {Status.NXDOMAIN, Status.TIMEOUT}


def test_queries_run_concurrently_within_the_in_flight_bound(nameserver):
    nameserver.delay = 0.05
    r = resolver(nameserver, max_in_flight=10)
    answers = r.resolve((f"{i}.example.org", "A") for i in range(40))
    assert all(a.status is Status.NXDOMAIN for a in answers)
    assert r.queries == 40


def test_ipv6_loopback_nameserver():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = ScriptedNameserver(host="::1").start()
    except (OSError, RuntimeError) as exc:
        pytest.skip(f"cannot listen on [::1]: {exc}")
    try:
        server.add("mail.example.org", "AAAA", "2001:db8::25")
        answer = ask(server, "mail.example.org", "AAAA")
    finally:
        server.stop()
    assert answer.records == ("2001:db8::25",)
    assert str(server.nameserver).startswith("[::1]:")


def test_host_addresses_collects_both_families(nameserver):
    nameserver.add("mail.example.org", "A", "192.0.2.25")
    nameserver.add("mail.example.org", "AAAA", "2001:db8::25")
    r = resolver(nameserver)
    assert r.addresses("mail.example.org").addresses == ("192.0.2.25", "2001:db8::25")
    assert r.addresses("mail.example.org", family=6).addresses == ("2001:db8::25",)


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.53", Nameserver("192.0.2.53", 53)),
    ("192.0.2.53:5353", Nameserver("192.0.2.53", 5353)),
    ("::1", Nameserver("::1", 53)),
    ("[::1]:5353", Nameserver("::1", 5353)),
    ("[2001:db8::53]", Nameserver("2001:db8::53", 53)),
])
def test_parse_nameserver(text, expected):
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["ns.example.org", "192.0.2.1:0", "192.0.2.1:99999",
                                  "[::1", "[::1]x", "1.2.3.4:abc", ""])
def test_parse_nameserver_rejects(text):
    with pytest.raises(ValueError):
        parse_nameserver(text)


def test_system_nameservers_reads_resolv_conf(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example.org\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\n"
                    "nameserver bogus\n")
    assert system_nameservers(str(conf)) == [Nameserver("192.0.2.53"), Nameserver("fe80::1")]
    assert system_nameservers(str(tmp_path / "missing")) == [Nameserver("127.0.0.1")]


def test_reverse_labels_follow_rfc_5782():
    assert reverse_labels("192.0.2.99") == "99.2.0.192"
    assert reverse_labels("2001:db8:1:2:3:4:567:89ab") == (
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2")


@pytest.mark.parametrize(("name", "ok"), [
    ("mail.example.org", True), ("mail.example.org.", True), ("_dmarc.example.org", True),
    ("localhost", True), ("-bad.example", False), ("bad..example", False), ("a" * 64, False),
    ("spa ce.example", False), ("", False), ("exämple.org", False),
])
def test_valid_name(name, ok):
    assert valid_name(name) is ok


def test_a_name_that_cannot_exist_is_not_asked(nameserver):
    answer = ask(nameserver, "a" * 64 + ".example.org")
    assert answer.status is Status.BAD_NAME and not answer.answered
    assert nameserver.log == []


def test_each_question_is_asked_once_per_run(nameserver):
    nameserver.add("mail.example.org", "A", "192.0.2.1")
    r = resolver(nameserver)
    first = r.resolve([("mail.example.org", "A"), ("MAIL.example.org.", "A")])
    again = r.resolve([("mail.example.org", "A")])
    assert first[0] == first[1] == again[0]
    assert [q.name for q in nameserver.log] == ["mail.example.org."]
