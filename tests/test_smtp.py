"""The SMTP probe against scripted servers, hostile ones included."""

from __future__ import annotations

import asyncio
import socket

import pytest

from check_mail import smtp
from check_mail.deadline import Deadline
from check_mail.dns import Resolver
from check_mail.simulation.smtpserver import Behaviour, self_signed_context


def probe(server, seconds: float = 5, **options) -> smtp.Session:
    return asyncio.run(smtp.probe(server.host, server.port, deadline=Deadline(seconds),
                                  helo="monitor.example.org", **options))


def test_greeting_and_ehlo(smtp_server):
    server = smtp_server(Behaviour(name="mx.example.org"))
    session = probe(server)
    assert session.error == ""
    assert session.greeting == smtp.Reply(220, ("mx.example.org ESMTP",))
    assert session.greeting.domain == "mx.example.org"
    assert session.ehlo.domain == "mx.example.org"
    assert {"PIPELINING", "8BITMIME", "SIZE"} <= session.ehlo.keywords
    assert server.commands == ["EHLO monitor.example.org", "QUIT"]


def test_mail_and_rcpt_then_rset_and_quit(smtp_server):
    server = smtp_server(Behaviour(mailboxes={"postmaster": "250 2.1.5 Ok"}))
    session = probe(server, mail_from="", recipients=["postmaster@example.net",
                                                      "hostmaster@example.net"])
    assert session.error == ""
    assert server.commands == [
        "EHLO monitor.example.org", "MAIL FROM:<>", "RCPT TO:<postmaster@example.net>",
        "RCPT TO:<hostmaster@example.net>", "RSET", "QUIT"]
    assert [str(e.reply) for e in session.exchanges] == [
        "250 2.1.0 Ok", "250 2.1.5 Ok",
        "550 5.1.1 <hostmaster@example.net>: Recipient address rejected: User unknown",
        "250 2.0.0 Ok"]
    assert session.reply_to("RCPT TO:<hostmaster").enhanced == "5.1.1"


def test_helo_fallback(smtp_server):
    server = smtp_server(Behaviour(refuse_ehlo=True, ehlo_name="old.example.net"))
    session = probe(server)
    assert session.error == ""
    assert session.ehlo == smtp.Reply(250, ("old.example.net",))
    assert server.commands[:2] == ["EHLO monitor.example.org", "HELO monitor.example.org"]


def test_multiline_greeting(smtp_server):
    server = smtp_server(Behaviour(greeting=b"220-mx.example.net first\r\n220-second\r\n"
                                            b"220 mx.example.net third\r\n"))
    session = probe(server)
    assert session.greeting.lines == ("mx.example.net first", "second", "mx.example.net third")
    assert session.greeting.domain == "mx.example.net"


@pytest.mark.parametrize(("behaviour", "error"), [
    (Behaviour(greeting=b"HELLO, this is not SMTP\r\n"),
     "garbage in the greeting: 'HELLO, this is not SMTP'"),
    (Behaviour(greeting=b"220-mx.example.net\r\n250 wrong code\r\n"),
     "garbage in the greeting: '250 wrong code'"),
    (Behaviour(greeting=b"220 " + b"x" * 5000 + b"\r\n"), "overlong line in the greeting"),
    (Behaviour(endless_greeting=True), "endless continuation lines in the greeting"),
    (Behaviour(greeting=b"220-mx.example.net\r\n", close_after_greeting=True),
     "connection closed in the middle of the greeting"),
    (Behaviour(greeting=b"", close_after_greeting=True), "connection closed before the greeting"),
    (Behaviour(greeting=b"554 5.7.1 go away\r\n"), "greeting refused: 554 5.7.1 go away"),
    (Behaviour(close_after="EHLO"), "connection closed before the reply to EHLO"),
])
def test_hostile_servers_end_the_session_cleanly(smtp_server, behaviour, error):
    session = probe(smtp_server(behaviour))
    assert session.error == error


def test_a_closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = asyncio.run(smtp.probe("127.0.0.1", port, deadline=Deadline(2)))
    assert session.error == "cannot connect: Connection refused"


def test_a_slow_greeting_is_bounded_by_the_deadline(smtp_server):
    session = probe(smtp_server(Behaviour(greeting_delay=5)), seconds=0.3)
    assert session.error == "timed out waiting for the greeting"


