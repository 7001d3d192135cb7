"""check_tls as a user runs it, against scripted DNS, SMTP and HTTPS servers:
certificates good and bad, DANE records that match or do not, MTA-STS
policies in every mode, TLS-RPT."""

from __future__ import annotations

import datetime
import sys

import pytest

from check_mail import dane
from check_mail.checks import tls as check
from check_mail.mtasts import PATH
from check_mail.simulation.certificates import TestCA, self_signed
from check_mail.simulation.dnsserver import Fault
from check_mail.simulation.httpsserver import Page, ScriptedHttpsServer
from check_mail.simulation.smtpserver import Behaviour
from tests.helpers.plugins import run_check, run_plugin

MX = "mx1.example.org"
TLSA_NAME = "_{port}._tcp.mx1.example.org"
ENFORCE = f"version: STSv1\nmode: enforce\nmx: {MX}\nmax_age: 604800\n"
CHAIN = sys.version_info >= (3, 10)  # 3.9 shows the server's own certificate only


@pytest.fixture(scope="module")
def ca():
    return TestCA()


class World:
    """example.org, MX mx1.example.org at 127.0.0.1, and what each test adds."""

    def __init__(self, nameserver, smtp_server, ca, tmp_path):
        self.ns, self.smtp_server, self.ca = nameserver, smtp_server, ca
        self.ca_file = tmp_path / "ca.pem"
        self.ca_file.write_bytes(ca.pem())
        nameserver.add("example.org", "MX", f"10 {MX}.")
        nameserver.add(MX, "A", "127.0.0.1")
        self.server = None
        self.web = None

    def serve(self, issued=None, **behaviour):
        """The MX, with this certificate (a good one by default)."""
        issued = issued if issued is not None else self.ca.issue(MX)
        tls = issued.server_context() if issued else None
        self.server = self.smtp_server(Behaviour(name=MX, tls=tls, **behaviour))
        self.issued = issued
        return self.server

    def tlsa(self, *records: str, validated: bool = True):
        self.ns.add(TLSA_NAME.format(port=self.server.port), "TLSA", *records)
        if validated:
            self.ns.validate("example.org")

    def ee(self) -> str:
        return f"3 1 1 {dane.association(self.issued.der(), 1, 1).hex()}"

    def sts(self, policy: str | None = ENFORCE, txt: bool = True, **page):
        if txt:
            self.ns.add("_mta-sts.example.org", "TXT", '"v=STSv1; id=1"')
        self.ns.add("mta-sts.example.org", "A", "127.0.0.1")
        self.web = ScriptedHttpsServer(self.ca.issue("mta-sts.example.org").server_context())
        self.web.start()
        if policy is not None:
            self.web.pages[PATH] = Page(policy.encode(), **page)

    def rpt(self, record: str = "v=TLSRPTv1; rua=mailto:tls@example.org"):
        self.ns.add("_smtp._tls.example.org", "TXT", f'"{record}"')

    def run(self, *args: str):
        sts = ["--mta-sts-port", str(self.web.port)] if self.web else []
        port = ["-p", str(self.server.port)] if self.server else []
        return run_check(check, "-n", self.ns.address, *port, "--helo", "monitor.example.net",
                         "--ca-file", str(self.ca_file), *sts, *args)

    def stop(self):
        if self.web:
            self.web.stop()


@pytest.fixture
def world(nameserver, smtp_server, ca, tmp_path):
    built = World(nameserver, smtp_server, ca, tmp_path)
    yield built
    built.stop()


def test_a_good_certificate_is_ok(world):
    world.serve()
    run = world.run("-D", "example.org")
    assert run.returncode == 0, run.stdout
    assert run.first == ("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate valid "
                         "(expires in 89 days) | 'mx1.example.org_days'=89;21:;7: "
                         "addresses=1;;;0 days=89 passing=1;;;0;1 time=Xs;;;0")
    assert "STARTTLS" in world.server.commands


