"""check_relay against scripted SMTP servers: closed, open, half open, greylisting,
careless with passwords, refusing to talk; and relaying for us after AUTH."""

from __future__ import annotations

import base64

import pytest

from check_mail import relay
from check_mail.checks import relay as check
from check_mail.simulation.certificates import self_signed
from check_mail.simulation.smtpserver import Behaviour
from tests.helpers.plugins import run_check, run_plugin

PASSWORD = "s3cr3t-Pa55"
LOCAL = ("example.org",)
DENIED = "554 5.7.1 <{rcpt}>: Relay access denied"


@pytest.fixture
def host(nameserver):
    """relay.example.org at 127.0.0.1."""
    nameserver.add("relay.example.org", "A", "127.0.0.1")
    return nameserver


def relay_run(nameserver, server, *args: str):
    return run_check(check, "-n", nameserver.address, "-H", "relay.example.org", "-p",
                     str(server.port), "--helo", "monitor.example.net", *args)


def closed(**options) -> Behaviour:
    return Behaviour(local_domains=LOCAL, **options)


def test_a_closed_relay_is_ok(host, smtp_server):
    server = smtp_server(closed())
    run = relay_run(host, server, "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[0] == ("RELAY OK - relay.example.org refused all 10 relay attempts from "
                            "127.0.0.1")
    assert run.lines[1] == "127.0.0.1: probed from 127.0.0.1, local domain example.org"
    assert run.lines[2] == ("127.0.0.1: foreign sender: MAIL FROM:<check-mail@example.com> "
                            "RCPT TO:<victim@example.com>: refused (454 4.7.1 "
                            "<victim@example.com>: Relay access denied)")
    assert run.lines[-1].startswith("| accepted=0;;;0;10 attempts=10;;;0;10 time=")
    rcpts = sorted(c for c in server.commands if c.startswith("RCPT"))  # two sessions at once
    assert rcpts == sorted(f"RCPT TO:<{v.recipient}>" for v in
                           relay.variants("example.com", "example.org", "127.0.0.1"))


def test_an_open_relay_is_critical(host, smtp_server):
    server = smtp_server(Behaviour(unknown_rcpt="250 2.1.5 Ok"))
    run = relay_run(host, server)
    assert run.returncode == 2
    assert run.first.startswith("RELAY CRITICAL - 127.0.0.1 open relay: accepted RCPT TO:"
                                "<victim@example.com> (250 2.1.5 Ok) (+9 more) | "
                                "accepted=10;;;0;10 attempts=10;;;0;10")


def test_one_broken_address_form_is_enough(host, smtp_server):
    server = smtp_server(closed(rcpt=lambda rcpt: "250 2.1.5 Ok" if "%" in rcpt else None))
    run = relay_run(host, server, "--local-domain", "example.org")
    assert run.returncode == 2
    assert run.first.startswith("RELAY CRITICAL - 127.0.0.1 open relay: accepted RCPT TO:"
                                "<victim%example.com@example.org> (250 2.1.5 Ok) (+1 more) |")


def test_greylisting_cannot_tell(host, smtp_server):
    """A server that greylists before it looks at the destination."""
    server = smtp_server(Behaviour(greylist={"victim": 100}, unknown_rcpt=DENIED))
    run = relay_run(host, server)
    assert run.returncode == 1
    assert run.first.startswith("RELAY WARNING - 127.0.0.1: cannot tell whether it relays: "
                                "foreign sender got 451 4.7.1 <victim@example.com>: Recipient "
                                "address rejected: Greylisted (+")


def test_a_refused_mail_from_refuses_the_attempt(host, smtp_server):
    server = smtp_server(Behaviour(mail_reply="550 5.7.1 Sender rejected",
                                   unknown_rcpt="250 2.1.5 Ok"))
    run = relay_run(host, server)
    assert run.returncode == 0
    assert "RCPT" not in " ".join(server.commands)


