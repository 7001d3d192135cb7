"""DKIM: key records through the scripted nameserver, and signatures made by
dkimpy verified by check_mail.dkim exactly where dkimpy verifies them."""

from __future__ import annotations

from pathlib import Path

import pytest

from check_mail import dkim
from check_mail.deadline import Deadline
from check_mail.dns import Resolver
from check_mail.simulation.dnsserver import ScriptedNameserver
from tests.helpers import dkimkeys

DATA = Path(__file__).with_name("data")
RFC8463_RSA = ("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id"
               "Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lx"
               "j+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB")
RFC8463_ED25519 = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def resolver(server):
    return Resolver([server.nameserver], deadline=Deadline(5), query_timeout=0.3)


@pytest.mark.parametrize(("text", "tags"), [
    ("v=DKIM1; k=rsa; p=abc", {"v": "DKIM1", "k": "rsa", "p": "abc"}),
    (" v = DKIM1 ;\r\n\tp=ab c;", {"v": "DKIM1", "p": "ab c"}),
    ("p=", {"p": ""}),
])
def test_tag_lists(text, tags):
    assert dkim.parse_tags(text) == tags


@pytest.mark.parametrize(("text", "message"), [
    ("v=DKIM1; p=a; p=b", "duplicate tag p="),
    ("v=DKIM1;; p=a", "empty tag in the list"),
    ("v=DKIM1; novalue; p=a", "malformed tag 'novalue'"),
    ("k=rsa; v=DKIM1; p=", "v= must come first and be DKIM1"),
    ("v=DKIM2; p=", "v= must come first and be DKIM1"),
    ("v=DKIM1; k=dsa; p=", "unknown key type k=dsa"),
    ("v=DKIM1; s=web; p=", "s=web does not allow email"),
    ("v=DKIM1; k=rsa", "no p= tag"),
    ("v=DKIM1; p=!!notbase64", "p= is not valid base64"),
    ("v=DKIM1; k=ed25519; p=AAAA", "p= holds 3 bytes; an ed25519 key is 32"),
])
def test_bad_key_records(text, message):
    with pytest.raises(dkim.DkimError, match=message.replace("(", r"\(")):
        dkim.parse_key_record(text)


def test_key_record_fields():
    key = dkim.parse_key_record("v=DKIM1; h=sha1:sha256; t=y:s; s=email:*; p=" +
                                dkimkeys.public_b64(dkimkeys.rsa_key(2048)))
    assert key.key_type == "rsa" and key.bits == 2048 and key.testing
    assert key.flags == {"y", "s"} and key.allows("sha256") and not key.revoked
    assert dkim.parse_key_record("v=DKIM1; p=").revoked
    assert not dkim.parse_key_record("v=DKIM1; h=sha1; p=").allows("sha256")
    assert dkim.parse_key_record(RFC8463_ED25519).description == "ed25519"


@pytest.fixture(scope="module")
def dns():
    """Key records in the shapes real zones publish them."""
    with ScriptedNameserver() as server:
        records = {
            "r1024": dkimkeys.record(dkimkeys.rsa_key(1024)),
            "r2048": dkimkeys.record(dkimkeys.rsa_key(2048)),
            "r4096": dkimkeys.record(dkimkeys.rsa_key(4096)),
            "ed": dkimkeys.record(dkimkeys.ed25519_key()),
            "revoked": "v=DKIM1; k=rsa; p=",
            "testing": dkimkeys.record(dkimkeys.ed25519_key(), " t=y;"),
            "broken": "v=DKIM1; k=rsa; p=MIIBIjANBgkqhk!!",
            "wrongk": "v=DKIM1; k=ed25519; p=" + dkimkeys.public_b64(dkimkeys.rsa_key(2048)),
        }
        for selector, text in records.items():
            server.add(f"{selector}._domainkey.example.org", "TXT", dkimkeys.txt(text))
        server.add("hosted._domainkey.example.org", "CNAME", "r2048._domainkey.example.org.")
        server.add("twice._domainkey.example.org", "TXT", dkimkeys.txt(records["ed"]),
                   dkimkeys.txt(records["r2048"]))
        server.add("brisbane._domainkey.football.example.com", "TXT", f'"{RFC8463_ED25519}"')
        server.add("test._domainkey.football.example.com", "TXT", dkimkeys.txt(RFC8463_RSA, 100))
        server.records_text = records
        yield server


