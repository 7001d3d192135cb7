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
    implicit_tls: bool = False  # TLS from the first byte with ``tls`` (as on port 465)
    broken_tls: bool = False  # offer STARTTLS, then answer the handshake with garbage
    close_after: str | None = None  # hang up when this verb arrives, e.g. "MAIL"
    silent_on: str | None = None  # never answer this verb, and keep the connection open
    reply_delay: float = 0.0  # a tarpit: wait before each reply after the greeting
    mail_reply: str = "250 2.1.0 Ok"
    # RCPT replies by address ("abuse@example.com") or by local part ("abuse")
    mailboxes: dict[str, str] = field(default_factory=dict)
    unknown_rcpt: str = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
    greylist: dict[str, int] = field(default_factory=dict)  # address or local part -> 451s
    # RCPT for a domain not listed here is a relay attempt: refused as Postfix
    # does (454 4.7.1 Relay access denied) unless the client logged in. Empty:
    # no relay control, every recipient is judged by the replies above.
    local_domains: tuple[str, ...] = ()
    rcpt: Callable[[str], str | None] | None = None  # a recipient's reply, before all else
    users: dict[str, str] = field(default_factory=dict)  # AUTH PLAIN/LOGIN: user -> password
    auth_before_tls: bool = False  # offer AUTH on a connection without TLS too
    echo_auth: bool = False  # a 535 that quotes the AUTH data, encoded and decoded
    # Take the message after DATA, as a real receiver does (for a real MTA
    # delivering to us, in the log tests). Probes never send DATA.
    accept_data: bool = False


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
        b = self.behaviour
        server = await asyncio.start_server(self._session, self.host, self.port,
                                            ssl=b.tls if b.implicit_tls else None)
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
        state = _State(tls=b.implicit_tls)
        while True:
            line = await reader.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            self.commands.append(command)
            if state.login:  # the next step of AUTH PLAIN or LOGIN, not a command
                writer.write(self._login(state, command).encode() + b"\r\n")
                await writer.drain()
                continue
            verb = command.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == b.close_after:
                return
            if verb == b.silent_on:
                await asyncio.sleep(3600)  # until the client leaves or the server stops
            await asyncio.sleep(b.reply_delay)
            reply = self._reply(verb, command, state)
            writer.write(reply.encode() + b"\r\n")
            await writer.drain()
            if verb == "QUIT":
                return
            if verb == "DATA" and b.accept_data:
                while (line := await reader.readline()) and line.rstrip(b"\r\n") != b".":
                    pass
                if not line:
                    return
                writer.write(b"250 2.0.0 Ok: queued\r\n")
                await writer.drain()
            if verb == "STARTTLS" and reply.startswith("220"):
                if b.broken_tls:
                    writer.write(b"this is not a TLS handshake\r\n")
                    await writer.drain()
                    return
                assert b.tls is not None
                await start_tls(writer, b.tls, server_side=True)
                state.tls, state.user = True, ""

    def _reply(self, verb: str, command: str, state: _State) -> str:
        b = self.behaviour
        if verb == "EHLO":
            if b.refuse_ehlo:
                return "502 5.5.2 Error: command not recognized"
            offers = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
            if (b.tls or b.broken_tls) and not state.tls:
                offers.append("STARTTLS")
            if b.users and (state.tls or b.auth_before_tls):
                offers.append("AUTH PLAIN LOGIN")
            lines = [b.ehlo_name or b.name, *offers]
            return "\r\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{text}"
                               for i, text in enumerate(lines))
        if verb == "HELO":
            return f"250 {b.ehlo_name or b.name}"
        if verb == "STARTTLS":
            return "220 2.0.0 Ready to start TLS"
        if verb == "AUTH" and b.users:
            mechanism, _, initial = command[5:].strip().partition(" ")
            state.login = [mechanism.upper()]
            if mechanism.upper() == "PLAIN":
                return self._login(state, initial) if initial else "334 "
            if mechanism.upper() == "LOGIN":
                return "334 VXNlcm5hbWU6"
            state.login = []
            return "504 5.5.4 Unrecognized authentication type"
        if verb == "MAIL":
            return b.mail_reply
        if verb == "RCPT":
            rcpt = command.partition(":")[2].strip().removeprefix("<").removesuffix(">")
            if b.rcpt is not None and b.rcpt(rcpt) is not None:
                return str(b.rcpt(rcpt)).format(rcpt=rcpt)
            domain = rcpt.rpartition("@")[2].lower()
            if b.local_domains and domain not in b.local_domains:
                return ("250 2.1.5 Ok" if state.user else
                        f"454 4.7.1 <{rcpt}>: Relay access denied")
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


    def _login(self, state: _State, line: str) -> str:
        """One step of AUTH PLAIN (the token) or AUTH LOGIN (user, then password)."""
        import base64
        import binascii

        try:
            decoded = base64.b64decode(line, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            state.login = []
            return "501 5.5.2 Cannot decode response"
        if state.login[0] == "LOGIN" and len(state.login) == 1:
            state.login.append(decoded)
            return "334 UGFzc3dvcmQ6"
        if state.login[0] == "LOGIN":
            user, password = state.login[1], decoded
        else:
            _, user, password = [*decoded.split("\0"), "", "", ""][:3]
        state.login = []
        if self.behaviour.users.get(user) == password and user:
            state.user = user
            return "235 2.7.0 Authentication successful"
        if self.behaviour.echo_auth:
            return (f"535 5.7.8 Error: authentication failed: {line} "
                    f"({decoded.replace(chr(0), ' ')})")
        return "535 5.7.8 Error: authentication failed"


@dataclass
class _State:
    """One session's state: TLS, who logged in, and an AUTH in progress."""

    tls: bool = False
    user: str = ""
    login: list[str] = field(default_factory=list)


def self_signed_context(name: str) -> ssl.SSLContext:
    """A server TLS context with a throwaway self-signed certificate for ``name``."""
    from check_mail.simulation.certificates import self_signed

    return self_signed(name, days=1).server_context()
