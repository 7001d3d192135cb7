"""What a server's certificate says: its names, its validity, its key.

A sending MTA that authenticates a server (MTA-STS, DANE-TA) matches the
MX host name against the certificate's DNS names by the rules of RFC 6125
section 6.4; :func:`name_matches` is that rule. Parsing is cryptography's;
a certificate it cannot read is ``None``, never an exception.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

# Below this an RSA key is weak (NIST SP 800-131A, the CA/Browser Forum).
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class Certificate:
    der: bytes
    subject: str  # RFC 4514 form: "CN=mail.example.org"
    issuer: str
    names: tuple[str, ...]  # the DNS names to match (RFC 6125 6.4.4), lower case
    not_before: datetime.datetime  # aware, UTC
    not_after: datetime.datetime
    key: str  # "RSA 2048", "EC secp256r1", "Ed25519"
    rsa_bits: int  # 0 when the key is not RSA
    sha256: str  # the fingerprint, hex

    def days_left(self, now: datetime.datetime) -> float:
        """Days until it expires (negative once it has)."""
        return (self.not_after - now).total_seconds() / 86400

    def valid_at(self, now: datetime.datetime) -> bool:
        return self.not_before <= now <= self.not_after

    def matches(self, host: str) -> bool:
        return any(name_matches(name, host) for name in self.names)

    @property
    def self_issued(self) -> bool:
        return self.subject == self.issuer


def parse(der: bytes) -> Certificate | None:
    """The certificate in DER form, or None if it cannot be read."""
    import hashlib

    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        names = _dns_names(cert)
        key, bits = describe_key(cert.public_key())
        return Certificate(der, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                           names, cert.not_valid_before_utc, cert.not_valid_after_utc,
                           key, bits, hashlib.sha256(der).hexdigest())
    except Exception:  # any malformed field cryptography refuses
        return None


def _dns_names(cert: Any) -> tuple[str, ...]:
    """subjectAltName DNS names; the subject CN only when there are none
    (RFC 6125 6.4.4, and what OpenSSL does)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(n.rstrip(".").lower() for n in names)


def describe_key(key: Any) -> tuple[str, int]:
    """("RSA 2048", 2048), ("EC secp256r1", 0), ("Ed25519", 0)..."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", 0
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 0
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 0
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}", 0
    return type(key).__name__, 0


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3: a wildcard only as the whole left-most label, standing
    for exactly one label, and never directly under a top-level domain."""
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if not pattern or not host:
        return False
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == host
    rest = pattern[2:]
    if "*" in rest or "." not in rest:
        return False
    first, _, parent = host.partition(".")
    return bool(first) and parent == rest