def test_key_lookups(dns):
    found = {f.selector: f for f in dkim.lookup_keys(
        resolver(dns), "example.org",
        ["r1024", "r2048", "r4096", "ed", "revoked", "testing", "broken", "wrongk", "hosted",
         "twice", "absent"])}
    assert [found[s].record.bits for s in ("r1024", "r2048", "r4096", "ed")] == [
        1024, 2048, 4096, 256]
    assert found["r4096"].answer.records[0] == dns.records_text["r4096"]  # strings joined
    assert found["revoked"].record.revoked
    assert found["testing"].record.testing
    assert (found["broken"].error, found["broken"].tag) == ("p= is not valid base64", "p")
    assert found["wrongk"].error == "p= holds 294 bytes; an ed25519 key is 32"
    assert found["hosted"].record.bits == 2048  # behind a CNAME
    assert found["twice"].error == "2 TXT records where one key belongs"
    assert found["absent"].missing and found["absent"].error == "no key record"


def test_the_rfc_8463_example_verifies(dns):
    checks = dkim.verify(resolver(dns), (DATA / "rfc8463-a3.eml").read_bytes()).checks
    assert [(c.selector, c.algorithm, c.verdict) for c in checks] == [
        ("brisbane", "ed25519-sha256", "pass"), ("test", "rsa-sha256", "pass")]


def test_the_rfc_8463_example_tampered(dns):
    data = (DATA / "rfc8463-a3.eml").read_bytes()
    body = dkim.verify(resolver(dns), data.replace(b"We lost", b"We won")).checks
    assert [(c.verdict, c.reason) for c in body] == [("fail", "body hash mismatch")] * 2
    header = dkim.verify(resolver(dns),
                         data.replace(b"Is dinner ready?", b"Is lunch ready?")).checks
    assert [(c.verdict, c.reason) for c in header] == [("fail", "signature mismatch")] * 2


SIGNERS = {"rsa-sha256": lambda: dkimkeys.rsa_key(2048), "rsa-sha1": lambda: dkimkeys.rsa_key(2048),
           "ed25519-sha256": dkimkeys.ed25519_key}
COMBINATIONS = [(a, c, length) for a in SIGNERS
                for c in ("simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed")
                for length in (False, True)]


@pytest.mark.parametrize(("algorithm", "canonicalization", "length"), COMBINATIONS)
def test_dkimpy_signatures_verify_and_fail_exactly_as_dkimpy_says(dns, algorithm,
                                                                   canonicalization, length):
    key = SIGNERS[algorithm]()
    selector = "ed" if algorithm.startswith("ed") else "r2048"
    records = {f"{s}._domainkey.example.org": t for s, t in dns.records_text.items()}
    signed = dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, selector, "example.org", key, algorithm,
                                  canonicalization, length)
    variants = {
        "as signed": signed,
        "header altered": signed.replace(b"Is dinner ready?", b"Is lunch ready?"),
        "header refolded": signed.replace(b"Subject: Is dinner", b"Subject:  Is\r\n dinner"),
        "body altered": signed.replace(b"We lost", b"We won"),
        "body whitespace": signed.replace(b"lost  the", b"lost the"),
        "body appended": signed + b"P.S. unsigned\r\n",
    }
    for name, message in variants.items():
        ours = dkim.verify(resolver(dns), message).checks
        assert len(ours) == 1
        theirs = dkimkeys.dkimpy_verify(message, records)
        assert (ours[0].verdict == "pass") == theirs, (name, ours[0].reason)
    assert dkim.verify(resolver(dns), signed).checks[0].verdict == "pass"


def test_a_key_replaced_in_dns_fails(dns):
    signed = dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, "r4096", "example.org",
                                  dkimkeys.rsa_key(2048), "rsa-sha256", "relaxed/relaxed")
    (check,) = dkim.verify(resolver(dns), signed).checks
    assert (check.verdict, check.reason) == ("fail", "signature mismatch")
    records = {"r4096._domainkey.example.org": dns.records_text["r4096"]}
    assert not dkimkeys.dkimpy_verify(signed, records)


@pytest.mark.parametrize(("tags", "problem"), [
    ({"h": "to:subject"}, "From is not signed"),
    ({"x": "1000"}, "the signature has expired (x=)"),
    ({"t": "999999999999"}, "the signature is dated in the future (t=)"),
    ({"t": "1" * 13}, "t= is not a number of at most 12 digits"),
    ({"x": "9" * 5000}, "x= is not a number of at most 12 digits"),
    ({"l": "1" * 77}, "l= is not a number of at most 76 digits"),
    ({"l": "\u0662\u0665"}, "l= is not a number of at most 76 digits"),
    ({"d": "legitimate.com(.attacker.com"}, "d= is not a valid domain name"),
    ({"s": "s1;x"}, "s= is not a valid domain name"),
    ({"i": "joe@legitimate.com(.example.org"}, "i= is not a valid identity (local@domain)"),
    ({"i": "joe=40x@mail.example.org"}, ""),
    ({"i": "joe@mail=2Eexample.org"}, ""),
    ({"i": "joe@other=2Eexample"}, "i= domain other.example is not d=example.org or below it"),
    ({"i": "joe@bad=XYexample.org"}, "i= is not a valid identity (local@domain)"),
    ({"t": "2000", "x": "1000"}, "x= is before t="),
    ({"i": "@other.example"}, "i= domain other.example is not d=example.org or below it"),
    ({"a": "rsa-md5"}, "unknown algorithm a=rsa-md5"),
    ({"c": "strange/simple"}, "unknown canonicalization c=strange/simple"),
    ({"q": "https"}, "q=https offers no dns/txt"),
])
def test_signature_tags(tags, problem):
    base = {"v": "1", "a": "rsa-sha256", "b": "", "bh": "", "d": "example.org",
            "h": "from:to", "s": "s1"}
    assert dkim._signature_problem({**base, **tags}, now=1_700_000_000) == problem