def test_auth_in_clear_warns(host, smtp_server):
    server = smtp_server(closed(users={"u": "p"}, auth_before_tls=True))
    run = relay_run(host, server, "--no-starttls")
    assert run.returncode == 1
    assert run.first.startswith("RELAY WARNING - 127.0.0.1 offers AUTH before STARTTLS: "
                                "passwords may travel in clear |")


@pytest.mark.parametrize(("behaviour", "line"), [
    (Behaviour(greeting=b"554 5.7.1 No SMTP service here\r\n"),
     "127.0.0.1: greeting refused: 554 5.7.1 No SMTP service here (no relaying, and no mail "
     "either)"),
    (closed(refuse_ehlo=True), "127.0.0.1: no EHLO (ESMTP): it answered only HELO"),
])
def test_a_server_that_will_not_talk_properly_is_critical(host, smtp_server, behaviour, line):
    run = relay_run(host, smtp_server(behaviour))
    assert run.returncode == 2
    assert run.first.startswith(f"RELAY CRITICAL - {line}")


def test_a_closed_port_is_critical(host):
    run = run_check(check, "-n", host.address, "-H", "relay.example.org", "-p", "9")
    assert run.returncode == 2
    assert run.first.startswith("RELAY CRITICAL - 127.0.0.1: cannot connect: Connection "
                                "refused |")


@pytest.fixture
def smarthost(host, smtp_server, tmp_path):
    """A smarthost with STARTTLS that relays for monitor@example.org once logged in."""
    server = smtp_server(closed(tls=self_signed("relay.example.org").server_context(),
                                users={"monitor@example.org": PASSWORD}))
    secret = tmp_path / "relay.password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return server, str(secret)


def test_relaying_for_us_after_auth(host, smarthost):
    server, secret = smarthost
    run = relay_run(host, server, "--auth-user", "monitor@example.org",
                    "--auth-password-file", secret, "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[0] == ("RELAY OK - relay.example.org refused all 10 relay attempts from "
                            "127.0.0.1; relays for monitor@example.org after AUTH (TLSv1.3)")
    assert "127.0.0.1: relaying for monitor@example.org: accepted (250 2.1.5 Ok)" in run.lines
    assert PASSWORD not in run.stdout
    assert "MAIL FROM:<monitor@example.org>" in server.commands


@pytest.mark.parametrize("verbose", ["-v", "-vvv"])
def test_a_wrong_password_is_critical_and_never_shown(host, smarthost, tmp_path, verbose):
    server, _ = smarthost
    wrong = tmp_path / "wrong"
    wrong.write_text("n0t-" + PASSWORD)
    run = run_plugin("check_relay", "-n", host.address, "-H", "relay.example.org", "-p",
                     str(server.port), "--auth-user", "monitor@example.org",
                     "--auth-password-file", str(wrong), verbose)
    assert run.returncode == 2
    assert run.lines[0] == ("RELAY CRITICAL - 127.0.0.1: does not relay for monitor@example.org: "
                            "AUTH refused: 535 5.7.8 Error: authentication failed")
    assert PASSWORD not in run.stdout + run.stderr
    assert "bjB0LX" not in run.stdout  # nor its base64


@pytest.mark.parametrize("verbose", ["-v", "-vvv"])
def test_a_server_that_quotes_the_password_never_gets_it_shown(host, smtp_server, tmp_path,
                                                               verbose):
    """Issue 21: a 535 that echoes the AUTH data, in base64 and decoded."""
    server = smtp_server(closed(tls=self_signed("relay.example.org").server_context(),
                                users={"monitor@example.org": PASSWORD}, echo_auth=True))
    wrong = tmp_path / "wrong"
    wrong.write_text("n0t-" + PASSWORD)
    run = run_plugin("check_relay", "-n", host.address, "-H", "relay.example.org", "-p",
                     str(server.port), "--auth-user", "monitor@example.org",
                     "--auth-password-file", str(wrong), verbose)
    assert run.returncode == 2, run.stdout
    assert "535 5.7.8 Error: authentication failed: " in run.lines[0]
    assert "( monitor@example.org ****)" in run.lines[0]  # decoded: masked
    token = base64.b64encode(f"\0monitor@example.org\0n0t-{PASSWORD}".encode()).decode()
    for shown in ("n0t-" + PASSWORD, token, token[24:-4]):
        assert shown not in run.stdout + run.stderr


