"""check_relay against a real Postfix on loopback: closed as Postfix ships
(defer_unauth_destination), open (mynetworks covering the probe), and with
SASL (Cyrus sasldb) over STARTTLS with a certificate from a test CA."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from check_mail.simulation.certificates import TestCA
from tests.helpers.nsd import free_port
from tests.helpers.plugins import need, run_plugin
from tests.helpers.postfix import Postfix, available

PASSWORD = "pa55-w0rd-for-tests"
# The probe comes from 127.0.0.1: outside mynetworks, Postfix refuses to relay.
CLOSED = """\
mynetworks = 192.0.2.1/32
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_tls_cert_file = {dir}/cert.pem
smtpd_tls_key_file = {dir}/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
"""
# Debian's Postfix reads the Cyrus configuration from $config_directory/sasl.
SASL = ("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
        "sasldb_path: {dir}/sasldb2\n")


def queued(mta: Postfix) -> str:
    """What Postfix has queued (postqueue -j: one JSON line per message)."""
    return subprocess.run(["postqueue", "-c", str(mta.dir / "conf"), "-j"], capture_output=True,
                          text=True, timeout=30).stdout


@pytest.fixture(scope="module")
def closed():
    need(not available(), available())
    need(shutil.which("saslpasswd2") is not None,
         "Cyrus SASL is not installed (apt-get install sasl2-bin libsasl2-modules)")
    issued = TestCA().issue("mail.example.test")
    mta = Postfix(free_port(), "mail.example.test", extra_main=CLOSED,
                  files={"cert.pem": issued.pem().decode(), "key.pem": issued.key_pem().decode(),
                         "conf/sasl/smtpd.conf": SASL})
    with mta:
        subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(mta.dir / "sasldb2"), "-u",
                        "example.test", "monitor"], input=PASSWORD + "\n", text=True, check=True)
        shutil.chown(mta.dir / "sasldb2", "postfix")
        shutil.chown(mta.dir / "key.pem", "postfix")
        (mta.dir / "key.pem").chmod(0o600)
        yield mta


@pytest.fixture(scope="module")
def password_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "relay.password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return str(path)


def test_postfix_as_shipped_refuses_every_attempt(closed):
    run = run_plugin("check_relay", "-H", "127.0.0.1", "-p", str(closed.port), "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[0] == "RELAY OK - 127.0.0.1 refused all 10 relay attempts from 127.0.0.1"
    assert run.lines[2].endswith("refused (454 4.7.1 <victim@example.com>: Relay access "
                                 "denied)")
    assert queued(closed) == ""


def test_postfix_relays_for_us_after_auth(closed, password_file):
    run = run_plugin("check_relay", "-H", "127.0.0.1", "-p", str(closed.port), "--auth-user",
                     "monitor@example.test", "--auth-password-file", password_file, "-vvv")
    assert run.returncode == 0, run.stdout
    assert run.lines[0] == ("RELAY OK - 127.0.0.1 refused all 10 relay attempts from 127.0.0.1; "
                            "relays for monitor@example.test after AUTH (TLSv1.3)")
    assert PASSWORD not in run.stdout + run.stderr + closed.log()
    assert queued(closed) == ""


def test_postfix_refuses_a_wrong_password(closed, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-" + PASSWORD)
    run = run_plugin("check_relay", "-H", "127.0.0.1", "-p", str(closed.port), "--auth-user",
                     "monitor@example.test", "--auth-password-file", str(wrong))
    assert run.returncode == 2
    assert run.first.startswith("RELAY CRITICAL - 127.0.0.1: does not relay for "
                                "monitor@example.test: AUTH refused: 535 5.7.8 Error: "
                                "authentication failed")
    assert "not-" + PASSWORD not in run.stdout


def test_postfix_with_the_probe_in_mynetworks_is_an_open_relay():
    """mynetworks covering the prober's address: any relay test reads open (and
    shows why the probe must run from outside)."""
    need(not available(), available())
    with Postfix(free_port(), "mail.example.test") as mta:  # mynetworks = 127.0.0.0/8
        run = run_plugin("check_relay", "-H", "127.0.0.1", "-p", str(mta.port))
        assert run.returncode == 2
        assert run.first.startswith("RELAY CRITICAL - 127.0.0.1 open relay: accepted RCPT TO:"
                                    "<victim@example.com> (250 2.1.5 Ok)")
        assert queued(mta) == ""  # RCPT accepted, but never DATA: nothing to queue
