"""Asking mail exchangers for role mailboxes, against scripted SMTP servers."""

from __future__ import annotations

import asyncio

from check_mail import postmaster
from check_mail.deadline import Deadline
from check_mail.simulation.smtpserver import Behaviour

ROLES = ("postmaster", "hostmaster", "abuse")
OK = "250 2.1.5 Ok"


def ask(server, seconds=5.0, mailboxes=ROLES, **options):
    return asyncio.run(postmaster.ask("mx.example.org", server.host, server.port, "example.org",
                                      mailboxes, deadline=Deadline(seconds),
                                      helo="monitor.example.org", **options))


def verdicts(probe):
    return {m.name: m.verdict for m in probe.mailboxes}


def test_a_550_for_hostmaster(smtp_server):
    server = smtp_server(Behaviour(mailboxes={"postmaster": OK, "abuse": OK}))
    probe = ask(server)
    assert verdicts(probe) == {"postmaster": "accepted", "hostmaster": "rejected",
                               "abuse": "accepted"}
    assert probe.catch_all.verdict == "rejected"
    assert probe.error == ""
    rcpts = [c for c in server.commands if c.startswith("RCPT")]
    assert rcpts[0].startswith("RCPT TO:<check-mail-")  # the random address comes first
    assert rcpts[1:] == ["RCPT TO:<postmaster@example.org>", "RCPT TO:<hostmaster@example.org>",
                         "RCPT TO:<abuse@example.org>"]
    assert server.commands[-2:] == ["RSET", "QUIT"]


def test_greylisting_that_clears_on_retry(smtp_server):
    server = smtp_server(Behaviour(mailboxes={m: OK for m in ROLES}, greylist={"abuse": 1}))
    probe = ask(server, greylist_wait=0.1)
    assert verdicts(probe)["abuse"] == "accepted"
    assert [m.retried for m in probe.mailboxes] == [False, False, True]
    assert server.sessions == 2
    assert [c for c in server.commands if c.startswith("RCPT")][-1] == \
        "RCPT TO:<abuse@example.org>"


def test_greylisting_that_does_not_clear(smtp_server):
    server = smtp_server(Behaviour(mailboxes={m: OK for m in ROLES}, greylist={"abuse": 9}))
    probe = ask(server, greylist_wait=0.1)
    assert verdicts(probe)["abuse"] == "deferred"
    assert str(probe.mailboxes[2].reply) == (
        "451 4.7.1 <abuse@example.org>: Recipient address rejected: Greylisted")


def test_no_retry_without_time_for_it(smtp_server):
    server = smtp_server(Behaviour(mailboxes={m: OK for m in ROLES}, greylist={"abuse": 1}))
    probe = ask(server, seconds=2, greylist_wait=5)
    assert verdicts(probe)["abuse"] == "deferred"
    assert server.sessions == 1


def test_a_catch_all(smtp_server):
    probe = ask(smtp_server(Behaviour(unknown_rcpt=OK)))
    assert probe.catch_all.verdict == "accepted"
    assert set(verdicts(probe).values()) == {"accepted"}


def test_a_tarpit_ends_at_the_deadline(smtp_server):
    probe = ask(smtp_server(Behaviour(reply_delay=5)), seconds=0.5)
    assert probe.error == "timed out waiting for the reply to EHLO"
    assert set(verdicts(probe).values()) == {"unanswered"}


def test_a_disconnect_after_mail(smtp_server):
    probe = ask(smtp_server(Behaviour(close_after="MAIL")))
    assert probe.error == "connection closed before the reply to MAIL"


def test_a_refused_sender(smtp_server):
    server = smtp_server(Behaviour(mail_reply="550 5.7.1 <>: Sender address rejected"))
    probe = ask(server)
    assert probe.error == "MAIL FROM refused: 550 5.7.1 <>: Sender address rejected"
    assert not [c for c in server.commands if c.startswith("RCPT")]


def test_the_sender_can_be_chosen(smtp_server):
    server = smtp_server(Behaviour(mailboxes={m: OK for m in ROLES}))
    ask(server, sender="monitor@example.org")
    assert "MAIL FROM:<monitor@example.org>" in server.commands


def test_bare_postmaster(smtp_server):
    server = smtp_server(Behaviour(mailboxes={"postmaster": OK}))
    probe = ask(server, mailboxes=("postmaster",), bare_postmaster=True)
    assert [(m.name, m.recipient, m.verdict) for m in probe.mailboxes] == [
        ("postmaster", "postmaster@example.org", "accepted"),
        ("<postmaster>", "postmaster", "accepted")]
    assert "RCPT TO:<postmaster>" in server.commands
