"""What TLS one SMTP address offers: STARTTLS, the version, the cipher, the
certificate chain, and whether the trusted CAs vouch for it.

The handshake is the one a sending MTA makes (OpenSSL, SNI with the MX host
name), first trusting the system CAs and any --ca-file as a validating
sender does. When that fails on the certificate, a second session looks
without judging, so the chain can still be read, matched against TLSA
records and dated; a server that DANE-EE authenticates often has a
certificate no CA signed. Old versions and weak keys are let through
(OpenSSL security level 0): a probe must see them to report them.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from check_mail.deadline import Deadline
from check_mail.smtp import CertificateRejected, Client, ProbeError, Session


@dataclass(frozen=True)
class Handshake:
    """One address's TLS, as a sender meets it."""

    session: Session  # the SMTP conversation: greeting, EHLO, and its error
    offered: bool = False  # STARTTLS in the EHLO reply (or TLS from the first byte)
    version: str = ""  # "TLSv1.3"; "" when no TLS was made
    cipher: str = ""
    chain: tuple[bytes, ...] = ()  # DER, as sent, the server's own certificate first
    whole_chain: bool = True  # False: Python 3.9 shows the server's certificate only
    untrusted: str = ""  # why the trusted CAs refuse the chain; "" when they accept it
    error: str = ""  # why no TLS was made

    @property
    def address(self) -> str:
        return self.session.address


def contexts(ca_file: str | None = None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A context that trusts the system CAs (and ``ca_file``), and one that
    trusts nothing and sees everything. An unreadable ``ca_file`` raises
    OSError or ssl.SSLError, for the caller to word."""
    trusting = _context()
    trusting.load_default_certs()
    if ca_file:
        trusting.load_verify_locations(cafile=ca_file)
    trusting.verify_mode = ssl.CERT_REQUIRED
    seeing = _context()
    seeing.verify_mode = ssl.CERT_NONE
    return trusting, seeing


def _context() -> ssl.SSLContext:
    import warnings

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # names are matched by RFC 6125, in check_mail.certificate
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():  # TLSv1 is a deprecated name: we want to see it used
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    return context


async def handshake(address: str, port: int = 25, *, deadline: Deadline, host: str,
                    trusting: ssl.SSLContext, seeing: ssl.SSLContext,
                    helo: str | None = None, implicit_tls: bool = False) -> Handshake:
    """STARTTLS (or implicit TLS) at one address, as a sender to ``host``
    makes it (``host`` is also the SNI name)."""
    first = await _attempt(address, port, deadline, host, trusting, helo, implicit_tls)
    if not isinstance(first, str):
        return first
    second = await _attempt(address, port, deadline, host, seeing, helo, implicit_tls)
    if isinstance(second, str):  # cannot happen: nothing is verified
        return Handshake(Session(address, port, error=second), error=second)
    if second.error:
        return second
    from dataclasses import replace

    return replace(second, untrusted=first)


async def _attempt(address: str, port: int, deadline: Deadline, host: str,
                   context: ssl.SSLContext, helo: str | None,
                   implicit_tls: bool) -> Handshake | str:
    """One session; the reason when the context refused the certificate."""
    client = Client(address, port, deadline=deadline, helo=helo, tls_name=host,
                    implicit_tls=implicit_tls, context=context)
    offered, rejected, seen = implicit_tls, "", None
    try:
        await client.open()
        await client.hello()
        if not implicit_tls:
            offered = client.offers("STARTTLS")
            if offered:
                await client.starttls()
        seen = client.tls_object
    except CertificateRejected as exc:
        client.error, rejected = str(exc), exc.reason
    except ProbeError as exc:
        client.error = str(exc)
    finally:
        if seen is not None:  # read while the connection is up
            cipher = seen.cipher()
            found = (seen.version() or "", cipher[0] if cipher else "", *peer_chain(seen))
        await client.close()
    if rejected:
        return rejected
    session = client.session()
    if seen is None:
        return Handshake(session, offered, error=session.error)
    version, cipher_name, chain, whole = found
    return Handshake(session, offered, version, cipher_name, chain, whole)


def peer_chain(tls: ssl.SSLObject) -> tuple[tuple[bytes, ...], bool]:
    """The certificates the server sent, in DER, and whether that is all of
    them: Python 3.13 says so in public, 3.10 to 3.12 only inside ``_ssl``,
    3.9 shows the server's own certificate alone."""
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return tuple(public() or ()), True
    inner = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if inner is not None:
        import _ssl

        encoding = getattr(_ssl, "ENCODING_DER", 2)
        return tuple(c.public_bytes(encoding) for c in inner() or ()), True
    leaf = tls.getpeercert(binary_form=True)
    return ((leaf,) if leaf else ()), False