def test_the_long_output(world):
    world.serve()
    world.sts()
    world.rpt()
    world.tlsa(world.ee())
    run = world.run("-D", "example.org", "-v")
    assert run.returncode == 0, run.stdout
    assert run.lines[0] == ("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate valid "
                            "(expires in 89 days), DANE matches, MTA-STS enforce")
    port = world.server.port
    assert run.lines[1:4] == [
        f"_{port}._tcp.mx1.example.org TLSA (DNSSEC-validated):",
        f"  {world.ee()} DANE-EE SPKI SHA2-256",
        f"{MX} 127.0.0.1: TLSv1.3 TLS_AES_256_GCM_SHA384, EC secp256r1 certificate "
        f"CN={MX} for {MX}, issued by CN=check-mail test CA, expires "
        f"{world.issued.certificate.not_valid_after_utc:%Y-%m-%d} (89 days), trusted, "
        + ("" if CHAIN else "chain not shown by this Python, ")
        + "DANE-EE SPKI SHA2-256 matched at depth 0",
    ]
    assert run.lines[4:7] == [
        "_mta-sts.example.org TXT: v=STSv1; id=1",
        f"MTA-STS policy https://mta-sts.example.org:{world.web.port}/.well-known/mta-sts.txt "
        f"(127.0.0.1): mode enforce, max_age 604800, mx {MX}",
        "_smtp._tls.example.org TXT: v=TLSRPTv1; rua=mailto:tls@example.org",
    ]
    assert run.lines[7].startswith("| 'mx1.example.org_days'=89;21:;7: ")


def test_no_starttls_is_critical_or_with_optional_a_warning(world):
    world.serve(issued=False)
    run = world.run("-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: no STARTTLS: mail arrives "
                                "in clear | addresses=1;;;0 passing=0;;;0;1")
    assert world.run("-D", "example.org", "--starttls", "optional").returncode == 1


def test_without_starttls_dane_senders_defer(world):
    world.serve(issued=False)
    world.tlsa("3 1 1 " + "00" * 32)
    run = world.run("-D", "example.org", "--starttls", "optional")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: no STARTTLS: mail arrives in "
                                "clear (DANE senders defer all mail) |")


def test_a_broken_handshake_is_critical(world):
    world.serve(issued=False, broken_tls=True)
    run = world.run("-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: STARTTLS fails: TLS "
                                "handshake failed: ")


@pytest.mark.parametrize("issued,problem", [
    (self_signed(MX), "certificate not trusted: self-signed certificate"),
    (TestCA("Elsewhere").issue(MX),
     "certificate not trusted: self-signed certificate in certificate chain"),
    (None, "certificate is for www.example.org, not mx1.example.org"),
])
def test_a_certificate_that_fails_validation_is_critical(world, ca, issued, problem):
    world.serve(issued or ca.issue("www.example.org"))
    run = world.run("-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: {problem} |")


def test_dane_ee_vouches_for_a_self_signed_certificate(world):
    world.serve(self_signed(MX, days=-1))  # expired, too: only DANE-EE looks at it
    world.tlsa(world.ee())
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 0, run.stdout
    expired = (datetime.datetime.now(datetime.timezone.utc)
               - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    assert run.first.startswith("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate "
                                "vouched for by DANE-EE only (senders check neither name nor "
                                f"dates under DANE-EE): name matches, expired since {expired}, "
                                "not trusted ("
                                "self-signed certificate), DANE matches | "
                                "'mx1.example.org_days'=-2 ")


def test_dane_ee_never_calls_a_certificate_for_another_name_valid(world, ca):
    """Issue 21: a CA-trusted certificate for another name that a 3 1 1
    record matches is accepted by DANE senders, and said to be for that name."""
    world.serve(ca.issue("mx.other.example"))
    world.tlsa(world.ee())
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate "
                                "vouched for by DANE-EE only (senders check neither name nor "
                                "dates under DANE-EE): for mx.other.example, expires in 89 "
                                "days, DANE matches |")


@pytest.mark.parametrize("days,state,words", [
    (10, 1, "expires in 9 days (outside -w 21:)"),
    (5, 2, "expires in 4 days (outside -c 7:)"),
])
def test_expiry_thresholds(world, ca, days, state, words):
    world.serve(ca.issue(MX, days=days))
    run = world.run("-D", "example.org")
    assert run.returncode == state
    assert run.first.startswith(f"TLS {('', 'WARNING', 'CRITICAL')[state]} - "
                                f"{MX}: certificate {words} |")


def test_thresholds_take_plain_days_or_ranges(world, ca):
    world.serve(ca.issue(MX, days=40))
    assert world.run("-D", "example.org", "-w", "60", "-c", "30").returncode == 1
    assert world.run("-D", "example.org", "-w", "30:", "-c", "10:").returncode == 0
    assert world.run("-D", "example.org", "-w", "x").returncode == 3


