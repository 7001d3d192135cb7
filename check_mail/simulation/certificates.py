"""Test certificates: a CA made afresh, and the server certificates it issues
(valid, expired, soon to expire, for the wrong name, with a weak key), for
the simulated domain and the tests. Nothing here is ever trusted outside
them: the CA's key lives only in memory, its certificate in files the tests
point plugins at.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, and the chain a server sends with it."""

    certificate: Any  # cryptography x509.Certificate
    key: Any
    chain: tuple[Any, ...] = ()  # the issuers to send after the certificate

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return b"".join(c.public_bytes(serialization.Encoding.PEM)
                        for c in (self.certificate, *self.chain))

    def key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.DER)

    def server_context(self, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A server TLS context that presents this certificate and its chain
        (with ``version``, that TLS version only: old ones too)."""
        import warnings

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Weak keys and old versions are what some tests are about: let
        # OpenSSL's security level refuse nothing.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if version is not None:
            with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated names
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = context.maximum_version = version
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            cert_file.write_bytes(self.pem())
            key_file.write_bytes(self.key_pem())
            context.load_cert_chain(cert_file, key_file)
        return context


def _key(rsa_bits: int | None) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if rsa_bits:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestCA:
    """A certification authority for tests: ``issue()`` signs server certificates.

    With ``parent``, an intermediate CA that ``parent`` signs; servers then
    send its certificate and the parent's after their own.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "check-mail test CA", parent: TestCA | None = None,
                 days: float = 3650) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        self.key: Any = _key(None)
        now = datetime.datetime.now(datetime.timezone.utc)
        issuer, signer = (parent.certificate.subject, parent.key) if parent else \
            (_name(name), self.key)
        self.certificate: Any = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(issuer)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + days * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(signer, hashes.SHA256()))
        self.chain: tuple[Any, ...] = (self.certificate, *(parent.chain if parent else ()))

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.DER)

    def issue(self, *names: str, days: float = 90, valid_from_days: float = -1,
              rsa_bits: int | None = None) -> Issued:
        """A server certificate for ``names`` (the first is also the CN), valid
        from ``valid_from_days`` to ``days`` from now (negative: in the past)."""
        return _certificate(names, self.certificate.subject, self.key, self.chain,
                            days, valid_from_days, rsa_bits)


def self_signed(*names: str, days: float = 90, rsa_bits: int | None = None) -> Issued:
    """A certificate that signs itself: no CA vouches for it."""
    key = _key(rsa_bits)
    return _certificate(names, _name(names[0]), key, (), days, -1, rsa_bits, own_key=key)


def _certificate(names: tuple[str, ...], issuer: Any, signer: Any, chain: tuple[Any, ...],
                 days: float, valid_from_days: float, rsa_bits: int | None,
                 own_key: Any = None) -> Issued:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = own_key or _key(rsa_bits)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(issuer)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from_days * DAY).not_valid_after(now + days * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        # What every real CA sets, and Python 3.13's default context demands.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256()))
    return Issued(certificate, key, chain)
