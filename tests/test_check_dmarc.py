"""check_dmarc against the scripted nameserver: every shape of record, and
messages signed by dkimpy with aligned and unaligned identifiers."""

from __future__ import annotations

import dkim as dkimpy
import pytest

from check_mail.checks import dmarc as check
from check_mail.simulation.dnsserver import Fault
from tests.helpers import dkimkeys
from tests.helpers.plugins import run_check, run_plugin

KEY = dkimkeys.rsa_key(2048)


def dmarc(nameserver, *args: str):
    return run_check(check, "-n", nameserver.address, *args)


def record(nameserver, domain: str, *texts: str, ttl: int = 3600) -> None:
    nameserver.add(f"_dmarc.{domain}", "TXT", *(f'"{t}"' for t in texts), ttl=ttl)


def test_a_protecting_policy(nameserver):
    record(nameserver, "example.org", "v=DMARC1; p=reject; rua=mailto:dmarc@example.org")
    run = dmarc(nameserver, "-D", "example.org")
    assert run.returncode == 0
    assert run.first == ("DMARC OK - example.org: p=reject, reports to dmarc@example.org | "
                         "pct=100%;;;0;100 time=Xs;;;0")


@pytest.mark.parametrize(("texts", "state", "line"), [
    ([], 2, "example.org: no DMARC record at _dmarc.example.org"),
    (["v=DMARC1; p=reject", "v=DMARC1; p=none"], 2,
     "example.org: 2 DMARC records at _dmarc.example.org: receivers apply none"),
    (["v=DMARC1; p=rejected"], 2, "example.org: receivers apply no DMARC: p=rejected is none "
                                  "of none, quarantine, reject, and no valid rua= (RFC 7489 "
                                  "6.6.3 step 6)"),
    (["v=DMARC1"], 2, "example.org: receivers apply no DMARC: no p= tag, and no valid rua= "
                      "(RFC 7489 6.6.3 step 6)"),
    # Issue 25: what receivers apply drives the state; each error is said with its effect.
    (["v=DMARC1; p=reject; pct=200; rua=mailto:d@example.org"], 1,
     "example.org: p=reject applies to all mail; pct=200 is not a whole number from 0 to 100 "
     "(receivers ignore it)"),
    (["v=DMARC1; p=rejected; rua=mailto:d@example.org"], 1,
     "example.org: p=rejected is none of none, quarantine, reject: receivers apply p=none "
     "(RFC 7489 6.6.3 step 6) (+1 more)"),
    (["v=DMARC1; p=reject; rua=dmarc@example.org"], 1,
     "example.org: rua= holds 'dmarc@example.org', which is not a URI: receivers send these "
     "reports nowhere"),
    (["v=DMARC1; p=none; rua=mailto:dmarc@example.org"], 1,
     "example.org: p=none, reports to dmarc@example.org"),
    (["v=DMARC1; rua=mailto:dmarc@example.org"], 1,
     "example.org: p=none, reports to dmarc@example.org (no p=, so none)"),
    (["v=DMARC1; p=reject; pct=20; rua=mailto:d@example.org"], 1,
     "example.org: pct=20: the policy applies to 20% of failing mail only (RFC 9989 removes "
     "pct: receivers that follow it apply the policy to all)"),
    (["v=DMARC1; p=reject; t=y; rua=mailto:d@example.org"], 1,
     "example.org: t=y: the policy is on trial, receivers may apply a lesser one"),
    (["v=DMARC1; p=reject; sp=none; rua=mailto:d@example.org"], 1,
     "example.org: sp=none is weaker than p=reject"),
    (["v=DMARC1; p=quarantine; np=none; rua=mailto:d@example.org"], 1,
     "example.org: np=none is weaker than p=quarantine"),
    (["v=DMARC1; p=reject"], 1, "example.org: no rua=: nobody receives the aggregate reports"),
    (["v=DMARC1; p=reject; rua=mailto:d@example.org; rue=mailto:x@example.org"], 1,
     "example.org: unknown tag rue= (ignored by receivers)"),
    (["v=DMARC1; p=reject; rua=https://reports.example.org/"], 1,
     "example.org: https://reports.example.org/: receivers send reports only to mailto: "
     "addresses"),
])
def test_record_shapes(nameserver, texts, state, line):
    if texts:
        record(nameserver, "example.org", *texts)
    run = dmarc(nameserver, "-D", "example.org")
    assert run.returncode == state
    assert run.first.startswith(f"DMARC {['OK', 'WARNING', 'CRITICAL'][state]} - {line}")