def test_the_password_from_the_environment(host, smarthost):
    import os
    import subprocess

    from tests.helpers.plugins import executable

    server, _ = smarthost
    env = dict(os.environ, CHECK_MAIL_RELAY_PASSWORD=PASSWORD)
    proc = subprocess.run([executable("check_relay"), "-n", host.address, "-H",
                           "relay.example.org", "-p", str(server.port), "--auth-user",
                           "monitor@example.org"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout
    assert PASSWORD not in proc.stdout + proc.stderr


def test_no_password_in_clear(host, smtp_server, tmp_path):
    server = smtp_server(closed(users={"monitor@example.org": PASSWORD}, auth_before_tls=True))
    secret = tmp_path / "p"
    secret.write_text(PASSWORD)
    run = relay_run(host, server, "--auth-user", "monitor@example.org",
                    "--auth-password-file", str(secret))
    assert run.returncode == 2
    assert "no STARTTLS: the password would go in clear, so it was not sent" in run.first
    assert not any(c.startswith("AUTH") for c in server.commands)


def test_implicit_tls(host, smtp_server):
    server = smtp_server(closed(tls=self_signed("relay.example.org").server_context(),
                                implicit_tls=True))
    run = relay_run(host, server, "--tls", "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[1].startswith("127.0.0.1 (TLSv1.3): probed from 127.0.0.1")


def test_every_address_of_both_families(host, smtp_server):
    first = smtp_server(closed())
    try:
        second = smtp_server(closed(), host="::1", port=first.port)
    except OSError as exc:
        pytest.skip(f"cannot listen on [::1]: {exc}")
    host.add("relay.example.org", "AAAA", "::1")
    run = relay_run(host, first)
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("RELAY OK - relay.example.org (2 addresses) refused all 20 "
                                "relay attempts from 127.0.0.1, ::1 |")
    assert second.sessions == 2
    literal = [c for c in second.commands if "%example.com@[" in c]
    assert literal == ["RCPT TO:<victim%example.com@[IPv6:::1]>"]


@pytest.mark.parametrize(("args", "message"), [
    (["-H", "relay.example.org", "--auth-user", "u", "--auth-password-file", "/nonexistent"],
     "--auth-password-file /nonexistent: No such file or directory"),
    (["-H", "relay.example.org", "--auth-user", "u", "--auth-password-file", "/"],
     "--auth-password-file /: Is a directory"),
    (["-H", "relay.example.org", "--auth-user", "u"],
     "--auth-user needs its password: --auth-password-file FILE or CHECK_MAIL_RELAY_PASSWORD "
     "in the environment"),
    (["-H", "relay.example.org", "--auth-password-file", "/etc/hostname"],
     "--auth-password-file goes with --auth-user"),
    (["-H", "relay.example.org", "-p", "99999"],
     "argument -p/--port: '99999' is not a port (1-65535)"),
    (["-H", "bad host"], "argument -H/--host: 'bad host' is neither an IP address nor a "
                         "hostname"),
    (["-H", "relay.example.org", "--source", "nowhere"],
     "argument --source: 'nowhere' is not an IP address"),
])
def test_bad_input_is_one_unknown_line(host, args, message):
    run = run_plugin("check_relay", "-n", host.address, *args)
    assert run.returncode == 3
    assert run.lines[0] == f"RELAY UNKNOWN - {message}"
    assert run.stderr == ""
