"""check_mail.dmarc beside independent implementations, test-only: checkdmarc
on parsing generated records, authheaders on the DMARC verdict of generated
messages. Both ask the scripted nameserver, never the host's resolver.
Where a difference is expected, the test says why."""

from __future__ import annotations

import itertools
import random

import pytest

from check_mail import dkim, dmarc
from check_mail.deadline import Deadline
from check_mail.dns import Resolver
from check_mail.simulation.dnsserver import ScriptedNameserver
from tests.helpers import dkimkeys

# We read a record as receivers do (RFC 7489 6.3, 6.6.3): a tag they cannot
# use is ignored, or makes them apply p=none (a broken p= with a valid rua=)
# or nothing at all, and we list it as an error; checkdmarc, a validator,
# refuses many such records outright. That difference is explained when we
# listed an error.

TAGS = {
    "p": ["none", "quarantine", "reject", "rejected", ""],
    "sp": ["none", "reject", "never"],
    "np": ["quarantine", "x"],
    "pct": ["100", "50", "150", "-1", "x"],
    "adkim": ["r", "s", "x"],
    "aspf": ["r", "s", "q"],
    "fo": ["0", "1:d", "s", "2"],
    "rua": ["mailto:d@example.org", "mailto:d@example.org,mailto:e@example.org",
            "d@example.org", "mailto:nobody"],
    "ruf": ["mailto:f@example.org", "mailto:"],
    "ri": ["86400", "x"],
    "t": ["y", "n", "maybe"],
    "psd": ["y", "n", "u", "x"],
    "foo": ["bar"],
}


def generated_records(count: int = 300) -> list[str]:
    rng = random.Random(7489)
    records = []
    for _ in range(count):
        tags = rng.sample(sorted(TAGS), rng.randrange(0, 6))
        if rng.random() < 0.8 and "p" not in tags:
            tags.insert(0, "p")
        parts = [f"{tag}={rng.choice(TAGS[tag])}" for tag in tags]
        if rng.random() < 0.05:
            parts.append(parts[0])  # a duplicate tag
        records.append("; ".join(["v=DMARC1", *parts]))
    return records


@pytest.fixture(scope="module")
def nameserver():
    with ScriptedNameserver() as server:
        server.add("example.org", "MX", "10 mx.example.org.")
        yield server


def own_resolver(server):
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.lifetime = 2
    return resolver


def test_records_agree_with_checkdmarc(nameserver):
    checkdmarc = pytest.importorskip(
        "checkdmarc.dmarc", reason="checkdmarc needs Python 3.10 or newer (test-only oracle)")
    resolver = own_resolver(nameserver)
    unexplained, agreed = [], 0
    for text in generated_records():
        try:
            ours = dmarc.parse(text)
            our_error = None
        except dmarc.DmarcError as exc:
            ours, our_error = None, exc
        try:
            theirs = checkdmarc.parse_dmarc_record(text, "example.org", resolver=resolver)
            their_error = None
        except checkdmarc.DMARCError as exc:
            theirs, their_error = None, exc
        if ours is not None and theirs is not None:
            if "p" in ours.tags and not any(e.tag == "p" for e in ours.errors):
                assert theirs["tags"]["p"]["value"] == ours.p, text
            agreed += 1
        elif our_error is not None and their_error is not None:
            agreed += 1
        elif ours is not None and ours.errors:
            agreed += 1  # the explained difference: receivers read past what it refuses
        else:
            unexplained.append((text, our_error, their_error))
    assert unexplained == []
    assert agreed == 300


# -- message verdicts against authheaders ----------------------------------------

KEY = dkimkeys.rsa_key(2048)
SIGNERS = ("example.org", "news.example.org", "esp.example")
SENDERS = ("bounce@example.org", "bounce@news.example.org", "bounce@esp.example")


@pytest.fixture(scope="module")
def world():
    """Keys for every signer, SPF for every envelope domain from 198.51.100.20,
    and pyspf (inside authheaders) pointed at the scripted nameserver."""
    import dns.resolver

    server = ScriptedNameserver().start()
    for domain in SIGNERS:
        server.add(f"s1._domainkey.{domain}", "TXT", dkimkeys.txt(dkimkeys.record(KEY)))
    for sender in SENDERS:
        server.add(sender.partition("@")[2], "TXT", '"v=spf1 ip4:198.51.100.20 -all"')
    saved, dns.resolver.default_resolver = dns.resolver.default_resolver, own_resolver(server)
    yield server
    dns.resolver.default_resolver = saved
    server.stop()


@pytest.mark.parametrize(("adkim", "aspf"), [("r", "r"), ("s", "s"), ("r", "s"), ("s", "r")])
def test_verdicts_agree_with_authheaders(world, adkim, aspf):
    authheaders = pytest.importorskip("authheaders")
    world.add("_dmarc.example.org", "TXT", f'"v=DMARC1; p=reject; adkim={adkim}; aspf={aspf}"')

    def dnsfunc(name, timeout=5):
        """authheaders' DNS hook: DKIM keys as bytes (dkimpy), DMARC records as text."""
        name = name.decode() if isinstance(name, bytes) else name
        answer = resolver.run(resolver.query(name, "TXT"))
        if not answer.records:
            return None
        text = "".join(answer.records)
        return text if name.startswith("_dmarc.") else text.encode()

    resolver = Resolver([world.nameserver], deadline=Deadline(30), query_timeout=0.5)
    seen = set()
    for signer, sender, ip in itertools.product(SIGNERS, SENDERS,
                                                ("198.51.100.20", "203.0.113.9")):
        message = dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, "s1", signer, KEY, "rsa-sha256",
                                       "relaxed/relaxed")
        ours = resolver.run(dmarc.evaluate(resolver, dkim.parse_message(message), ip, sender,
                                           "mail.example.org"))
        header = authheaders.authenticate_message(
            message, "monitor.example", spf=True, ip=ip, mail_from=sender,
            helo="mail.example.org", dnsfunc=dnsfunc)
        theirs = "pass" if "dmarc=pass" in header else "fail" if "dmarc=fail" in header \
            else header
        assert ours.result == theirs, (signer, sender, ip, adkim, aspf, header)
        seen.add(theirs)
    world.records.pop(("_dmarc.example.org.", "TXT"))
    assert seen == {"pass", "fail"}