def test_p_none_is_allowed_on_purpose_and_quarantine_warns_when_strict(nameserver):
    record(nameserver, "example.org", "v=DMARC1; p=none; rua=mailto:d@example.org")
    record(nameserver, "example.net", "v=DMARC1; p=quarantine; rua=mailto:d@example.net")
    assert dmarc(nameserver, "-D", "example.org", "--allow-none").returncode == 0
    assert dmarc(nameserver, "-D", "example.net").returncode == 0
    run = dmarc(nameserver, "-D", "example.net", "--strict")
    assert run.returncode == 1
    assert run.first.startswith("DMARC WARNING - example.net: p=quarantine, reports to "
                                "d@example.net (--strict)")


def test_a_subdomain_inherits_the_organizational_policy(nameserver):
    record(nameserver, "example.org", "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.org")
    run = dmarc(nameserver, "-D", "shop.example.org", "-v")
    assert run.returncode == 1
    assert run.lines[0] == ("DMARC WARNING - shop.example.org: sp=none from example.org, "
                            "reports to d@example.org (+1 more)")
    assert run.lines[1] == ("shop.example.org: record at _dmarc.example.org: v=DMARC1; "
                            "p=reject; sp=none; rua=mailto:d@example.org")


def test_foreign_report_destinations_must_authorise(nameserver):
    record(nameserver, "example.org", "v=DMARC1; p=reject; rua=mailto:d@example.org,"
                                      "mailto:r@reports.example.net; ruf=mailto:f@esp.example")
    nameserver.add("example.org._report._dmarc.esp.example", "TXT", '"v=DMARC1"')
    run = dmarc(nameserver, "-D", "example.org", "-v")
    assert run.returncode == 1
    assert run.lines[0] == ("DMARC WARNING - example.org: r@reports.example.net is outside the "
                            "domain and does not authorise its reports (no v=DMARC1 at "
                            "example.org._report._dmarc.reports.example.net): they are dropped")
    assert "example.org: reports to f@esp.example: authorised" in run.lines


def test_a_long_ttl_warns(nameserver):
    record(nameserver, "example.org", "v=DMARC1; p=reject; rua=mailto:d@example.org",
           ttl=604800)
    run = dmarc(nameserver, "-D", "example.org")
    assert run.returncode == 1
    assert run.first.startswith("DMARC WARNING - example.org: TTL 604800 s (more than --max-ttl "
                                "86400) |")


def test_several_domains_and_a_dead_resolver(nameserver):
    record(nameserver, "example.org", "v=DMARC1; p=reject; rua=mailto:d@example.org")
    nameserver.fault("_dmarc.example.net", Fault.SERVFAIL)
    run = dmarc(nameserver, "-D", "example.org", "-D", "example.net")
    assert run.returncode == 3
    assert run.first.startswith("DMARC UNKNOWN - example.net: lookup failed: TXT "
                                "_dmarc.example.net SERVFAIL |")


# -- messages -------------------------------------------------------------------


@pytest.fixture
def world(nameserver, tmp_path):
    for domain in ("example.org", "esp.example"):
        nameserver.add(f"s1._domainkey.{domain}", "TXT", dkimkeys.txt(dkimkeys.record(KEY)))
    record(nameserver, "example.org", "v=DMARC1; p=reject; rua=mailto:d@example.org")
    nameserver.add("bounce.esp.example", "TXT", '"v=spf1 ip4:198.51.100.20 -all"')
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.25 -all"')
    nameserver.add("20.100.51.198.in-addr.arpa", "PTR", "out.esp.example.")
    nameserver.add("out.esp.example", "A", "198.51.100.20")
    return nameserver


def save(tmp_path, domain: str, extra: bytes = b"", name: str = "m.eml") -> str:
    message = extra + dkimkeys.MESSAGE
    headers = [b"from", b"to", b"subject", b"date"]
    if extra:
        headers += [b"list-unsubscribe", b"list-unsubscribe-post"]
    signed = dkimpy.sign(message, b"s1", domain.encode(), dkimkeys.pem(KEY),
                         include_headers=headers) + message
    path = tmp_path / name
    path.write_bytes(b"Return-Path: <bounce@bounce.esp.example>\r\n" + signed)
    return str(path)


