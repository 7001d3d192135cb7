"""The one SMTP probe of check-mail: one session with one address, never DATA.

A session reads the greeting, says EHLO (HELO if EHLO is refused), may
STARTTLS, may send MAIL and RCPT, and always ends with RSET and QUIT. Every
read runs under the plugin's :class:`~check_mail.deadline.Deadline`, not a
per-read timeout, so a server that drips a byte a second cannot hold the
plugin past ``-t``. A hostile server (garbage, overlong or endless replies,
a connection closed mid-reply, a failed TLS handshake) ends the session with
an ``error`` that says what happened; no exception leaves :func:`probe`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from check_mail.deadline import Deadline

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
    tls: str = ""  # the TLS version once STARTTLS succeeded
    exchanges: tuple[Exchange, ...] = ()  # MAIL, RCPT and RSET, in order
    error: str = ""  # why the session ended early; "" when it ran to QUIT
    elapsed: float = 0.0

    def reply_to(self, command: str) -> Reply | None:
        """The last reply to a command that starts with ``command``."""
        found = [e.reply for e in self.exchanges if e.command.upper().startswith(command.upper())]
        return found[-1] if found else None


class ProbeError(Exception):
    """Ends a session; its text becomes Session.error."""


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
                                 f"{_os_error(exc)}") from None
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

    async def command(self, command: str) -> Reply:
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
            raise ProbeError(f"connection lost sending {verb}: {_os_error(exc)}") from None
        reply = await self.reply(f"reply to {verb}")
        self.log.append(Exchange(command, reply))
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


def _os_error(exc: BaseException) -> str:
    errno = getattr(exc, "errno", None)
    if errno:  # asyncio words refusals as "Connect call failed (...)"
        return os.strerror(errno)
    return str(exc) or type(exc).__name__


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
    import asyncio

    started = time.monotonic()
    greeting = ehlo = None
    tls = error = ""
    log: list[Exchange] = []
    writer = None
    try:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, limit=MAX_LINE),
                max(deadline.remaining(), 0.001),
            )
        except asyncio.TimeoutError:
            raise ProbeError("timed out connecting") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect: {_os_error(exc)}") from None
        conn = _Connection(reader, writer, deadline, log)
        greeting = await conn.reply("greeting")
        if greeting.code != 220:
            raise ProbeError(f"greeting refused: {greeting}")
        name = helo or default_helo(writer.get_extra_info("sockname")[0])
        ehlo = await conn.command(f"EHLO {name}")
        if ehlo.code != 250:
            ehlo = await conn.command(f"HELO {name}")
            if ehlo.code != 250:
                raise ProbeError(f"HELO refused: {ehlo}")
        if starttls and "STARTTLS" in ehlo.keywords:
            tls = await _starttls(conn, writer, tls_name or address)
            ehlo = await conn.command(f"EHLO {name}")
        if mail_from is not None:
            sender = await conn.command(f"MAIL FROM:<{mail_from}>")
            if sender.code == 250:
                for recipient in recipients:
                    await conn.command(f"RCPT TO:<{recipient}>")
            await conn.command("RSET")
        with contextlib.suppress(ProbeError):  # the work is done; an early hang-up is fine
            conn.deadline = Deadline(min(QUIT_GRACE, deadline.remaining()))
            await conn.command("QUIT")
    except ProbeError as exc:
        error = str(exc)
    finally:
        if writer is not None:
            writer.close()
    session_log = tuple(e for e in log if not e.command.upper().startswith(("EHLO", "HELO",
                                                                             "QUIT", "STARTTLS")))
    return Session(address, port, greeting, ehlo, tls, session_log, error,
                   time.monotonic() - started)


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


async def _starttls(conn: _Connection, writer, server_name: str) -> str:
    import asyncio
    import ssl

    reply = await conn.command("STARTTLS")
    if reply.code != 220:
        raise ProbeError(f"STARTTLS refused: {reply}")
    # A probe asks whether mail is accepted, not whether the certificate is
    # trusted: like most MTAs, it encrypts without verifying.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        await asyncio.wait_for(start_tls(writer, context, server_hostname=server_name),
                               max(conn.deadline.remaining(), 0.001))
    except asyncio.TimeoutError:
        raise ProbeError("timed out in the TLS handshake") from None
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        raise ProbeError(f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}") from None
    return writer.get_extra_info("ssl_object").version() or "TLS"