def test_an_expired_certificate(world, ca):
    world.serve(ca.issue(MX, days=-2, valid_from_days=-30))
    run = world.run("-D", "example.org", "-v")
    assert run.returncode == 2
    assert f"critical: {MX} 127.0.0.1: certificate not trusted: certificate has expired" \
        in run.lines
    assert f"critical: {MX}: certificate has expired (outside -c 7:)" in run.lines


def test_a_weak_key_and_an_old_version_warn(world, ca):
    import ssl

    issued = ca.issue(MX, rsa_bits=1024)
    world.server = world.smtp_server(Behaviour(
        name=MX, tls=issued.server_context(ssl.TLSVersion.TLSv1_1)))
    world.issued = issued
    run = world.run("-D", "example.org", "-v")
    assert run.returncode == 1
    assert run.first.startswith(f"TLS WARNING - {MX} 127.0.0.1: TLSv1.1 (below TLS 1.2) "
                                "(+1 more)")
    assert f"warning: {MX} 127.0.0.1: a weak RSA 1024 key (under 2048 bits)" in run.lines


def test_every_address_of_an_mx_is_checked_and_compared(world, ca):
    first = world.serve()
    world.smtp_server(Behaviour(name=MX, tls=ca.issue(MX).server_context()), "127.0.0.2",
                      first.port)
    world.ns.add(MX, "A", "127.0.0.2")
    run = world.run("-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith(f"TLS WARNING - {MX}: its 2 addresses present 2 different "
                                "certificates | 'mx1.example.org_days'=89;21:;7: "
                                "addresses=2;;;0 days=89 passing=2;;;0;2")


def test_tlsa_that_matches_nothing_is_critical(world):
    world.serve()
    world.tlsa("3 1 1 " + "00" * 32)
    run = world.run("-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: certificate matches no TLSA "
                                "record (DANE senders will defer) |")


@pytest.mark.skipif(not CHAIN, reason="Python 3.9 shows the server's own certificate only")
def test_dane_ta_matches_the_issuing_ca(world, ca):
    world.serve()
    world.tlsa(f"2 1 1 {dane.association(ca.der(), 1, 1).hex()}")
    world.rpt()
    run = world.run("-D", "example.org", "-v")
    assert run.returncode == 0, run.stdout
    assert "DANE-TA SPKI SHA2-256 matched at depth 1" in run.lines[3]


@pytest.mark.skipif(CHAIN, reason="Python 3.10 and later show the chain")
def test_dane_ta_cannot_be_checked_on_python_39(world, ca):
    world.serve()
    world.tlsa(f"2 1 1 {dane.association(ca.der(), 1, 1).hex()}")
    run = world.run("-D", "example.org")
    assert run.returncode == 3
    assert run.first.startswith(f"TLS UNKNOWN - {MX} 127.0.0.1: cannot check DANE-TA records")


def test_dane_ta_needs_the_mx_name(world, ca):
    world.serve(ca.issue("www.example.org"))
    world.tlsa(f"2 1 1 {dane.association(ca.der(), 1, 1).hex()}")
    run = world.run("-D", "example.org", "-v")
    assert run.returncode == (2 if CHAIN else 3)
    if CHAIN:
        assert (f"critical: {MX} 127.0.0.1: DANE-TA matched at depth 1, but the certificate "
                f"is not for {MX} or example.org (DANE senders will defer)") in run.lines


