"""The one SMTP probe of check-mail: sessions with one address, never DATA.

A :class:`Client` reads the greeting, says EHLO (HELO if EHLO is refused),
may STARTTLS and AUTH, runs MAIL/RCPT transactions that each end with RSET,
and ends with QUIT. :func:`probe` is the common case in one call. Every read
runs under the plugin's :class:`~check_mail.deadline.Deadline`, not a
per-read timeout, so a server that drips a byte a second cannot hold the
plugin past ``-t``. A hostile server (garbage, overlong or endless replies,
a connection closed mid-reply, a failed TLS handshake) ends the session with
an ``error`` that says what happened; no exception leaves :func:`probe`.
No command holding a line break ever reaches the wire, and a secret sent
with AUTH is never kept in the session's log.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from check_mail.deadline import Deadline
from check_mail.text import os_error

if TYPE_CHECKING:
    import asyncio
    import ssl

# RFC 5321 4.5.3.1.5 allows 512 octets per reply line; be lenient, not unbounded.
MAX_LINE = 2048
# Continuation lines in one reply; EHLO replies run to about 15.
MAX_LINES = 100
FORBIDDEN = ("DATA", "BDAT")  # a probe never sends a message
# Seconds to wait for the reply to QUIT: the work is done by then, and a
# server that never answers must not hold a finished check to the deadline.
QUIT_GRACE = 1.0

_LINE = re.compile(r"^([2-5][0-9][0-9])(?:([ -])(.*))?$", re.S)
_ENHANCED = re.compile(r"^([245]\.[0-9]{1,3}\.[0-9]{1,3})(?: |$)")


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]  # the text of each line, without code and enhanced status
    enhanced: str = ""  # RFC 3463 status such as "5.1.1", when the server gives one

    @property
    def text(self) -> str:
        return " ".join(line for line in self.lines if line)

    @property
    def domain(self) -> str:
        """The name a greeting or EHLO reply announces: its first word."""
        words = self.lines[0].split() if self.lines else []
        return words[0].rstrip(".").lower() if words else ""

    @property
    def keywords(self) -> frozenset[str]:
        """EHLO extension keywords (STARTTLS, SIZE, ...)."""
        return frozenset(line.split()[0].upper() for line in self.lines[1:] if line.split())

    def parameters(self, keyword: str) -> tuple[str, ...]:
        """The parameters an EHLO reply gives an extension: ("PLAIN", "LOGIN")
        for "AUTH PLAIN LOGIN" (or the old "AUTH=PLAIN LOGIN")."""
        for line in self.lines[1:]:
            words = line.replace("=", " ", 1).split() if line.upper().startswith(
                f"{keyword}=") else line.split()
            if words and words[0].upper() == keyword:
                return tuple(word.upper() for word in words[1:])
        return ()

    def __str__(self) -> str:
        status = f" {self.enhanced}" if self.enhanced else ""
        return f"{self.code}{status} {self.text}".rstrip()


@dataclass(frozen=True)
class Exchange:
    command: str
    reply: Reply


@dataclass(frozen=True)
class Session:
    """What one SMTP session with one address showed."""

    address: str
    port: int
    greeting: Reply | None = None
    ehlo: Reply | None = None
    tls: str = ""  # the TLS version once STARTTLS (or implicit TLS) succeeded
    exchanges: tuple[Exchange, ...] = ()  # AUTH, MAIL, RCPT and RSET, in order
    error: str = ""  # why the session ended early; "" when it ran to QUIT
    elapsed: float = 0.0
    esmtp: bool = True  # EHLO was answered (False: only HELO)

    def reply_to(self, command: str) -> Reply | None:
        """The last reply to a command that starts with ``command``."""
        found = [e.reply for e in self.exchanges if e.command.upper().startswith(command.upper())]
        return found[-1] if found else None


class ProbeError(Exception):
    """Ends a session; its text becomes Session.error."""


class CertificateRejected(ProbeError):
    """The handshake failed because the caller's context did not trust the
    server's certificate; ``reason`` is OpenSSL's ("certificate has expired")."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"certificate verify failed: {reason}")
        self.reason = reason


