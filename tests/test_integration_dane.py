"""DANE for real: TLSA records in a zone signed by ldns-signzone, served by NSD
and validated by a real Unbound, so the AD bit check_tls reads is genuine;
and OpenSSL's own DANE code (openssl s_client) as an independent judge of
the same certificates and records."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys

import pytest

from check_mail import dane, tls
from check_mail.deadline import Deadline
from check_mail.dns import Nameserver, Resolver
from check_mail.simulation.certificates import TestCA, self_signed
from check_mail.simulation.smtpserver import Behaviour, ScriptedSmtpServer
from tests.helpers import unbound
from tests.helpers.nsd import NSD
from tests.helpers.plugins import need, run_plugin

SOA = "$ORIGIN {zone}.\n$TTL 300\n@ IN SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 300\n" \
      "@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """dane.test (signed) and plain.test (unsigned), two SMTP servers on one port."""
    need(not unbound.missing(), unbound.missing())
    ca = TestCA()
    names = ("mx.dane.test", "mx2.dane.test", "mx3.dane.test", "mx.plain.test")
    good = ca.issue(*names)
    renewed = ca.issue(*names)  # the certificate the stale TLSA record does not know
    first = ScriptedSmtpServer(Behaviour(name="mx.dane.test", tls=good.server_context()))
    first.start()
    port = first.port
    second = ScriptedSmtpServer(Behaviour(name="mx2.dane.test", tls=renewed.server_context()),
                                "127.0.0.2", port).start()
    ee = dane.association(good.der(), 1, 1).hex()
    ee512 = dane.association(good.der(), 1, 2).hex()
    signed_zone = SOA.format(zone="dane.test") + f"""\
@ IN MX 10 mx.dane.test.
mx IN A 127.0.0.1
_{port}._tcp.mx IN TLSA 3 1 1 {ee}
stale IN MX 10 mx2.dane.test.
mx2 IN A 127.0.0.2
_{port}._tcp.mx2 IN TLSA 3 1 1 {ee}
bogus IN MX 10 mx3.dane.test.
mx3 IN A 127.0.0.1
_{port}._tcp.mx3 IN TLSA 3 1 2 {ee512}
"""
    plain_zone = SOA.format(zone="plain.test") + f"""\