@pytest.mark.parametrize("setup,problem", [
    (lambda w: w.tlsa(w.ee(), validated=False),
     "TLSA records at _{port}._tcp.mx1.example.org are not DNSSEC-validated (an unsigned "
     "zone, or the resolver does not validate): senders ignore them"),
    (lambda w: w.tlsa("1 1 1 " + "00" * 32),
     "no usable TLSA record at _{port}._tcp.mx1.example.org (PKIX-EE is not used for SMTP "
     "(RFC 7672 3.1.3)): DANE senders fall back to unauthenticated TLS"),
])
def test_tlsa_that_senders_ignore_warns(world, setup, problem):
    world.serve()
    setup(world)
    run = world.run("-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith("TLS WARNING - " + problem.format(port=world.server.port))


def test_tlsa_under_an_unsigned_mx_set_warns(world):
    world.ns.clear()
    world.ns.add("example.org", "MX", "10 mx1.example.net.")
    world.ns.add("mx1.example.net", "A", "127.0.0.1")
    world.serve(world.ca.issue("mx1.example.net"))
    world.ns.add(f"_{world.server.port}._tcp.mx1.example.net", "TLSA", world.ee())
    world.ns.validate("example.net")
    run = world.run("-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith("TLS WARNING - the MX records of example.org are not "
                                "DNSSEC-validated: senders ignore the TLSA records at "
                                f"_{world.server.port}._tcp.mx1.example.net (RFC 7672 2.2.1)")


def test_a_failed_tlsa_lookup_is_unknown(world):
    world.serve()
    world.ns.fault(TLSA_NAME.format(port=world.server.port), Fault.SERVFAIL)
    run = world.run("-D", "example.org", "--query-timeout", "1")
    assert run.returncode == 3
    assert run.first.startswith("TLS UNKNOWN - TLSA lookup failed: TLSA _")


def test_mta_sts_enforce_with_tls_rpt_is_ok(world):
    world.serve()
    world.sts()
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate "
                                "valid (expires in 89 days), MTA-STS enforce |")
    assert world.web.requests == [f"GET {PATH} HTTP/1.1 Host: mta-sts.example.org"]


def test_an_mx_the_enforced_policy_does_not_list_is_critical(world):
    world.serve()
    world.sts(ENFORCE.replace(MX, "mx9.example.org"))
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} is not in the MTA-STS policy (mode "
                                "enforce, mx mx9.example.org): senders that validate will not "
                                "deliver |")


def test_under_mode_testing_failures_warn(world):
    world.serve()
    world.sts(ENFORCE.replace(MX, "*.mx.example.org").replace("enforce", "testing"))
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith(f"TLS WARNING - {MX} is not in the MTA-STS policy (mode "
                                "testing, mx *.mx.example.org): senders that validate report "
                                "failures |")


def test_mode_testing_itself_warns_with_strict(world):
    world.serve()
    world.sts(ENFORCE.replace("enforce", "testing"))
    world.rpt()
    assert world.run("-D", "example.org").returncode == 0
    run = world.run("-D", "example.org", "--strict")
    assert run.returncode == 1
    assert run.first.startswith("TLS WARNING - MTA-STS policy in mode testing: senders deliver "
                                "even when it fails (--strict) |")


def test_mta_sts_enforce_needs_a_trusted_certificate_even_with_dane(world):
    world.serve(self_signed(MX))
    world.tlsa(world.ee())
    world.sts()
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: certificate not trusted: "
                                "self-signed certificate (MTA-STS enforce: senders will not "
                                "deliver) |")