def test_a_message_through_an_esp_fails_unaligned(world, tmp_path):
    run = dmarc(world, "--message", save(tmp_path, "esp.example"), "--ip", "198.51.100.20")
    assert run.returncode == 2
    assert run.first.startswith(
        "DMARC CRITICAL - message from example.org fails DMARC: SPF passes for "
        "bounce.esp.example (not aligned), DKIM d=esp.example s=s1 (not aligned); the DKIM d= or "
        "the MAIL FROM domain must be example.org or below it |")
    assert "aligned=0;;;0;2" in run.first


def test_a_message_signed_by_its_own_domain_passes(world, tmp_path):
    run = dmarc(world, "--message", save(tmp_path, "example.org"), "--ip", "198.51.100.20",
                "-v")
    assert run.returncode == 0
    assert run.lines[0] == ("DMARC OK - message from example.org passes DMARC: DKIM "
                            "d=example.org s=s1 (aligned)")
    assert "message: SPF passes for bounce.esp.example (not aligned)" in run.lines
    assert "message: DMARC pass" in run.lines


def test_a_message_from_a_domain_without_a_policy_never_passes_dmarc(world, tmp_path):
    """Issue 25, bug 10 (RFC 7489 6.6.3): no policy, no DMARC evaluation,
    whatever passes aligned: the From: domain publishes no policy, WARNING."""
    world.remove("_dmarc.example.org", "TXT")
    run = dmarc(world, "--message", save(tmp_path, "example.org"), "--ip", "198.51.100.20")
    assert run.returncode == 1, run.stdout
    assert run.first.startswith("DMARC WARNING - message from example.org: no DMARC policy; "
                                "SPF passes for bounce.esp.example (not aligned), DKIM "
                                "d=example.org s=s1 (aligned) |")


UNSUBSCRIBE = (b"List-Unsubscribe: <https://esp.example/u/42>, <mailto:u@esp.example>\r\n"
               b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")


def test_bulk_sender_rules(world, tmp_path):
    good = save(tmp_path, "example.org", UNSUBSCRIBE)
    run = dmarc(world, "--message", good, "--ip", "198.51.100.20", "--bulk-sender")
    assert run.returncode == 0, run.stdout
    bare = save(tmp_path, "example.org", name="bare.eml")
    run = dmarc(world, "--message", bare, "--ip", "203.0.113.9", "--bulk-sender", "-v")
    assert run.returncode == 2
    assert set(line for line in run.lines if line.startswith("critical: bulk")) == {
        "critical: bulk sender: SPF must pass",
        "critical: bulk sender: no one-click unsubscribe (List-Unsubscribe with an https URI "
        "and List-Unsubscribe-Post: List-Unsubscribe=One-Click, RFC 8058)",
        "critical: bulk sender: 203.0.113.9 has no forward-confirmed PTR"}


@pytest.mark.parametrize(("content", "line"), [
    (b"From: a@example.org\r\nFrom: b@example.org\r\n\r\nHi.\r\n",
     "the message fails DMARC: 2 From: header fields where one belongs"),
    (b"To: a@example.org\r\n\r\nHi.\r\n",
     "the message fails DMARC: 0 From: header fields where one belongs"),
])
def test_messages_without_one_author(world, tmp_path, content, line):
    path = tmp_path / "bad.eml"
    path.write_bytes(content)
    run = dmarc(world, "--message", str(path), "--ip", "192.0.2.25")
    assert run.returncode == 2
    assert run.first.startswith(f"DMARC CRITICAL - {line} |")


@pytest.mark.parametrize(("args", "message"), [
    ([], "give -D DOMAIN, --message FILE or both"),
    (["-D", "bad domain"], "argument -D/--domain: 'bad domain' is not a domain name"),
    (["--message", "/dev/null"], "--message needs --ip: the address the message left from"),
    (["--message", "/nonexistent", "--ip", "192.0.2.1"],
     "--message /nonexistent: No such file or directory"),
    (["-D", "example.org", "--ip", "192.0.2.1"], "--ip, --sender and --bulk-sender go with "
                                                 "--message"),
    (["--message", "/dev/zero", "--ip", "192.0.2.1"], "--message /dev/zero: larger than 32 MiB"),
])
def test_bad_input_is_one_unknown_line(nameserver, args, message):
    run = run_plugin("check_dmarc", "-n", nameserver.address, *args)
    assert run.returncode == 3
    assert run.lines[0] == f"DMARC UNKNOWN - {message}"
    assert run.stderr == ""
