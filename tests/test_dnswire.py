"""The hand-written wire path beside dnspython, its oracle: the same names in
wire form, and the same records, TTL and flags from generated replies."""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest

from check_mail import dns as layer
from check_mail import dnswire


@pytest.mark.parametrize("name", ["mail.example.org.", "Mail.Example.ORG", "_dmarc.example.org.",
                                  "2.0.0.127.zen.spamhaus.org.", "x-y.example.", "."])
def test_names_are_encoded_as_dnspython_does(name):
    assert dnswire.encode_name(name) == dns.name.from_text(name).to_wire()


@pytest.mark.parametrize("name", ["a b.example.", "caf\u00e9.example.", "a\\.b.example.",
                                  "a" * 64 + ".example.", "a..example.",
                                  ".".join(["abcdefghi"] * 26) + "."])
def test_names_that_need_more_are_left_to_dnspython(name):
    assert dnswire.encode_name(name) is None


def generated(rng: random.Random, qname: str, rdtype: str) -> bytes:
    """A reply: maybe CNAMEs first, records of the asked and other types and
    owners, names in another case, duplicates, the AD bit, odd rcodes."""
    query = dns.message.make_query(qname, rdtype)
    reply = dns.message.make_response(query)
    owner = qname
    if rng.random() < 0.3:
        target = f"alias{rng.randrange(3)}.example.net."
        reply.answer.append(dns.rrset.from_text(owner, 60, "IN", "CNAME", target))
        owner = target
    if rng.random() < 0.2:  # records for another name, or of another type
        reply.answer.append(dns.rrset.from_text("other.example.", 30, "IN", rdtype,
                                                *values(rng, rdtype, 1)))
        reply.answer.append(dns.rrset.from_text(owner, 30, "IN", "MX", "10 mx.example."))
    if rng.random() < 0.8:
        shown = owner.upper() if rng.random() < 0.2 else owner
        texts = values(rng, rdtype, rng.randrange(1, 4))
        reply.answer.append(dns.rrset.from_text(shown, rng.randrange(0, 86400), "IN", rdtype,
                                                *texts, *texts[:1]))  # with a duplicate
    if rng.random() < 0.3:
        reply.flags |= dns.flags.AD
    if rng.random() < 0.2:
        reply.set_rcode(rng.choice((dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.REFUSED)))
        reply.answer = []
    return reply.to_wire()


def values(rng: random.Random, rdtype: str, count: int) -> list[str]:
    if rdtype == "A":
        return [f"127.0.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(count)]
    if rdtype == "AAAA":
        return [f"2001:db8::{rng.randrange(1, 65535):x}" for _ in range(count)]
    return ['"' + "".join(rng.choice("abc =;") for _ in range(rng.randrange(0, 300)))[:255]
            + '" "more"' for _ in range(count)]


@pytest.mark.parametrize("rdtype", ["A", "AAAA", "TXT"])
def test_replies_read_as_dnspython_reads_them(rdtype):
    rng = random.Random(rdtype)
    qname = "2.0.0.127.bl.example.org."
    question = layer._question(qname, rdtype)
    assert not isinstance(question, str)
    read_here = 0
    for _ in range(500):
        data = generated(rng, qname, rdtype)
        ours = dnswire.read(data, question.name, question.rdtype)
        message = dns.message.from_wire(data)
        records, ttl = layer._records(message, qname, rdtype)
        if ours is None:
            continue
        read_here += 1
        assert (ours.rcode, bool(ours.flags & dnswire.AD)) == (
            message.rcode(), bool(message.flags & dns.flags.AD))
        if ours.rcode == 0:
            assert (ours.records, ours.ttl) == (records, ttl)
    assert read_here == 500  # nothing here needs dnspython


def test_what_does_not_read_cleanly_is_left_to_dnspython():
    question = layer._question("x.example.", "A")
    assert not isinstance(question, str)
    good = generated(random.Random(1), "x.example.", "A")
    assert dnswire.read(good[:-3], question.name, question.rdtype) is None  # cut short
    mx = layer._question("x.example.", "MX")
    assert not isinstance(mx, str)
    assert dnswire.read(good, mx.name, mx.rdtype) is None  # a type read by dnspython
