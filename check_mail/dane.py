"""DANE for SMTP: does a server's certificate chain match its TLSA records?

RFC 7672 (with RFC 6698 and RFC 7671) is what a DANE sender such as Postfix
does with the TLSA records at ``_25._tcp.<mx>``, once DNSSEC has vouched
for them:

- Only DANE-TA(2) and DANE-EE(3) are usable for SMTP (RFC 7672 3.1.3);
  PKIX-TA(0) and PKIX-EE(1) records are ignored, as are unknown selectors
  and matching types, and digests of the wrong length.
- DANE-EE(3) matches the server's own certificate or key; its names and
  dates do not matter (RFC 7672 3.1.1).
- DANE-TA(2) names a trust anchor: a certificate of the chain the server
  sent, or a certificate or bare key published in full in the record
  (RFC 7671 5.2.2). The chain below it must verify, be in date, and the
  server certificate must carry the MX host name (RFC 7672 3.2.2).

:func:`authenticate` reproduces OpenSSL's verdict and the depth at which a
record matched on OpenSSL's own DANE test vectors (tests/test_dane.py).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from check_mail.outcome import Word
from check_mail.text import integer

USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTORS = {0: "Cert", 1: "SPKI"}
MATCHING = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}
DIGEST_SIZE = {1: 32, 2: 64}
DANE_TA, DANE_EE = 2, 3


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record (RFC 6698 2.1)."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def unusable(self) -> str:
        """Why a DANE SMTP client ignores this record; "" when it is usable."""
        if self.usage not in (DANE_TA, DANE_EE):
            what = USAGES.get(self.usage, f"usage {self.usage}")
            return f"{what} is not used for SMTP (RFC 7672 3.1.3)"
        if self.selector not in SELECTORS:
            return f"unknown selector {self.selector}"
        if self.mtype not in MATCHING:
            return f"unknown matching type {self.mtype}"
        size = DIGEST_SIZE.get(self.mtype)
        if size and len(self.data) != size:
            return f"a {MATCHING[self.mtype]} digest of {len(self.data)} octets, not {size}"
        if not self.data:
            return "no data"
        return ""

    def __str__(self) -> str:
        data = self.data.hex()
        shown = data if len(data) <= 64 else f"{data[:24]}...{data[-8:]}"
        return f"{self.usage} {self.selector} {self.mtype} {shown}"

    @property
    def kind(self) -> str:
        """"DANE-EE SPKI SHA2-256" (RFC 7218 names)."""
        return " ".join((USAGES.get(self.usage, str(self.usage)),
                         SELECTORS.get(self.selector, str(self.selector)),
                         MATCHING.get(self.mtype, str(self.mtype))))


def parse(text: str) -> Tlsa | None:
    """A record in presentation form ("3 1 1 ab12..."; the hex may be split by
    spaces), or None if it is malformed."""
    words = text.split()
    try:
        usage, selector, matching = (integer(w, 3) for w in words[:3])
        data = bytes.fromhex("".join(words[3:]))
    except ValueError:
        return None
    if max(usage, selector, matching) > 255:
        return None
    return Tlsa(usage, selector, matching, data)


class Verdict(Word):
    MATCH = "match"
    NO_MATCH = "no match"  # usable records, none of which matched: DANE senders defer
    NAME_MISMATCH = "name mismatch"  # a DANE-TA match, for a certificate of another name
    CHAIN_INVALID = "chain invalid"  # a DANE-TA match above a chain that does not verify
    NO_USABLE = "no usable records"


@dataclass(frozen=True)
class Authentication:
    verdict: Verdict
    depth: int = -1  # where in the chain a record matched (0: the server's own), -1 none
    record: Tlsa | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.MATCH


def association(der: bytes, selector: int, mtype: int) -> bytes:
    """The data a TLSA record with this selector and matching type holds for
    the certificate (RFC 6698 2.1.2-2.1.3)."""
    data = der if selector == 0 else _spki(der)
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


def authenticate(chain: Sequence[bytes], records: Sequence[Tlsa], names: Sequence[str], *,
                 now: datetime.datetime | None = None,
                 ee_name_checks: bool = False) -> Authentication:
    """Match a server's chain (DER, server certificate first) to its TLSA records.

    ``names`` are the reference identifiers a DANE-TA match requires in the
    server certificate (the MX host name, RFC 7672 3.2.2). SMTP never checks
    names for DANE-EE; ``ee_name_checks`` does, as other protocols may.
    The lowest matching depth wins, as in OpenSSL.
    """
    from cryptography import x509

    from check_mail.certificate import name_matches

    usable = [r for r in records if not r.unusable]
    if not usable:
        return Authentication(Verdict.NO_USABLE)
    if not chain:
        return Authentication(Verdict.NO_MATCH, detail="no certificate")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        certs = _path([x509.load_der_x509_certificate(der) for der in chain])
    except ValueError:
        return Authentication(Verdict.NO_MATCH, detail="the certificate cannot be read")
    ders = [_der(c) for c in certs]

    def named() -> bool:
        leaf_names = _names(certs[0])
        return any(name_matches(n, h) for n in leaf_names for h in names)

    for record in (r for r in usable if r.usage == DANE_EE):
        if _matches(record, ders[0]):
            if ee_name_checks and not named():
                return Authentication(Verdict.NAME_MISMATCH, 0, record,
                                      "the certificate is not for " + " or ".join(names))
            return Authentication(Verdict.MATCH, 0, record)
    anchors = [r for r in usable if r.usage == DANE_TA]
    found = _anchor(certs, ders, anchors)
    if found is None:
        return Authentication(Verdict.NO_MATCH)
    depth, record, problem = found
    if problem:
        return Authentication(Verdict.CHAIN_INVALID, depth, record, problem)
    for i, cert in enumerate(certs[:depth]):
        if now < cert.not_valid_before_utc:
            return Authentication(Verdict.CHAIN_INVALID, depth, record,
                                  f"the certificate at depth {i} is not yet valid")
        if now > cert.not_valid_after_utc:
            return Authentication(Verdict.CHAIN_INVALID, depth, record,
                                  f"the certificate at depth {i} has expired")
    if not named():
        return Authentication(Verdict.NAME_MISMATCH, depth, record,
                              "the certificate is not for " + " or ".join(names))
    return Authentication(Verdict.MATCH, depth, record)


def _anchor(certs: list[Any], ders: list[bytes],
            anchors: list[Tlsa]) -> tuple[int, Tlsa, str] | None:
    """The lowest trust anchor a DANE-TA record names, and what is wrong with
    the chain below it ("" nothing): (depth, record, problem)."""
    from cryptography import x509

    for depth in range(1, len(certs)):
        for record in anchors:
            if _matches(record, ders[depth]):
                return depth, record, _verify(certs[:depth + 1])
    top = certs[-1]
    for record in anchors:  # a trust anchor published in full (RFC 7671 5.2.2)
        if record.mtype != 0:
            continue
        if record.selector == 0:
            try:
                anchor = x509.load_der_x509_certificate(record.data)
            except ValueError:
                continue
            if anchor.subject == top.issuer and _signed_by(top, anchor.public_key()):
                return len(certs), record, _verify(certs)
        else:
            key = _load_spki(record.data)
            if key is not None and _signed_by(top, key):
                return len(certs) - 1, record, _verify(certs)
    return None


def _verify(certs: list[Any]) -> str:
    """Each certificate signed by the next: "" or what fails."""
    for i in range(len(certs) - 1):
        if certs[i].issuer != certs[i + 1].subject or not _signed_by(
                certs[i], certs[i + 1].public_key()):
            return f"the certificate at depth {i} is not signed by the one above it"
    return ""


def _path(certs: list[Any]) -> list[Any]:
    """The chain from the server certificate up, each next the issuer of the
    last, as far as the sent certificates go (TLS 1.3 lets a server send them
    in any order, RFC 8446 4.4.2)."""
    path, rest = [certs[0]], list(certs[1:])
    while rest:
        issuer = next((c for c in rest if c.subject == path[-1].issuer), None)
        if issuer is None or path[-1].issuer == path[-1].subject:
            break
        path.append(issuer)
        rest.remove(issuer)
    return path


def _matches(record: Tlsa, der: bytes) -> bool:
    try:
        return association(der, record.selector, record.mtype) == record.data
    except ValueError:
        return False


def _der(cert: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def _spki(der: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = x509.load_der_x509_certificate(der).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _load_spki(data: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        return load_der_public_key(data)
    except (ValueError, TypeError):
        return None


def _names(cert: Any) -> tuple[str, ...]:
    from check_mail.certificate import parse

    parsed = parse(_der(cert))
    return parsed.names if parsed else ()


def _signed_by(cert: Any, key: Any) -> bool:
    """Whether ``key`` made the certificate's signature."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    signature, signed = cert.signature, cert.tbs_certificate_bytes
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, cert.signature_algorithm_parameters,
                       cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, cert.signature_algorithm_parameters)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, signed)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, signed, cert.signature_hash_algorithm)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True
