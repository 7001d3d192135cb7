"""check_senders and check_refusals on a real Postfix's own log and queue:
users submit mail with SASL over STARTTLS and a script with sendmail, and
transport_maps routes hotmail.com and gmail.com to scripted servers on
loopback that answer as Microsoft and Google do when they refuse us.
Nothing leaves loopback."""

from __future__ import annotations

import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from check_mail.simulation.certificates import TestCA
from check_mail.simulation.smtpserver import Behaviour, ScriptedSmtpServer
from tests.helpers.nsd import free_port
from tests.helpers.plugins import need, run_plugin
from tests.helpers.postfix import Postfix, available

PASSWORD = "pa55-w0rd-for-log-tests"
BANNED = ("550 5.7.606 Access denied, banned sending IP [127.0.0.1]. To request removal from "
          "this list please visit https://sender.office.com/")
RATE = ("421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from "
        "your IP address")
MAIN = """\
mynetworks = 192.0.2.1/32
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_tls_cert_file = {{dir}}/cert.pem
smtpd_tls_key_file = {{dir}}/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
transport_maps = inline:{{{{ hotmail.com=smtp:[127.0.0.1]:{outlook}, gmail.com=smtp:[127.0.0.1]:{gmail}, example.org=smtp:[127.0.0.1]:{sink}, example.test=smtp:[127.0.0.1]:{sink} }}}}
smtp_tls_security_level = none
"""  # noqa: E501
SASL = ("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
        "sasldb_path: {dir}/sasldb2\n")


@pytest.fixture(scope="module")
def postfix():
    need(not available(), available())
    need(shutil.which("saslpasswd2") is not None,
         "Cyrus SASL is not installed (apt-get install sasl2-bin libsasl2-modules)")
    receivers = [ScriptedSmtpServer(Behaviour(name="outlook", rcpt=lambda _: BANNED)).start(),
                 ScriptedSmtpServer(Behaviour(name="gmail", rcpt=lambda _: RATE)).start(),
                 ScriptedSmtpServer(Behaviour(name="sink", unknown_rcpt="250 2.1.5 Ok",
                                              accept_data=True)).start()]
    issued = TestCA().issue("mail.example.test")
    main = MAIN.format(outlook=receivers[0].port, gmail=receivers[1].port,
                       sink=receivers[2].port)
    mta = Postfix(free_port(), "mail.example.test", extra_main=main,
                  files={"cert.pem": issued.pem().decode(), "key.pem": issued.key_pem().decode(),
                         "conf/sasl/smtpd.conf": SASL})
    try:
        with mta:
            for user in ("alice", "bob"):
                subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(mta.dir / "sasldb2"), "-u",
                                "example.test", user], input=PASSWORD + "\n", text=True,
                               check=True)
            shutil.chown(mta.dir / "sasldb2", "postfix")
            shutil.chown(mta.dir / "key.pem", "postfix")
            (mta.dir / "key.pem").chmod(0o600)
            submit(mta, "alice@example.test", ["a1@example.org", "a2@example.org"], 3)
            submit(mta, "bob@example.test", ["victim@hotmail.com"], 2)
            submit(mta, "bob@example.test", ["someone@gmail.com"], 1)
            for _ in range(4):
                subprocess.run(["sendmail", "-C", str(mta.dir / "conf"), "-f",
                                "www-data@example.test", "x@example.org"],
                               input="Subject: from a script\n\nhello\n", text=True, check=True)
            wait_for(mta, lambda log: log.count("status=") >= 3 * 2 + 2 + 1 + 4)
            yield mta
    finally:
        for receiver in receivers:
            receiver.stop()


def submit(mta: Postfix, user: str, recipients: list[str], count: int) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=30) as client:
        client.starttls(context=context)
        client.login(user, PASSWORD)
        for i in range(count):
            client.sendmail(user, recipients, f"Subject: {i}\r\n\r\nhello\r\n")


