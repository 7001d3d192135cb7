"""A scripted SMTP server on loopback, for the tests and the demo.

It speaks enough SMTP for a probe (greeting, EHLO/HELO, STARTTLS, MAIL, RCPT,
RSET, QUIT) and plays the faults of a hostile or broken server: a slow or
dripping greeting, garbage, overlong or endless replies, a connection closed
mid-reply or after MAIL, a broken TLS handshake, greylisting. It records every
command; a DATA or BDAT is answered 354 and noted in ``data_seen``, so a test
can fail on any probe that would send a message.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from check_mail.simulation.background import BackgroundServer
from check_mail.smtp import start_tls


@dataclass
class Behaviour:
    name: str = "mail.example.net"
    greeting: bytes | None = None  # raw greeting bytes; default "220 <name> ESMTP"
    greeting_delay: float = 0.0
    drip: float = 0.0  # seconds between the greeting's bytes
    endless_greeting: bool = False  # "220-" continuation lines, forever
    close_after_greeting: bool = False
    ehlo_name: str | None = None  # the name the EHLO reply announces; default name
    refuse_ehlo: bool = False  # 502 to EHLO, so the client falls back to HELO
    tls: ssl.SSLContext | None = None  # offer STARTTLS with this server context
    broken_tls: bool = False  # offer STARTTLS, then answer the handshake with garbage
    close_after: str | None = None  # hang up when this verb arrives, e.g. "MAIL"
    silent_on: str | None = None  # never answer this verb, and keep the connection open
    reply_delay: float = 0.0  # a tarpit: wait before each reply after the greeting
    mail_reply: str = "250 2.1.0 Ok"
    # RCPT replies by address ("abuse@example.com") or by local part ("abuse")
    mailboxes: dict[str, str] = field(default_factory=dict)
    unknown_rcpt: str = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
    greylist: dict[str, int] = field(default_factory=dict)  # address or local part -> 451s


class ScriptedSmtpServer(BackgroundServer):
    def __init__(self, behaviour: Behaviour | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__()
        self.behaviour = behaviour or Behaviour()
        self.host = host
        self.port = port
        self.commands: list[str] = []
        self.deferred: dict[str, int] = {}  # greylisting memory: local part -> 451s given
        self.data_seen = False
        self.sessions = 0

    async def _listen(self) -> Callable[[], None]:
        server = await asyncio.start_server(self._session, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        return server.close

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:  # the server stops while a session waits
            pass
        finally:
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b = self.behaviour
        await asyncio.sleep(b.greeting_delay)
        if b.endless_greeting:
            while True:
                writer.write(f"220-{b.name} still greeting\r\n".encode())
                await writer.drain()
                await asyncio.sleep(0.001)
        greeting = b.greeting if b.greeting is not None else f"220 {b.name} ESMTP\r\n".encode()
        if b.drip:
            for byte in greeting:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(b.drip)
        else:
            writer.write(greeting)
        await writer.drain()
        if b.close_after_greeting:
            return
        while True:
            line = await reader.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            self.commands.append(command)
            verb = command.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == b.close_after:
                return
            if verb == b.silent_on:
                await asyncio.sleep(3600)  # until the client leaves or the server stops
            await asyncio.sleep(b.reply_delay)
            reply = self._reply(verb, command)
            writer.write(reply.encode() + b"\r\n")
            await writer.drain()
            if verb == "QUIT":
                return
            if verb == "STARTTLS" and reply.startswith("220"):
                if b.broken_tls:
                    writer.write(b"this is not a TLS handshake\r\n")
                    await writer.drain()
                    return
                assert b.tls is not None
                await start_tls(writer, b.tls, server_side=True)

    def _reply(self, verb: str, command: str) -> str:
        b = self.behaviour
        if verb == "EHLO":
            if b.refuse_ehlo:
                return "502 5.5.2 Error: command not recognized"
            offers = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
            if b.tls or b.broken_tls:
                offers.append("STARTTLS")
            lines = [b.ehlo_name or b.name, *offers]
            return "\r\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{text}"
                               for i, text in enumerate(lines))
        if verb == "HELO":
            return f"250 {b.ehlo_name or b.name}"
        if verb == "STARTTLS":
            return "220 2.0.0 Ready to start TLS"
        if verb == "MAIL":
            return b.mail_reply
        if verb == "RCPT":
            rcpt = command.partition(":")[2].strip().strip("<>")
            address, local = rcpt.lower(), rcpt.split("@")[0].lower()
            key = address if address in b.greylist else local
            if b.greylist.get(key, 0) > self.deferred.get(key, 0):  # across sessions
                self.deferred[key] = self.deferred.get(key, 0) + 1
                return f"451 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted"
            reply = b.mailboxes.get(address) or b.mailboxes.get(local) or b.unknown_rcpt
            return reply.format(rcpt=rcpt)
        if verb in ("DATA", "BDAT"):
            self.data_seen = True
            return "354 End data with <CR><LF>.<CR><LF>"
        if verb == "RSET":
            return "250 2.0.0 Ok"
        if verb == "QUIT":
            return "221 2.0.0 Bye"
        return "502 5.5.2 Error: command not recognized"


def self_signed_context(name: str) -> ssl.SSLContext:
    """A server TLS context with a throwaway self-signed certificate for ``name``."""
    import datetime
    import tempfile
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context.load_cert_chain(cert_file, key_file)
    return context