def _tls_failure(exc: BaseException) -> ProbeError:
    """A failed handshake, worded; a distrusted certificate says why."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return CertificateRejected(str(exc.verify_message or exc.reason or exc))
    return ProbeError(f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}")


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    deadline: Deadline
    log: list[Exchange] = field(default_factory=list)

    async def reply(self, waiting_for: str) -> Reply:
        import asyncio

        lines: list[str] = []
        code = None
        while True:
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise ProbeError(f"timed out waiting for the {waiting_for}")
            try:
                raw = await asyncio.wait_for(self.reader.readline(), remaining)
            except asyncio.TimeoutError:
                raise ProbeError(f"timed out waiting for the {waiting_for}") from None
            except ValueError:  # the StreamReader limit: no newline within MAX_LINE
                raise ProbeError(f"overlong line in the {waiting_for}") from None
            except OSError as exc:
                raise ProbeError(f"connection lost during the {waiting_for}: "
                                 f"{os_error(exc)}") from None
            if not raw.endswith(b"\n"):
                if raw or lines:
                    raise ProbeError(f"connection closed in the middle of the {waiting_for}")
                raise ProbeError(f"connection closed before the {waiting_for}")
            if len(raw) > MAX_LINE:
                raise ProbeError(f"overlong line in the {waiting_for}")
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            match = _LINE.match(line)
            if not match or (code is not None and int(match.group(1)) != code):
                raise ProbeError(f"garbage in the {waiting_for}: {_printable(line)[:60]!r}")
            code = int(match.group(1))
            lines.append(_printable(match.group(3) or ""))
            if len(lines) > MAX_LINES:
                raise ProbeError(f"endless continuation lines in the {waiting_for}")
            if match.group(2) != "-":
                return _reply(code, lines)

    async def command(self, command: str, shown: str = "") -> Reply:
        """Send one command and read its reply; ``shown`` is what the log keeps
        instead of the command, when it holds a secret."""
        import asyncio

        verb = command.split(" ", 1)[0].split(":", 1)[0].upper()
        if verb in FORBIDDEN:
            raise AssertionError(f"an SMTP probe never sends {verb}")
        if not command.isascii() or any(c in command for c in "\r\n\0"):
            # Whatever a caller passed: one command is one line, or a HELO name
            # could smuggle a second command (DATA) onto the wire.
            raise ProbeError(f"refused to send {verb}: the command holds a line break, "
                             "NUL or non-ASCII character")
        self.writer.write(command.encode("ascii") + b"\r\n")
        try:
            await asyncio.wait_for(self.writer.drain(), max(self.deadline.remaining(), 0.001))
        except asyncio.TimeoutError:
            raise ProbeError(f"timed out sending {verb}") from None
        except OSError as exc:
            raise ProbeError(f"connection lost sending {verb}: {os_error(exc)}") from None
        reply = await self.reply(f"reply to {verb}")
        self.log.append(Exchange(shown or command, reply))
        return reply


def _reply(code: int, lines: list[str]) -> Reply:
    match = _ENHANCED.match(lines[0]) if lines else None
    if not match:
        return Reply(code, tuple(lines))
    status = match.group(1)
    stripped = [line[len(status):].lstrip() if line.startswith(status) else line
                for line in lines]
    return Reply(code, tuple(stripped), status)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


# RFC 5322 atext: what a dot-atom local part may hold.
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                   "!#$%&'*+-/=?^_`{|}~")


def valid_local_part(name: str) -> bool:
    """A dot-atom local part (RFC 5321 4.1.2), as role mailboxes always are."""
    return 0 < len(name) <= 64 and all(atom and set(atom) <= _ATEXT for atom in name.split("."))


def valid_address_literal(text: str) -> bool:
    """``[192.0.2.1]`` or ``[IPv6:2001:db8::1]`` (RFC 5321 4.1.3)."""
    import ipaddress

    if not (text.startswith("[") and text.endswith("]")):
        return False
    inner = text[1:-1]
    version = 6 if inner[:5].lower() == "ipv6:" else 4
    inner = inner[5:] if version == 6 else inner
    if not inner.isascii() or "%" in inner:
        return False
    try:
        return ipaddress.ip_address(inner).version == version
    except ValueError:
        return False


def valid_helo(name: str) -> bool:
    """What EHLO may say (RFC 5321 4.1.1.1): a domain or an address literal."""
    from check_mail.dns import is_hostname

    return valid_address_literal(name) if name.startswith("[") else is_hostname(name)


def valid_address(address: str) -> bool:
    """local@domain (or local@[address literal]), with a dot-atom local part;
    enough for a probe's MAIL FROM."""
    from check_mail.dns import is_hostname

    local, at, domain = address.rpartition("@")
    if not at or not valid_local_part(local):
        return False
    return valid_address_literal(domain) or (is_hostname(domain) and "." in domain)