def wait_for(mta: Postfix, done, seconds: float = 60) -> None:
    for _ in range(int(seconds * 10)):
        if done(mta.log()):
            return
        time.sleep(0.1)
    raise AssertionError(f"Postfix did not get there:\n{mta.log()[-3000:]}")


def test_senders_from_a_real_postfix_log(postfix):
    run = run_plugin("check_senders", "--log", str(postfix.dir / "maillog"), "--no-state",
                     "-w", "4", "-v")
    assert run.returncode == 0, run.stdout + postfix.log()[-2000:]
    assert run.lines[0] == ("SENDERS OK - 3 senders, 10 messages in 24h; the most: "
                            "www-data@example.test with 4 (warning past 4)")
    assert run.lines[1].startswith("www-data@example.test: 4 (local user; from uid 0; first ")
    assert sorted(line.split("; first")[0] for line in run.lines[2:4]) == [
        "alice@example.test: 3 (SASL user; from unknown[127.0.0.1]",
        "bob@example.test: 3 (SASL user; from unknown[127.0.0.1]"]


def test_refusals_from_a_real_postfix_log_and_queue(postfix):
    run = run_plugin("check_refusals", "--log", str(postfix.dir / "maillog"), "--no-state",
                     "--postfix-config", str(postfix.dir / "conf"), "-v")
    assert run.returncode == 2, run.stdout
    # The address the receiver names is the relay's own here, on loopback: not shown.
    assert run.lines[0] == ("REFUSALS CRITICAL - outlook.com blocks: 550 5.7.606 Access denied, "
                            "banned sending IP [127.0.0.1] (2 in 1h); gmail.com rate-limits (1)")
    assert "queue: 1 messages, 1 deferred (gmail.com 1)" in run.lines
    assert "deferred=1;;;0" in run.lines[-1]


def test_a_stopped_postfix_is_critical_never_an_empty_queue(postfix):
    """Issue 21: the real postqueue of a Postfix that is not running says
    "mail system is down": CRITICAL, saying so. Runs last: it stops the
    module's Postfix (the fixture's exit copes with one already stopped)."""
    import os

    master = int((postfix.dir / "queue" / "pid" / "master.pid").read_text().split()[0])
    stopped = postfix._postfix("stop")
    assert stopped.returncode == 0, stopped.stderr
    for _ in range(200):  # until master has gone
        try:
            os.kill(master, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    # As the monitoring user, not root: root's postqueue reads a stopped queue
    # itself. A user's postqueue -c must be allowed by the default main.cf
    # (alternate_config_directories): one of the test's own, bound over
    # /etc/postfix in a mount namespace of the wrapper's alone.
    need(os.getuid() == 0 and shutil.which("setpriv") is not None
         and shutil.which("unshare") is not None,
         "running postqueue as another user takes root, setpriv and unshare")
    etc = postfix.dir / "etc-postfix"
    shutil.copytree("/etc/postfix", etc, symlinks=True)
    (etc / "main.cf").write_text(f"compatibility_level = 3.6\n"
                                 f"alternate_config_directories = {postfix.dir / 'conf'}\n")
    as_nobody = postfix.dir / "postqueue-as-nobody"
    as_nobody.write_text(f'#!/bin/sh\nexec unshare -m --propagation private sh -c \''
                         f'mount --bind "$0" /etc/postfix && exec setpriv --reuid=65534 '
                         f'--regid=65534 --clear-groups postqueue "$@"\' "{etc}" "$@"\n')
    as_nobody.chmod(0o755)
    run = run_plugin("check_refusals", "--log", str(postfix.dir / "maillog"), "--no-state",
                     "--postfix-config", str(postfix.dir / "conf"), "--postqueue",
                     str(as_nobody))
    assert run.returncode == 2, run.stdout
    assert run.lines[0].startswith("REFUSALS CRITICAL - Postfix is not running "
                                   "(postqueue-as-nobody failed: postqueue: fatal: Queue report "
                                   "unavailable - mail system is down (Connect to the Postfix "
                                   "showq service: Connection refused)); outlook.com blocks (2), "
                                   "gmail.com rate-limits (1) |"), run.stdout
