"""TLSA records and their matching (check_mail.dane), and certificate names
(check_mail.certificate), with chains made by a test CA."""

from __future__ import annotations

import datetime

import pytest

from check_mail import certificate, dane
from check_mail.simulation.certificates import TestCA, self_signed

NOW = datetime.datetime.now(datetime.timezone.utc)  # before any certificate here is made


@pytest.fixture(scope="module")
def root():
    return TestCA("Root")


@pytest.fixture(scope="module")
def issuer(root):
    return TestCA("Issuer", root)


def chain_of(issued) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    return [issued.der(), *(c.public_bytes(Encoding.DER) for c in issued.chain)]


def record(usage: int, selector: int, mtype: int, der: bytes) -> dane.Tlsa:
    return dane.Tlsa(usage, selector, mtype, dane.association(der, selector, mtype))


@pytest.mark.parametrize("text,expected", [
    ("3 1 1 AB12", dane.Tlsa(3, 1, 1, b"\xab\x12")),
    ("2 0 2 ab 12", dane.Tlsa(2, 0, 2, b"\xab\x12")),  # dnspython splits long hex
    ("3 1 1", dane.Tlsa(3, 1, 1, b"")),
    ("3 1", None),
    ("3 1 1 xyz", None),
    ("256 1 1 ab", None),
    ("-1 1 1 ab", None),
])
def test_parse(text, expected):
    assert dane.parse(text) == expected


@pytest.mark.parametrize("tlsa,reason", [
    (dane.Tlsa(3, 1, 1, bytes(32)), ""),
    (dane.Tlsa(2, 0, 2, bytes(64)), ""),
    (dane.Tlsa(3, 1, 0, b"key"), ""),
    (dane.Tlsa(1, 1, 1, bytes(32)), "PKIX-EE is not used for SMTP (RFC 7672 3.1.3)"),
    (dane.Tlsa(0, 1, 1, bytes(32)), "PKIX-TA is not used for SMTP (RFC 7672 3.1.3)"),
    (dane.Tlsa(4, 1, 1, bytes(32)), "usage 4 is not used for SMTP (RFC 7672 3.1.3)"),
    (dane.Tlsa(3, 2, 1, bytes(32)), "unknown selector 2"),
    (dane.Tlsa(3, 1, 3, bytes(32)), "unknown matching type 3"),
    (dane.Tlsa(3, 1, 1, bytes(31)), "a SHA2-256 digest of 31 octets, not 32"),
    (dane.Tlsa(3, 1, 0, b""), "no data"),
])
def test_unusable_records_say_why(tlsa, reason):
    assert tlsa.unusable == reason


def test_a_record_prints_as_in_dns_with_its_names():
    """A SHA2-256 digest in full, for comparing with a zone file; longer data cut."""
    tlsa = dane.Tlsa(3, 1, 1, bytes(range(32)))
    assert str(tlsa) == "3 1 1 " + bytes(range(32)).hex()
    assert tlsa.kind == "DANE-EE SPKI SHA2-256"
    assert str(dane.Tlsa(2, 0, 2, bytes(range(64)))) == "2 0 2 000102030405060708090a0b...3c3d3e3f"


def test_dane_ee_matches_a_self_signed_certificate_whatever_its_name_and_dates():
    leaf = self_signed("other.example", days=-1)  # expired, and for another name
    result = dane.authenticate([leaf.der()], [record(3, 1, 1, leaf.der())], ["mx.example.org"])
    assert (result.verdict, result.depth) == (dane.Verdict.MATCH, 0)


def test_dane_ta_matches_at_the_depth_of_the_anchor(root, issuer):
    leaf = issuer.issue("mx.example.org")
    for anchor, depth in ((issuer, 1), (root, 2)):
        result = dane.authenticate(chain_of(leaf), [record(2, 1, 1, anchor.der())],
                                   ["mx.example.org"])
        assert (result.verdict, result.depth) == (dane.Verdict.MATCH, depth)


def test_the_lowest_depth_wins(root, issuer):
    leaf = issuer.issue("mx.example.org")
    records = [record(2, 0, 1, root.der()), record(3, 1, 2, leaf.der())]
    assert dane.authenticate(chain_of(leaf), records, ["mx.example.org"]).depth == 0


def test_dane_ta_needs_the_mx_name(issuer):
    leaf = issuer.issue("other.example.org")
    result = dane.authenticate(chain_of(leaf), [record(2, 1, 1, issuer.der())],
                               ["mx.example.org", "example.org"])
    assert (result.verdict, result.depth) == (dane.Verdict.NAME_MISMATCH, 1)
    assert result.detail == "the certificate is not for mx.example.org or example.org"


