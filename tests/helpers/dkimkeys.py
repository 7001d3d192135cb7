"""Keys generated once per test run, and dkimpy (an independent DKIM
implementation) as the signer and the oracle."""

from __future__ import annotations

import base64
import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

MESSAGE = (b"From: Joe <joe@example.org>\r\nTo: Suzie <suzie@example.net>\r\n"
           b"Subject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
           b"Message-ID: <1@example.org>\r\n\r\n"
           b"Hi.\r\n\r\nWe lost  the game. \t Are you hungry yet?\r\n\r\nJoe.\r\n\r\n\r\n")


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_b64(key) -> str:
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode()


def record(key, extra: str = "") -> str:
    kind = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa"
    return f"v=DKIM1; k={kind};{extra} p={public_b64(key)}"


def txt(text: str, size: int = 250) -> str:
    """A TXT rdata whose strings are at most ``size`` characters, as zone files split
    long keys."""
    return " ".join(f'"{text[i:i + size]}"' for i in range(0, len(text), size))


def dkimpy_sign(message: bytes, selector: str, domain: str, key, algorithm: str,
                canonicalization: str, length: bool = False) -> bytes:
    import dkim

    if algorithm == "ed25519-sha256":
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        private = base64.b64encode(raw)
    else:
        private = pem(key)
    header, body = canonicalization.split("/")
    signature = dkim.sign(message, selector.encode(), domain.encode(), private,
                          canonicalize=(header.encode(), body.encode()),
                          signature_algorithm=algorithm.encode(),
                          include_headers=[b"from", b"to", b"subject", b"date"], length=length)
    return signature + message


def dkimpy_verify(message: bytes, records: dict[str, str]) -> bool:
    import dkim

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        text = records.get(name.rstrip(".").lower())
        return text.encode() if text else None

    return bool(dkim.verify(message, dnsfunc=dnsfunc))
