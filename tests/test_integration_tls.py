"""check_tls against a real Postfix with a certificate chain from a test CA,
and Postfix's own TLS client (posttls-finger) as an independent judge of
which certificates a validating sender trusts."""

from __future__ import annotations

import asyncio
import datetime
import shutil
import subprocess
import sys

import pytest

from check_mail import dane, tls
from check_mail.checks import tls as check
from check_mail.deadline import Deadline
from check_mail.simulation.certificates import TestCA, self_signed
from check_mail.simulation.smtpserver import Behaviour, ScriptedSmtpServer
from check_mail.transport import Host
from tests.helpers.nsd import free_port
from tests.helpers.plugins import need, run_plugin
from tests.helpers.postfix import Postfix, available

ROOT = TestCA("Integration Root")
ISSUER = TestCA("Integration Issuer", ROOT)
TLS = """\
smtpd_tls_cert_file = {dir}/cert.pem
smtpd_tls_key_file = {dir}/key.pem
smtpd_tls_security_level = may
"""


@pytest.fixture(scope="module")
def postfix():
    need(not available(), available())
    issued = ISSUER.issue("mx.example.test")
    mta = Postfix(free_port(), "mx.example.test", extra_main=TLS,
                  files={"cert.pem": issued.pem().decode(), "key.pem": issued.key_pem().decode()})
    with mta:
        shutil.chown(mta.dir / "key.pem", "postfix")
        (mta.dir / "key.pem").chmod(0o600)
        yield mta


@pytest.fixture
def domain(nameserver, tmp_path):
    nameserver.add("example.test", "MX", "10 mx.example.test.")
    nameserver.add("mx.example.test", "A", "127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ROOT.pem())
    return nameserver, str(ca_file)


def test_postfix_with_a_chain_from_a_test_ca(postfix, domain):
    mta = postfix
    nameserver, ca_file = domain
    run = run_plugin("check_tls", "-n", nameserver.address, "-D", "example.test", "-p",
                     str(mta.port), "--ca-file", ca_file, "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[0] == ("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate valid "
                            "(expires in 89 days)")
    assert run.lines[1] == f"_{mta.port}._tcp.mx.example.test: no TLSA record"
    assert run.lines[2].startswith("mx.example.test 127.0.0.1: TLSv1.3 ")
    assert "issued by CN=Integration Issuer" in run.lines[2]


def test_postfix_without_the_ca_is_untrusted(postfix, domain):
    mta = postfix
    nameserver, _ = domain
    run = run_plugin("check_tls", "-n", nameserver.address, "-D", "example.test", "-p",
                     str(mta.port))
    assert run.returncode == 2
    assert run.first.startswith("TLS CRITICAL - mx.example.test 127.0.0.1: certificate not "
                                "trusted: self-signed certificate in certificate chain |")


@pytest.mark.skipif(sys.version_info < (3, 10), reason="Python 3.9 shows no chain")
def test_postfix_under_a_dane_ta_record(postfix, domain):
    mta = postfix
    nameserver, ca_file = domain
    nameserver.add(f"_{mta.port}._tcp.mx.example.test", "TLSA",
                   f"2 1 1 {dane.association(ISSUER.der(), 1, 1).hex()}")
    nameserver.add("_smtp._tls.example.test", "TXT", '"v=TLSRPTv1; rua=mailto:t@example.test"')
    nameserver.validate("example.test")
    run = run_plugin("check_tls", "-n", nameserver.address, "-D", "example.test", "-p",
                     str(mta.port), "--ca-file", ca_file, "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[0].endswith("DANE matches")
    assert run.lines[3].endswith("DANE-TA SPKI SHA2-256 matched at depth 1")


# -- posttls-finger's verdicts on the same certificates -----------------------------

POSTTLS_FINGER = shutil.which("posttls-finger") or "/usr/sbin/posttls-finger"
CERTIFICATES = {
    "good": ISSUER.issue("mx.example.test"),
    "wildcard": ISSUER.issue("*.example.test"),
    "other-name": ISSUER.issue("www.example.test"),
    "deeper-wildcard": ISSUER.issue("*.mx.example.test"),
    "expired": ISSUER.issue("mx.example.test", days=-1, valid_from_days=-20),
    "not-yet-valid": ISSUER.issue("mx.example.test", valid_from_days=2, days=30),
    "self-signed": self_signed("mx.example.test"),
    "other-ca": TestCA("Elsewhere").issue("mx.example.test"),
}


def posttls_finger_verifies(port: int, ca_file: str, config) -> bool:
    """Whether Postfix, at security level "secure", verifies the server as
    mx.example.test: "Verified TLS connection established"."""
    proc = subprocess.run(
        [POSTTLS_FINGER, "-c", "-l", "secure", "-F", ca_file, f"[127.0.0.1]:{port}",
         "mx.example.test"], capture_output=True, text=True, timeout=30,
        env={"MAIL_CONFIG": str(config), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    output = proc.stdout + proc.stderr
    assert "TLS connection established" in output, output
    return "Verified TLS connection established" in output


@pytest.mark.parametrize("name", sorted(CERTIFICATES))
def test_posttls_finger_agrees(name, tmp_path):
    need(shutil.which(POSTTLS_FINGER) is not None, "posttls-finger is not installed "
                                                   "(apt-get install postfix)")
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n"
                                      "smtp_dns_support_level = disabled\n")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ROOT.pem())
    with ScriptedSmtpServer(Behaviour(tls=CERTIFICATES[name].server_context())) as server:
        trusting, seeing = tls.contexts(str(ca_file))
        shake = asyncio.run(tls.handshake("127.0.0.1", server.port, deadline=Deadline(10),
                                          host="mx.example.test", trusting=trusting,
                                          seeing=seeing))
        host = Host("mx.example.test", None, (shake,))
        address = check.Address(host, shake, check.read_certificate(shake), False, None)
        ours = check.pkix_problems(address, datetime.datetime.now(datetime.timezone.utc))
        theirs = posttls_finger_verifies(server.port, str(ca_file), tmp_path)
    assert (not ours) is theirs, ours
