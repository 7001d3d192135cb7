"""Do a domain's mail exchangers accept the role mailboxes? Asked over SMTP
the way callouts do it: MAIL, one RCPT per mailbox, RSET, QUIT; never DATA.

RFC 5321 4.5.1 requires every mail domain to accept postmaster; RFC 2142
adds hostmaster and abuse. A random local part is asked first: a server that
accepts anything (a catch-all) proves little by accepting postmaster. A
temporary refusal (greylisting) is asked again once, after a wait that stays
inside the deadline.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from check_mail.deadline import Deadline
from check_mail.outcome import Word
from check_mail.smtp import Reply, Session, probe

ROLE_MAILBOXES = ("postmaster", "hostmaster", "abuse")


class Verdict(Word):
    """What became of one RCPT."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEFERRED = "deferred"  # 4xx: greylisting or a temporary policy
    UNANSWERED = "unanswered"  # the session ended before the RCPT was answered


@dataclass(frozen=True)
class Mailbox:
    """The answer to one RCPT: ``recipient`` is what was asked for."""

    name: str  # the mailbox as the user named it ("postmaster", "<postmaster>" for bare)
    recipient: str
    reply: Reply | None
    retried: bool = False

    @property
    def verdict(self) -> Verdict:
        if self.reply is None:
            return Verdict.UNANSWERED
        if self.reply.code in (250, 251):
            return Verdict.ACCEPTED
        return Verdict.DEFERRED if self.reply.code // 100 == 4 else Verdict.REJECTED


@dataclass(frozen=True)
class Probe:
    """What one address of one exchanger said."""

    exchanger: str
    address: str
    session: Session
    mailboxes: tuple[Mailbox, ...] = ()
    catch_all: Mailbox | None = None  # the random local part
    retry: Session | None = None

    @property
    def error(self) -> str:
        """Why no mailbox could be asked (the server, or MAIL, failed)."""
        if self.session.error and not any(m.reply for m in self.mailboxes):
            return self.session.error
        sender = self.session.reply_to("MAIL")
        if sender is not None and sender.code != 250:
            return f"MAIL FROM refused: {sender}"
        return ""


def random_local_part() -> str:
    return f"check-mail-{secrets.token_hex(5)}"


async def ask(
    exchanger: str,
    address: str,
    port: int,
    domain: str,
    mailboxes: Sequence[str],
    *,
    deadline: Deadline,
    helo: str | None = None,
    starttls: bool = True,
    sender: str = "",
    bare_postmaster: bool = False,
    greylist_wait: float = 3.0,
) -> Probe:
    """One address: the catch-all probe, then every mailbox; deferred ones once more."""
    import asyncio

    wanted = [(name, f"{name}@{domain}") for name in mailboxes]
    if bare_postmaster:
        wanted.append(("<postmaster>", "postmaster"))
    random = random_local_part()
    recipients = [f"{random}@{domain}", *(rcpt for _, rcpt in wanted)]

    async def session_for(rcpts: list[str]) -> Session:
        return await probe(address, port, deadline=deadline, helo=helo, starttls=starttls,
                           mail_from=sender, recipients=rcpts)

    session = await session_for(recipients)
    answers = {rcpt: _rcpt_reply(session, rcpt) for rcpt in recipients}
    deferred = [rcpt for rcpt, reply in answers.items()
                if rcpt != recipients[0] and reply is not None and reply.code // 100 == 4]
    retry = None
    if deferred and deadline.remaining() > greylist_wait + 1.0:
        await asyncio.sleep(greylist_wait)
        retry = await session_for(deferred)
        for rcpt in deferred:
            again = _rcpt_reply(retry, rcpt)
            if again is not None:
                answers[rcpt] = again
    found = tuple(Mailbox(name, rcpt, answers[rcpt], retry is not None and rcpt in deferred)
                  for name, rcpt in wanted)
    catch_all = Mailbox(random, recipients[0], answers[recipients[0]])
    return Probe(exchanger, address, session, found, catch_all, retry)


def _rcpt_reply(session: Session, recipient: str) -> Reply | None:
    return session.reply_to(f"RCPT TO:<{recipient}>")