def default_helo(local_address: str) -> str:
    """This host's name if it is fully qualified, else an address literal
    (RFC 5321 4.1.3); no DNS lookup, which could outlast the deadline."""
    name = socket.gethostname().rstrip(".")
    if "." in name and valid_helo(name):
        return name
    return f"[IPv6:{local_address}]" if ":" in local_address else f"[{local_address}]"


class Client:
    """One SMTP conversation with one address, every read under the deadline.

    ``open()`` connects (from ``source`` if given; in TLS from the start with
    ``implicit_tls``, as on port 465) and reads the greeting; then
    ``hello()``, ``starttls()``, ``auth()``, ``transaction()``; ``close()``
    says QUIT. A failure raises ProbeError, which ``session()`` records.
    """

    def __init__(self, address: str, port: int = 25, *, deadline: Deadline,
                 helo: str | None = None, tls_name: str | None = None,
                 source: str | None = None, implicit_tls: bool = False,
                 context: ssl.SSLContext | None = None) -> None:
        self.address, self.port, self.deadline = address, port, deadline
        self.helo, self.tls_name, self.source = helo, tls_name or address, source
        self.implicit_tls = implicit_tls
        self.context = context
        self.greeting: Reply | None = None
        self.ehlo: Reply | None = None
        self.esmtp = True
        self.tls = ""
        self.error = ""
        self.local_address = ""
        self.log: list[Exchange] = []
        self._conn: _Connection | None = None
        self._started = time.monotonic()

    @property
    def conn(self) -> _Connection:
        if self._conn is None:
            raise ProbeError("not connected")
        return self._conn

    def tls_context(self) -> ssl.SSLContext:
        """The context a handshake uses: the caller's, or one that encrypts
        without verifying, as most MTAs do (a probe asks whether mail is
        accepted, not whether the certificate is trusted)."""
        import ssl

        if self.context is not None:
            return self.context
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def open(self) -> Reply:
        import asyncio
        import ssl

        options: dict = {"limit": MAX_LINE}
        if self.source:
            options["local_addr"] = (self.source, 0)
        if self.implicit_tls:
            options.update(ssl=self.tls_context(), server_hostname=self.tls_name)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.address, self.port, **options),
                max(self.deadline.remaining(), 0.001))
        except asyncio.TimeoutError:
            raise ProbeError("timed out connecting") from None
        except ssl.SSLError as exc:
            raise _tls_failure(exc) from None
        except OSError as exc:
            raise ProbeError(f"cannot connect: {os_error(exc)}") from None
        self._conn = _Connection(reader, writer, self.deadline, self.log)
        self.local_address = writer.get_extra_info("sockname")[0]
        if self.implicit_tls:
            self.tls = writer.get_extra_info("ssl_object").version() or "TLS"
        self.greeting = await self.conn.reply("greeting")
        if self.greeting.code != 220:
            raise ProbeError(f"greeting refused: {self.greeting}")
        return self.greeting

    async def hello(self) -> Reply:
        """EHLO, or HELO when EHLO is refused."""
        name = self.helo or default_helo(self.local_address)
        self.ehlo = await self.conn.command(f"EHLO {name}")
        if self.ehlo.code != 250:
            self.esmtp = False
            self.ehlo = await self.conn.command(f"HELO {name}")
            if self.ehlo.code != 250:
                raise ProbeError(f"HELO refused: {self.ehlo}")
        return self.ehlo

    @property
    def tls_object(self) -> ssl.SSLObject | None:
        """The TLS layer once STARTTLS or implicit TLS succeeded: the peer's
        certificate, the cipher."""
        return self.conn.writer.get_extra_info("ssl_object") if self.tls else None

    def offers(self, keyword: str) -> bool:
        return self.ehlo is not None and keyword in self.ehlo.keywords

    async def starttls(self) -> str:
        """STARTTLS, the handshake, and EHLO again; the TLS version."""
        self.tls = await _starttls(self.conn, self.tls_context(), self.tls_name)
        await self.hello()
        return self.tls

    async def auth(self, user: str, password: str) -> Reply:
        """AUTH PLAIN (or LOGIN when only that is offered, RFC 4616, 4954). The
        log keeps "AUTH PLAIN ****": never the secret."""
        import base64

        mechanisms = self.ehlo.parameters("AUTH") if self.ehlo else ()
        if "PLAIN" in mechanisms:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            return await self.conn.command(f"AUTH PLAIN {token}", shown="AUTH PLAIN ****")
        if "LOGIN" in mechanisms:
            reply = await self.conn.command("AUTH LOGIN")
            for secret in (user, password):
                if reply.code != 334:
                    return reply
                reply = await self.conn.command(base64.b64encode(secret.encode()).decode(),
                                                shown="****")
            return reply
        raise ProbeError("the server offers neither AUTH PLAIN nor AUTH LOGIN"
                         + (f" (it offers {' '.join(mechanisms)})" if mechanisms else ""))

    async def transaction(self, mail_from: str,
                          recipients: Sequence[str]) -> tuple[Reply, list[Reply]]:
        """MAIL FROM, RCPT TO for each recipient while MAIL was accepted, RSET;
        the replies to MAIL and to each RCPT."""
        sender = await self.conn.command(f"MAIL FROM:<{mail_from}>")
        answers = []
        if sender.code == 250:
            for recipient in recipients:
                answers.append(await self.conn.command(f"RCPT TO:<{recipient}>"))
        await self.conn.command("RSET")
        return sender, answers

    async def close(self) -> None:
        """QUIT (waiting QUIT_GRACE at most for the reply), and hang up."""
        if self._conn is None:
            return
        if not self.error:
            with contextlib.suppress(ProbeError):  # the work is done; an early hang-up is fine
                self._conn.deadline = Deadline(min(QUIT_GRACE, self.deadline.remaining()))
                await self._conn.command("QUIT")
        self._conn.writer.close()

    def session(self) -> Session:
        """What the conversation showed, the QUIT and greeting exchanges left out."""
        log = tuple(e for e in self.log if not e.command.upper().startswith(
            ("EHLO", "HELO", "QUIT", "STARTTLS")))
        return Session(self.address, self.port, self.greeting, self.ehlo, self.tls, log,
                       self.error, time.monotonic() - self._started, self.esmtp)