@ IN MX 10 mx.plain.test.
mx IN A 127.0.0.1
_{port}._tcp.mx IN TLSA 3 1 1 {ee}
"""
    directory = tmp_path_factory.mktemp("dnssec")
    # mx3's TLSA data changed after signing: its RRSIG no longer verifies.
    signed, ds = unbound.sign(directory, "dane.test", signed_zone,
                              tamper=(ee512, ee512[:-4] + "0000"))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.pem())
    try:
        with NSD(directory, {"dane.test": signed, "plain.test": plain_zone}) as nsd, \
                unbound.Unbound(directory, {"dane.test": nsd.port, "plain.test": nsd.port},
                                [ds]) as resolver:
            yield {"port": port, "nsd": nsd, "unbound": resolver, "ca_file": str(ca_file)}
    finally:
        first.stop()
        second.stop()


def check_tls(world, domain: str, resolver: str | None = None, *args: str):
    return run_plugin("check_tls", "-n", resolver or world["unbound"].address, "-D", domain,
                      "-p", str(world["port"]), "--ca-file", world["ca_file"],
                      "--helo", "monitor.example.net", *args)


def test_the_validating_resolver_sets_the_ad_bit_and_the_authority_does_not(world):
    name = f"_{world['port']}._tcp.mx.dane.test"
    for server, secure in ((world["unbound"].port, True), (world["nsd"].port, False)):
        resolver = Resolver([Nameserver("127.0.0.1", server)], deadline=Deadline(5))
        (answer,) = resolver.resolve([(name, "TLSA")])
        assert answer.records and answer.secure is secure, answer


def test_tlsa_that_matches_under_dnssec_is_ok(world):
    run = check_tls(world, "dane.test", None, "-v")
    assert run.returncode == 1, run.stdout  # only the missing TLS-RPT record
    assert run.lines[0] == ("TLS WARNING - no TLS-RPT record (_smtp._tls.dane.test) while "
                            "DANE is in use: nobody learns of failures")
    assert run.lines[1] == f"_{world['port']}._tcp.mx.dane.test TLSA (DNSSEC-validated):"
    assert run.lines[3].endswith(", trusted, DANE-EE SPKI SHA2-256 matched at depth 0") or \
        run.lines[3].endswith(", trusted, chain not shown by this Python, DANE-EE SPKI "
                              "SHA2-256 matched at depth 0")


def test_a_stale_tlsa_record_is_critical(world):
    run = check_tls(world, "stale.dane.test")
    assert run.returncode == 2
    assert run.first.startswith("TLS CRITICAL - mx2.dane.test 127.0.0.2: certificate matches "
                                "no TLSA record (DANE senders will defer) |")


def test_a_record_that_fails_validation_is_a_failed_lookup(world):
    """Unbound answers SERVFAIL for bogus data: a DANE sender defers the mail."""
    run = check_tls(world, "bogus.dane.test", None, "--query-timeout", "2")
    assert run.returncode == 3
    assert run.first.startswith(f"TLS UNKNOWN - TLSA lookup failed: TLSA _{world['port']}."
                                "_tcp.mx3.dane.test SERVFAIL")


def test_tlsa_in_an_unsigned_zone_is_ignored_by_senders(world):
    run = check_tls(world, "plain.test")
    assert run.returncode == 1
    assert run.first.startswith(f"TLS WARNING - TLSA records at _{world['port']}._tcp."
                                "mx.plain.test are not DNSSEC-validated")


def test_a_resolver_that_does_not_validate_cannot_vouch(world):
    run = check_tls(world, "dane.test", f"127.0.0.1:{world['nsd'].port}")
    assert run.returncode == 1
    assert run.first.startswith(f"TLS WARNING - TLSA records at _{world['port']}._tcp."
                                "mx.dane.test are not DNSSEC-validated")


# -- OpenSSL's DANE verdicts on the same chains and records -----------------------

OPENSSL = shutil.which("openssl")
CHAIN = sys.version_info >= (3, 10)
ROOT = TestCA("Oracle Root")
ISSUER = TestCA("Oracle Issuer", ROOT)
CERTIFICATES = {
    "good": ISSUER.issue("mx.example.org"),
    "wildcard": ISSUER.issue("*.example.org"),
    "other-name": ISSUER.issue("www.example.org"),
    "expired": ISSUER.issue("mx.example.org", days=-1, valid_from_days=-20),
    "self-signed": self_signed("mx.example.org"),
}


def records(issued) -> dict[str, str]:
    def hexdata(der: bytes, selector: int, mtype: int) -> str:
        return dane.association(der, selector, mtype).hex()

    leaf = issued.der()
    return {
        "ee-spki-sha256": f"3 1 1 {hexdata(leaf, 1, 1)}",
        "ee-cert-sha512": f"3 0 2 {hexdata(leaf, 0, 2)}",
        "ee-wrong": "3 1 1 " + "00" * 32,
        "ta-issuer-spki": f"2 1 1 {hexdata(ISSUER.der(), 1, 1)}",
        "ta-root-cert": f"2 0 1 {hexdata(ROOT.der(), 0, 1)}",
        "ta-root-full": f"2 0 0 {ROOT.der().hex()}",
        "ta-wrong": "2 0 1 " + "11" * 32,
    }


CASES = [(cert, record) for cert in CERTIFICATES for record in records(CERTIFICATES["good"])]
OPENSSL_ERRORS = {65: dane.Verdict.NO_MATCH, 62: dane.Verdict.NAME_MISMATCH,
                  10: dane.Verdict.CHAIN_INVALID}


def openssl_verdict(port: int, record: str) -> tuple[dane.Verdict, int]:
    proc = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp",
         "-dane_tlsa_domain", "mx.example.org", "-dane_tlsa_rrdata", record,
         "-dane_ee_no_namechecks", "-verify_return_error", "-brief"],
        input="", capture_output=True, text=True, timeout=20)
    output = proc.stdout + proc.stderr
    matched = re.search(r"matched (?:EE|TA) certificate at depth (\d+)", output)
    if proc.returncode == 0 and matched:
        return dane.Verdict.MATCH, int(matched.group(1))
    error = re.search(r"verify error:num=(\d+)", output)
    assert error, output
    return OPENSSL_ERRORS[int(error.group(1))], -1


@pytest.mark.parametrize("cert,record", CASES, ids=[f"{c}-{r}" for c, r in CASES])
def test_openssl_agrees(cert, record):
    need(OPENSSL is not None, "openssl is not installed")
    if record.startswith("ta-") and not CHAIN:
        pytest.skip("Python 3.9 shows the server's own certificate only")
    issued = CERTIFICATES[cert]
    text = records(issued)[record]
    with ScriptedSmtpServer(Behaviour(tls=issued.server_context())) as server:
        trusting, seeing = tls.contexts()
        shake = asyncio.run(tls.handshake("127.0.0.1", server.port, deadline=Deadline(10),
                                          host="mx.example.org", trusting=trusting,
                                          seeing=seeing))
        ours = dane.authenticate(shake.chain, [dane.parse(text)], ["mx.example.org"])
        theirs = openssl_verdict(server.port, text)
    assert (ours.verdict, ours.depth if ours.ok else -1) == theirs, ours.detail