def test_a_message_without_signature_and_a_revoked_key(dns):
    assert dkim.verify(resolver(dns), dkimkeys.MESSAGE).checks == []
    signed = dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, "revoked", "example.org",
                                  dkimkeys.rsa_key(2048), "rsa-sha256", "relaxed/relaxed")
    (check,) = dkim.verify(resolver(dns), signed).checks
    assert (check.verdict, check.reason) == ("permerror", "the key is revoked (empty p=)")


# -- hostile input: malformed, never a crash ------------------------------------

UNKNOWN_ALGORITHM_SPKI = bytes.fromhex("300c" "3005" "06032a0304" "0303000102")  # OID 1.2.3.4


def test_a_key_of_an_unknown_algorithm_is_malformed_not_a_crash():
    import base64

    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(UNKNOWN_ALGORITHM_SPKI).decode()
    with pytest.raises(dkim.DkimError, match="p= is not a SubjectPublicKeyInfo key") as caught:
        dkim.parse_key_record(text)
    assert caught.value.tag == "p"


def test_a_message_of_header_fields_only_verifies(dns):
    """RFC 5322 allows a message without body and without the empty line; its
    body canonicalises as empty."""
    headers = dkimkeys.MESSAGE.partition(b"\r\n\r\n")[0] + b"\r\n"
    for canonicalization in ("simple/simple", "relaxed/relaxed"):
        signed = dkimkeys.dkimpy_sign(headers + b"\r\n", "r2048", "example.org",
                                      dkimkeys.rsa_key(2048), "rsa-sha256", canonicalization)
        (check,) = dkim.verify(resolver(dns), signed[:-2]).checks
        assert (check.verdict, check.reason) == ("pass", ""), canonicalization


def test_a_key_name_that_cannot_exist_is_a_permanent_error(dns):
    long = ".".join(["a" * 60] * 4) + ".org"  # a valid d=, too long with a selector
    message = (f"DKIM-Signature: v=1; a=rsa-sha256; d={long}; s=selector; h=from; bh=; b=\r\n"
               ).encode() + dkimkeys.MESSAGE
    (check,) = dkim.verify(resolver(dns), message).checks
    assert check.verdict == "permerror"
    assert check.reason.startswith(f"key selector._domainkey.{long}: lookup failed: bad name")


def test_a_signature_without_names_is_named_by_its_position(dns):
    message = b"DKIM-Signature: v=1; a=rsa-sha256; b=abc\r\n" + dkimkeys.MESSAGE
    (check,) = dkim.verify(resolver(dns), message).checks
    assert check.label == "signature #1"
    assert check.reason == "the signature lacks bh=, d=, h=, s="
    message = b"DKIM-Signature: v=1; s=only\r\n" + dkimkeys.MESSAGE
    assert dkim.verify(resolver(dns), message).checks[0].label == "signature s=only"


def test_signatures_past_the_limit_are_counted_not_verified(dns):
    one = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=r2048; h=from; bh=; b=\r\n"
    verification = dkim.verify(resolver(dns), one * (dkim.MAX_SIGNATURES + 5) + dkimkeys.MESSAGE)
    assert len(verification.checks) == dkim.MAX_SIGNATURES
    assert verification.unverified == 5


def test_parsing_and_canonicalisation_stay_linear():
    """A field folded over 200,000 lines and a body of a million bare LFs took
    quadratic time and gigabytes; they are parsed and canonicalised at once."""
    folded = b"Subject: x" + b"\n y" * 200_000 + b"\n"
    message = dkim.parse_message(folded + b"From: a@example.org\n\n" + b"\n" * 1_000_000)
    assert [name for name, _ in message.headers] == ["Subject", "From"]
    assert dkim.canonical_body(message.body, relaxed=True) == b""
    assert dkim.canonical_body(message.body, relaxed=False) == b"\r\n"
    assert dkim.canonical_body(b"a  \t b \r\nc \t\r\n\r\n", relaxed=True) == b"a b\r\nc\r\n"
    assert dkim.canonical_body(b"a \t", relaxed=True) == b"a\r\n"