def test_dane_ta_accepts_a_wildcard_for_the_mx_name(issuer):
    leaf = issuer.issue("*.example.org")
    result = dane.authenticate(chain_of(leaf), [record(2, 1, 1, issuer.der())],
                               ["mx.example.org"])
    assert result.ok


def test_dane_ta_refuses_an_expired_certificate_below_the_anchor(issuer):
    leaf = issuer.issue("mx.example.org", days=-1, valid_from_days=-30)
    result = dane.authenticate(chain_of(leaf), [record(2, 1, 1, issuer.der())],
                               ["mx.example.org"])
    assert (result.verdict, result.detail) == (dane.Verdict.CHAIN_INVALID,
                                               "the certificate at depth 0 has expired")


def test_dane_ta_refuses_a_chain_the_anchor_did_not_sign(root, issuer):
    """The server sends our issuer's certificate, but its own was signed by
    another CA of the same name."""
    impostor = TestCA("Issuer", root)
    leaf = impostor.issue("mx.example.org")
    chain = [leaf.der(), issuer.der(), root.der()]
    result = dane.authenticate(chain, [record(2, 1, 1, issuer.der())], ["mx.example.org"])
    assert result.verdict is dane.Verdict.CHAIN_INVALID
    assert result.detail == "the certificate at depth 0 is not signed by the one above it"


def test_an_anchor_published_in_full_need_not_be_sent(root, issuer):
    """RFC 7671 5.2.2: a DANE-TA Cert Full or SPKI Full record carries the
    anchor itself; the server may leave it out of its chain."""
    leaf = issuer.issue("mx.example.org")
    sent = [leaf.der(), issuer.der()]  # no root
    cert = dane.authenticate(sent, [dane.Tlsa(2, 0, 0, root.der())], ["mx.example.org"])
    assert (cert.verdict, cert.depth) == (dane.Verdict.MATCH, 2)
    key = record(2, 1, 0, root.der())
    spki = dane.authenticate(sent, [key], ["mx.example.org"])
    assert (spki.verdict, spki.depth) == (dane.Verdict.MATCH, 1)


def test_a_chain_sent_out_of_order_is_put_in_order(root, issuer):
    leaf = issuer.issue("mx.example.org")
    shuffled = [leaf.der(), root.der(), issuer.der()]
    result = dane.authenticate(shuffled, [record(2, 1, 1, root.der())], ["mx.example.org"])
    assert (result.verdict, result.depth) == (dane.Verdict.MATCH, 2)


def test_no_match_and_no_usable_records(issuer):
    leaf = issuer.issue("mx.example.org")
    wrong = dane.Tlsa(3, 1, 1, bytes(32))
    assert dane.authenticate(chain_of(leaf), [wrong], ["x"]).verdict is dane.Verdict.NO_MATCH
    pkix = record(1, 1, 1, leaf.der())
    assert dane.authenticate(chain_of(leaf), [pkix], ["x"]).verdict is dane.Verdict.NO_USABLE
    assert dane.authenticate([], [wrong], ["x"]).verdict is dane.Verdict.NO_MATCH
    garbage = dane.authenticate([b"not a certificate"], [wrong], ["x"])
    assert garbage.detail == "the certificate cannot be read"


@pytest.mark.parametrize("pattern,host,matches", [
    ("mx.example.org", "MX.Example.org.", True),
    ("*.example.org", "mx.example.org", True),
    ("*.example.org", "a.mx.example.org", False),  # one label only
    ("*.example.org", "example.org", False),
    ("*.org", "example.org", False),  # never right under a top-level domain
    ("m*.example.org", "mx.example.org", False),  # only a whole left-most label
    ("mx.*.org", "mx.example.org", False),
    ("*.*.example.org", "a.b.example.org", False),
    ("", "example.org", False),
])
def test_name_matching_follows_rfc_6125(pattern, host, matches):
    assert certificate.name_matches(pattern, host) is matches


def test_a_certificate_reads_as_its_names_dates_and_key(issuer):
    issued = issuer.issue("mx.example.org", "mx2.example.org", days=30, rsa_bits=1024)
    cert = certificate.parse(issued.der())
    assert cert is not None
    assert cert.names == ("mx.example.org", "mx2.example.org")
    assert cert.subject == "CN=mx.example.org" and cert.issuer == "CN=Issuer"
    assert (cert.key, cert.rsa_bits) == ("RSA 1024", 1024)
    assert 29.9 < cert.days_left(datetime.datetime.now(datetime.timezone.utc)) <= 30
    assert cert.matches("mx2.example.org") and not cert.matches("example.org")
    assert certificate.parse(b"garbage") is None


def test_without_dns_names_the_common_name_counts():
    """RFC 6125 6.4.4, as OpenSSL does: only when there is no DNS name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MX.example.org")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    parsed = certificate.parse(cert.public_bytes(Encoding.DER))
    assert parsed is not None and parsed.names == ("mx.example.org",)