def test_a_dripping_greeting_is_bounded_by_the_whole_deadline(smtp_server):
    # Each byte arrives well within any per-read timeout; only an overall
    # deadline stops this.
    session = probe(smtp_server(Behaviour(drip=0.05)), seconds=0.4)
    assert session.error == "timed out waiting for the greeting"


def test_a_tarpit_is_bounded_by_the_deadline(smtp_server):
    session = probe(smtp_server(Behaviour(reply_delay=5)), seconds=0.3)
    assert session.greeting.code == 220
    assert session.error == "timed out waiting for the reply to EHLO"


def test_a_disconnect_after_mail(smtp_server):
    session = probe(smtp_server(Behaviour(close_after="MAIL")), mail_from="",
                    recipients=["postmaster@example.net"])
    assert session.error == "connection closed before the reply to MAIL"


def test_starttls(smtp_server):
    server = smtp_server(Behaviour(tls=self_signed_context("mail.example.net")))
    session = probe(server, starttls=True, mail_from="", recipients=["postmaster@example.net"])
    assert session.error == ""
    assert session.tls.startswith("TLSv1.")
    assert server.commands[:3] == ["EHLO monitor.example.org", "STARTTLS",
                                   "EHLO monitor.example.org"]


def test_a_broken_tls_handshake(smtp_server):
    session = probe(smtp_server(Behaviour(broken_tls=True)), starttls=True)
    assert session.error.startswith("TLS handshake failed")
    assert session.tls == ""


def test_the_probe_refuses_to_send_data():
    conn = smtp._Connection(None, None, Deadline(1))
    for command in ("DATA", "data", "BDAT 100 LAST"):
        with pytest.raises(AssertionError, match="never sends"):
            asyncio.run(conn.command(command))


def test_sessions_run_at_once(smtp_server):
    servers = [smtp_server(Behaviour(name=f"mx{i}.example.net", greeting_delay=0.2))
               for i in range(3)]
    deadline = Deadline(0.5)  # less than the three greetings one after another
    sessions = Resolver(deadline=deadline).run_all(
        smtp.probe(s.host, s.port, deadline=deadline, helo="monitor.example.org")
        for s in servers)
    assert [s.greeting.domain for s in sessions] == ["mx0.example.net", "mx1.example.net",
                                                     "mx2.example.net"]


def test_ipv6_loopback(smtp_server):
    try:
        server = smtp_server(Behaviour(name="v6.example.net"), host="::1")
    except OSError as exc:
        pytest.skip(f"cannot listen on [::1]: {exc}")
    assert probe(server).greeting.domain == "v6.example.net"


def test_default_helo_needs_no_dns():
    name = smtp.default_helo("192.0.2.1")
    assert "." in name or name == "[192.0.2.1]"
    assert smtp.default_helo("::1") in (name, "[IPv6:::1]")


@pytest.mark.parametrize("command", [
    "EHLO [x]\r\nDATA", "EHLO x\nDATA", "MAIL FROM:<a@b.example>\rDATA", "RCPT TO:<a\x00@b>",
    "RCPT TO:<\u00e4@b.example>", "HELO x\r\n"])
def test_no_command_with_a_line_break_reaches_the_wire(command):
    """Whatever a caller passes: one command is one line, so a HELO name or an
    address cannot smuggle DATA (or anything) onto the wire."""

    class Wire:
        written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

    wire = Wire()
    conn = smtp._Connection(None, wire, Deadline(1))  # type: ignore[arg-type]
    with pytest.raises(smtp.ProbeError, match="refused to send"):
        asyncio.run(conn.command(command))
    assert wire.written == []


def test_a_probe_with_a_hostile_helo_ends_without_sending_it(smtp_server):
    server = smtp_server(Behaviour())
    session = asyncio.run(smtp.probe(server.host, server.port, deadline=Deadline(5),
                                     helo="[x]\r\nDATA"))
    assert session.error.startswith("refused to send EHLO")
    assert server.commands == []


@pytest.mark.parametrize(("helo", "valid"), [
    ("mail.example.org", True), ("localhost", True), ("[192.0.2.1]", True),
    ("[IPv6:2001:db8::1]", True), ("[ipv6:::1]", True), ("192.0.2.1", False),
    ("[192.0.2.1", False), ("[2001:db8::1]", False), ("[IPv6:192.0.2.1]", False),
    ("[IPv6:fe80::1%eth0]", False), ("", False), ("a b", False), ("x\r\nDATA", False)])
def test_what_ehlo_may_say(helo, valid):
    assert smtp.valid_helo(helo) is valid