@pytest.mark.parametrize("setup,problem", [
    (lambda w: w.sts(None),
     "MTA-STS record published, but the policy cannot be fetched from "
     "https://mta-sts.example.org:{port}/.well-known/mta-sts.txt: HTTP 404"),
    (lambda w: w.sts(headers={"Content-Type": "text/html"}),
     "MTA-STS record published, but the policy cannot be fetched from "
     "https://mta-sts.example.org:{port}/.well-known/mta-sts.txt: Content-Type text/html, "
     "not text/plain (RFC 8461 3.2)"),
    (lambda w: w.sts(txt=False),
     "an MTA-STS policy at https://mta-sts.example.org:{port}/.well-known/mta-sts.txt, but "
     "no _mta-sts.example.org TXT record: senders never fetch it"),
    (lambda w: w.sts(ENFORCE.replace("max_age: 604800\n", "")),
     "the MTA-STS policy is unusable: no max_age"),
    (lambda w: w.sts(ENFORCE + "<html>\n"),
     "the MTA-STS policy breaks RFC 8461's grammar (strict senders may ignore it): line 5 is "
     "not 'key: value'"),
])
def test_mta_sts_that_senders_cannot_use_warns(world, setup, problem):
    world.serve()
    setup(world)
    world.rpt()
    run = world.run("-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith("TLS WARNING - " + problem.format(port=world.web.port) + " |")


def test_tls_rpt_is_wanted_with_dane_or_mta_sts(world):
    world.serve()
    world.sts()
    world.tlsa(world.ee())
    run = world.run("-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith("TLS WARNING - no TLS-RPT record (_smtp._tls.example.org) "
                                "while DANE and MTA-STS are in use: nobody learns of failures |")
    world.rpt("v=TLSRPTv1; rua=tls@example.org")
    assert world.run("-D", "example.org").first.startswith(
        "TLS WARNING - _smtp._tls.example.org: rua 'tls@example.org' is neither mailto: nor "
        "https: |")


def test_a_policy_in_mode_none_is_not_in_use(world):
    """Issue 25, bug 9 (RFC 8461 5): with DANE and a policy in mode none,
    only DANE is in use; Mode.NONE is a non-empty string, never tested for truth."""
    world.serve()
    world.sts(ENFORCE.replace("mode: enforce", "mode: none"))
    world.tlsa(world.ee())
    run = world.run("-D", "example.org")
    assert run.first.startswith("TLS WARNING - no TLS-RPT record (_smtp._tls.example.org) "
                                "while DANE is in use: nobody learns of failures |")


def test_a_null_mx_is_ok(world):
    world.ns.clear()
    world.ns.add("example.org", "MX", "0 .")
    run = world.run("-D", "example.org")
    assert run.returncode == 0
    assert run.first.startswith("TLS OK - example.org has a null MX (RFC 7505): it receives "
                                "no mail |")


def test_a_failed_mx_lookup_is_unknown(world):
    world.ns.fault("example.org", Fault.SERVFAIL, "MX")
    run = world.run("-D", "example.org")
    assert run.returncode == 3
    assert run.first.startswith("TLS UNKNOWN - lookup failed: MX example.org SERVFAIL")


def test_one_host_with_implicit_tls(world, ca):
    world.server = world.smtp_server(Behaviour(name=MX, tls=ca.issue(MX).server_context(),
                                               implicit_tls=True))
    run = world.run("-H", MX, "--tls")
    assert run.returncode == 0, run.stdout
    assert run.first.startswith(f"TLS OK - {MX}, 1 address: TLS, TLS 1.3, certificate valid "
                                "(expires in 89 days) |")


def test_an_address_has_no_name_to_match_and_says_so(world, ca):
    """Issue 21: -H ADDRESS alone checks no name, and never says "valid"."""
    world.serve(ca.issue("www.example.org"))
    run = world.run("-H", "127.0.0.1")
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("TLS OK - 127.0.0.1, 1 address: STARTTLS, TLS 1.3, "
                                "certificate trusted, name not checked (-H is an address: "
                                "give --name) (expires in 89 days) |")
    wrong = world.run("-H", "127.0.0.1", "--name", MX)
    assert wrong.returncode == 2, wrong.stdout
    assert wrong.first.startswith(f"TLS CRITICAL - {MX} 127.0.0.1: certificate is for "
                                  f"www.example.org, not {MX} |")
    right = world.run("-H", "127.0.0.1", "--name", "www.example.org")
    assert right.first.startswith("TLS OK - www.example.org, 1 address: STARTTLS, TLS 1.3, "
                                  "certificate valid (expires in 89 days) |")


def test_a_host_judged_by_the_domain_policy(world):
    world.serve()
    world.sts(ENFORCE.replace(MX, "mx9.example.org"))
    world.rpt()
    run = world.run("-H", MX, "-D", "example.org")
    assert run.returncode == 2
    assert run.first.startswith(f"TLS CRITICAL - {MX} is not in the MTA-STS policy")


@pytest.mark.parametrize("args,message", [
    ((), "TLS UNKNOWN - give -D DOMAIN (every MX) or -H HOST"),
    (("-D", "example.org", "--ca-file", "/nonexistent/ca.pem"),
     "TLS UNKNOWN - --ca-file /nonexistent/ca.pem: No such file or directory"),
    (("-D", "example.org", "--starttls", "maybe"), "TLS UNKNOWN - argument --starttls: "
                                                   "invalid choice: 'maybe' (choose from "),
])
def test_bad_input_is_one_unknown_line(world, args, message):
    run = run_check(check, *args) if not args or "--ca-file" not in args else \
        run_check(check, "-n", world.ns.address, *args)
    assert run.returncode == 3
    assert run.lines[0].startswith(message)


def test_a_ca_file_that_holds_no_certificate(world, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    run = run_check(check, "-D", "example.org", "--ca-file", str(bad))
    assert run.returncode == 3
    assert run.first.startswith(f"TLS UNKNOWN - --ca-file {bad}: ")


def test_the_installed_plugin(world):
    world.serve()
    run = run_plugin("check_tls", "-n", world.ns.address, "-D", "example.org", "-p",
                     str(world.server.port), "--ca-file", str(world.ca_file))
    assert run.returncode == 0, run.stdout
    assert run.first.startswith("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3")
    assert run.stderr == ""
