"""Does a relay refuse strangers, and accept us? Over the one SMTP probe; never DATA.

An open relay takes mail from anyone for anywhere; spammers find one within
hours and every blocklist lists it at once (RFC 5321 section 7.1: relaying
must be restricted). :func:`openness` tries, without authentication, the
classic ways of getting mail relayed: foreign, null and local senders to a
foreign recipient, and the address forms that broken rewriting turns into a
relay (the percent hack, bang paths, source routes, quoted local parts, a
double @, address literals; nmap's smtp-open-relay tries the same). Each is
one MAIL/RCPT pair followed by RSET. :func:`usability` logs in (AUTH, only
ever after STARTTLS or on implicit TLS) and asks to relay our own mail.

A 4xx that says relaying is denied is a refusal: Postfix's default answer
to a relay attempt is ``454 4.7.1 <...>: Relay access denied``. Any other
4xx (greylisting, a temporary policy) leaves the variant uncertain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from check_mail.deadline import Deadline
from check_mail.outcome import Word
from check_mail.smtp import Client, ProbeError, Reply, Session

FOREIGN_DOMAIN = "example.com"  # RFC 2606: even a relay that accepts cannot deliver there
VICTIM = "victim"
DOCUMENTATION_ADDRESS = "192.0.2.1"  # RFC 5737: an address literal nobody owns
# What relay refusals say, from Postfix, Exim, Sendmail, Exchange and others.
RELAY_DENIED = re.compile(
    r"relay(ing)?\b.{0,20}\b(denied|not permitted|prohibited|not allowed|refused)"
    r"|\b(unable|not permitted|not allowed|we do not) to relay|\bno relay"
    r"|relay access|not a gateway|authentication required", re.I)


class Verdict(Word):
    """What became of one relay attempt."""

    REFUSED = "refused"
    ACCEPTED = "accepted"  # RCPT got 2xx: the server would relay
    UNCERTAIN = "uncertain"  # a temporary refusal that does not say relaying is denied
    UNANSWERED = "unanswered"  # the session ended before the attempt was answered


@dataclass(frozen=True)
class Variant:
    name: str
    sender: str  # "" for the null sender <>
    recipient: str


def variants(foreign: str, local: str, address: str) -> list[Variant]:
    """The relay attempts: three senders, then seven address forms of a
    foreign recipient, each from a foreign sender."""
    stranger = f"check-mail@{foreign}"
    victim = f"{VICTIM}@{foreign}"
    literal = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
    return [
        Variant("foreign sender", stranger, victim),
        Variant("null sender", "", victim),
        Variant("local sender", f"postmaster@{local}", victim),
        Variant("percent hack", stranger, f"{VICTIM}%{foreign}@{local}"),
        Variant("bang path", stranger, f"{foreign}!{VICTIM}@{local}"),
        Variant("source route", stranger, f"@{local}:{VICTIM}@{foreign}"),
        Variant("quoted local part", stranger, f'"{VICTIM}@{foreign}"@{local}'),
        Variant("double at", stranger, f"{VICTIM}@{foreign}@{local}"),
        Variant("address literal", stranger, f"{VICTIM}@[{DOCUMENTATION_ADDRESS}]"),
        Variant("percent hack at the server's address", stranger,
                f"{VICTIM}%{foreign}@{literal}"),
    ]


def judge(reply: Reply | None) -> Verdict:
    if reply is None:
        return Verdict.UNANSWERED
    if reply.code // 100 == 2:
        return Verdict.ACCEPTED
    if reply.code // 100 == 5 or RELAY_DENIED.search(reply.text):
        return Verdict.REFUSED
    return Verdict.UNCERTAIN


@dataclass(frozen=True)
class Attempt:
    variant: Variant
    mail: Reply | None = None  # the reply to MAIL FROM
    rcpt: Reply | None = None  # the reply to RCPT TO, when MAIL was accepted

    @property
    def verdict(self) -> Verdict:
        """Decided by RCPT; a MAIL FROM refused for good refuses the attempt."""
        if self.mail is not None and self.mail.code != 250:
            return judge(self.mail)
        return judge(self.rcpt)

    @property
    def reply(self) -> Reply | None:
        """The reply that decided."""
        return self.mail if self.mail is not None and self.mail.code != 250 else self.rcpt


@dataclass(frozen=True)
class Openness:
    """The relay attempts at one address, and what the conversations showed."""

    address: str
    sessions: tuple[Session, ...]
    attempts: tuple[Attempt, ...]
    local_domain: str
    source: str  # the local address the attempts came from
    auth_in_clear: bool  # AUTH offered on a connection without TLS

    @property
    def greeting(self) -> Reply | None:
        return self.sessions[0].greeting if self.sessions else None

    @property
    def error(self) -> str:
        return next((s.error for s in self.sessions if s.error), "")

    @property
    def esmtp(self) -> bool:
        return all(s.esmtp for s in self.sessions)

    def with_verdict(self, verdict: Verdict) -> list[Attempt]:
        return [a for a in self.attempts if a.verdict is verdict]


def local_domain(host: str, announced: str) -> str:
    """A domain the server calls its own, as the sender and recipient forms
    need: the host name without its first label (a name of two labels is
    the domain itself), else the name the greeting announces."""
    for name in (host, announced):
        labels = name.rstrip(".").lower().split(".")
        if len(labels) >= 2 and not labels[-1].isdigit() and ":" not in name:
            return ".".join(labels[1:]) if len(labels) > 2 else ".".join(labels)
    return "localhost"


@dataclass(frozen=True)
class _Conversation:
    session: Session
    attempts: list[Attempt]
    local: str
    source: str
    auth_in_clear: bool


async def openness(address: str, port: int, *, deadline: Deadline, host: str,
                   helo: str | None = None, starttls: bool = True, implicit_tls: bool = False,
                   source: str | None = None, foreign: str = FOREIGN_DOMAIN,
                   local: str = "") -> Openness:
    """Try every variant at one address: the senders in one session and the
    address forms in another, at once, so that each stays below a server's
    error limit (Postfix slows down after 10 errors)."""
    import asyncio

    async def converse(group: slice) -> _Conversation:
        client = Client(address, port, deadline=deadline, helo=helo, source=source,
                        implicit_tls=implicit_tls, tls_name=host)
        attempts: list[Attempt] = []
        in_clear = False
        domain = local
        try:
            await client.open()
            await client.hello()
            in_clear = not client.tls and client.offers("AUTH")
            if starttls and not client.tls and client.offers("STARTTLS"):
                await client.starttls()
            domain = local or local_domain(host, client.greeting.domain
                                           if client.greeting else "")
            for variant in variants(foreign, domain, address)[group]:
                mail, rcpts = await client.transaction(variant.sender, [variant.recipient])
                attempts.append(Attempt(variant, mail, rcpts[0] if rcpts else None))
        except ProbeError as exc:
            client.error = str(exc)
        finally:
            await client.close()
        return _Conversation(client.session(), attempts, domain, client.local_address,
                             in_clear)

    parts = await asyncio.gather(converse(slice(0, 3)), converse(slice(3, None)))
    domain = next((p.local for p in parts if p.local), local_domain(host, ""))
    made = {a.variant.name: a for p in parts for a in p.attempts}
    attempts = tuple(made.get(v.name, Attempt(v)) for v in variants(foreign, domain, address))
    return Openness(address, tuple(p.session for p in parts), attempts, domain,
                    next((p.source for p in parts if p.source), ""),
                    any(p.auth_in_clear for p in parts))


@dataclass(frozen=True)
class Usability:
    """Whether the relay takes our own mail once we log in."""

    address: str
    session: Session
    auth: Reply | None = None
    mail: Reply | None = None
    rcpt: Reply | None = None

    @property
    def problem(self) -> str:
        """Why the relay is not usable; "" when it is."""
        if self.auth is None:
            return self.session.error or "the session ended before AUTH"
        if self.auth.code != 235:
            return f"AUTH refused: {self.auth}"
        if self.mail is not None and self.mail.code != 250:
            return f"MAIL FROM refused: {self.mail}"
        if self.rcpt is None:
            return self.session.error or "the session ended before RCPT"
        if self.rcpt.code // 100 != 2:
            return f"RCPT refused: {self.rcpt}"
        return ""


async def usability(address: str, port: int, *, deadline: Deadline, host: str, user: str,
                    password: str, sender: str, recipient: str, helo: str | None = None,
                    implicit_tls: bool = False, source: str | None = None) -> Usability:
    """Log in and ask to relay one message (MAIL, RCPT, RSET; never DATA).

    The password goes only over TLS: without STARTTLS (or implicit TLS) it
    is not sent, and that is the answer.
    """
    client = Client(address, port, deadline=deadline, helo=helo, source=source,
                    implicit_tls=implicit_tls, tls_name=host)
    auth = mail = rcpt = None
    try:
        await client.open()
        await client.hello()
        if not client.tls:
            if not client.offers("STARTTLS"):
                raise ProbeError("no STARTTLS: the password would go in clear, so it was "
                                 "not sent")
            await client.starttls()
        auth = await client.auth(user, password)
        if auth.code == 235:
            mail, rcpts = await client.transaction(sender, [recipient])
            rcpt = rcpts[0] if rcpts else None
    except ProbeError as exc:
        client.error = str(exc)
    finally:
        await client.close()
    return Usability(address, client.session(), auth, mail, rcpt)