async def probe(
    address: str,
    port: int = 25,
    *,
    deadline: Deadline,
    helo: str | None = None,
    starttls: bool = False,
    tls_name: str | None = None,
    mail_from: str | None = None,
    recipients: Sequence[str] = (),
) -> Session:
    """One session: greeting, EHLO, [STARTTLS, EHLO], [MAIL, RCPT...], RSET, QUIT."""
    client = Client(address, port, deadline=deadline, helo=helo, tls_name=tls_name)
    try:
        await client.open()
        await client.hello()
        if starttls and client.offers("STARTTLS"):
            await client.starttls()
        if mail_from is not None:
            await client.transaction(mail_from, recipients)
    except ProbeError as exc:
        client.error = str(exc)
    finally:
        await client.close()
    return client.session()


async def start_tls(writer: asyncio.StreamWriter, context: ssl.SSLContext, *,
                    server_side: bool = False, server_hostname: str | None = None) -> None:
    """Upgrade a stream to TLS in place, on every Python we support.

    StreamWriter.start_tls() exists from Python 3.11 on; before, the event
    loop's start_tls() does the same, and the stream's writer and protocol
    are pointed at the new transport as 3.11 does it.
    """
    if hasattr(writer, "start_tls"):
        await writer.start_tls(context, server_hostname=server_hostname)
        return
    import asyncio

    protocol = writer.transport.get_protocol()
    await writer.drain()
    transport = await asyncio.get_running_loop().start_tls(
        writer.transport, protocol, context, server_side=server_side,
        server_hostname=server_hostname)
    writer._transport = transport  # type: ignore[attr-defined]
    protocol._transport = transport  # type: ignore[attr-defined]
    protocol._over_ssl = True  # type: ignore[attr-defined]


async def _starttls(conn: _Connection, context: ssl.SSLContext, server_name: str) -> str:
    import asyncio
    import ssl

    reply = await conn.command("STARTTLS")
    if reply.code != 220:
        raise ProbeError(f"STARTTLS refused: {reply}")
    try:
        await asyncio.wait_for(start_tls(conn.writer, context, server_hostname=server_name),
                               max(conn.deadline.remaining(), 0.001))
    except asyncio.TimeoutError:
        raise ProbeError("timed out in the TLS handshake") from None
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        raise _tls_failure(exc) from None
    return conn.writer.get_extra_info("ssl_object").version() or "TLS"
