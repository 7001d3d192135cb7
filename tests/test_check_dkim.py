"""check_dkim as a user runs it, against the scripted nameserver."""

from __future__ import annotations

import os

import pytest

from check_mail.checks import dkim as check
from tests.helpers import dkimkeys
from tests.helpers.plugins import run_check, run_plugin


@pytest.fixture
def dns(nameserver):
    nameserver.add("s2025._domainkey.example.org", "TXT",
                   dkimkeys.txt(dkimkeys.record(dkimkeys.rsa_key(2048))), ttl=3600)
    nameserver.add("ed1._domainkey.example.org", "TXT",
                   dkimkeys.txt(dkimkeys.record(dkimkeys.ed25519_key())), ttl=3600)
    nameserver.add("old._domainkey.example.org", "TXT", '"v=DKIM1; k=rsa; p="')
    nameserver.add("weak._domainkey.example.org", "TXT",
                   dkimkeys.txt(dkimkeys.record(dkimkeys.rsa_key(1024))))
    nameserver.add("test._domainkey.example.org", "TXT",
                   dkimkeys.txt(dkimkeys.record(dkimkeys.ed25519_key(), " t=y;")))
    nameserver.add("sha1._domainkey.example.org", "TXT",
                   dkimkeys.txt(dkimkeys.record(dkimkeys.rsa_key(2048), " h=sha1;")))
    nameserver.add("bad._domainkey.example.org", "TXT", '"v=DKIM1; k=rsa; p=MIIB!!"')
    return nameserver


def dkim(nameserver, *args: str):
    return run_check(check, "-n", nameserver.address, "-D", "example.org", *args)


def test_two_good_selectors(dns):
    run = dkim(dns, "-s", "s2025", "-s", "ed1")
    assert run.returncode == 0
    assert run.first == ("DKIM OK - 2 selectors: s2025 (rsa 2048), ed1 (ed25519) | "
                         "ed1_bits=256;;;0 ed1_ttl=3600s;;;0 s2025_bits=2048;2048:;1024:;0 "
                         "s2025_ttl=3600s;;;0 time=Xs;;;0")


def test_long_output_has_one_line_per_selector(dns):
    run = dkim(dns, "-s", "s2025", "-s", "test", "-v")
    assert run.lines[1:3] == [
        "s2025: s2025._domainkey.example.org: rsa 2048, TTL 3600 s",
        "test: test._domainkey.example.org: ed25519, t=y, TTL 300 s",
    ]


@pytest.mark.parametrize(("selector", "state", "line"), [
    ("absent", 2, "DKIM CRITICAL - absent: no key record at absent._domainkey.example.org"),
    ("old", 2, "DKIM CRITICAL - old: the key is revoked (empty p=)"),
    ("bad", 2, "DKIM CRITICAL - bad: malformed key record: p= is not valid base64 (tag p=)"),
    ("test", 1, "DKIM WARNING - test: in testing mode (t=y): receivers may ignore failures"),
    ("sha1", 2, "DKIM CRITICAL - sha1: h=sha1 does not allow sha256"),
    ("weak", 1, "DKIM WARNING - weak: RSA key of 1024 bits (outside -w 2048:)"),
])
def test_key_findings(dns, selector, state, line):
    run = dkim(dns, "-s", selector)
    assert (run.returncode, run.first.split(" | ")[0]) == (state, line)


def test_thresholds_and_allow_revoked(dns):
    assert dkim(dns, "-s", "weak", "-c", "2048:").returncode == 2
    assert dkim(dns, "-s", "weak", "-w", "1024:").returncode == 0
    revoked = dkim(dns, "-s", "old", "--allow-revoked")
    assert revoked.returncode == 0
    assert revoked.first.startswith("DKIM OK - 1 selector: old (revoked)")


@pytest.fixture
def keyfiles(tmp_path):
    def write(name, key, mode=0o600):
        path = tmp_path / name
        path.write_bytes(dkimkeys.pem(key))
        os.chmod(path, mode)
        return str(path)
    return write


def test_private_keys_match_dns(dns, keyfiles):
    rsa = keyfiles("s2025.pem", dkimkeys.rsa_key(2048))
    ed = keyfiles("ed1.pem", dkimkeys.ed25519_key())
    run = dkim(dns, "-s", "s2025", "-s", "ed1", "--private-key", rsa, "--private-key", ed)
    assert run.returncode == 0


def test_a_key_rotated_on_one_side_only(dns, keyfiles):
    other = keyfiles("new.pem", dkimkeys.rsa_key(4096))
    run = run_plugin("check_dkim", "-n", dns.address, "-D", "example.org", "-s", "s2025",
                     "--private-key", other, "-vvv")
    assert run.returncode == 2
    assert run.first.startswith(f"DKIM CRITICAL - s2025: the private key in {other} does not "
                                "match the key in DNS (rotated on one side only?)")
    secret = dkimkeys.pem(dkimkeys.rsa_key(4096)).decode().splitlines()[1]
    assert secret not in run.stdout + run.stderr


def test_a_private_key_readable_by_others_warns(dns, keyfiles):
    loose = keyfiles("loose.pem", dkimkeys.rsa_key(2048), mode=0o644)
    run = dkim(dns, "-s", "s2025", "--private-key", loose)
    assert run.returncode == 1
    assert run.first.startswith(f"DKIM WARNING - s2025: private key file {loose} is readable by "
                                "group or others (mode 0644)")


def signed_by_s2025(tmp_path, algorithm: str, canonicalization: str):
    """Mail signed by dkimpy with the s2025 key, and the file it is saved in."""
    signed = dkimkeys.dkimpy_sign(dkimkeys.MESSAGE, "s2025", "example.org",
                                  dkimkeys.rsa_key(2048), algorithm, canonicalization)
    path = tmp_path / "signed.eml"
    path.write_bytes(signed)
    return signed, path


def test_signed_mail_verifies(dns, tmp_path):
    signed, path = signed_by_s2025(tmp_path, "rsa-sha256", "relaxed/relaxed")
    run = dkim(dns, "--message", str(path), "-v")
    assert run.returncode == 0
    assert run.lines[:2] == [
        "DKIM OK - 1 signature verified",
        "signature d=example.org s=s2025 a=rsa-sha256 c=relaxed/relaxed: pass",
    ]
    tampered = run_plugin("check_dkim", "-n", dns.address, "-D", "example.org", "--message", "-",
                          stdin=signed.replace(b"We lost", b"We won").decode())
    assert tampered.returncode == 2
    assert tampered.first.startswith("DKIM CRITICAL - signature d=example.org s=s2025: fail, "
                                     "body hash mismatch |")


def test_weak_sha1_signatures_warn(dns, tmp_path):
    _, path = signed_by_s2025(tmp_path, "rsa-sha1", "simple/simple")
    run = dkim(dns, "--message", str(path))
    assert run.returncode == 1
    assert run.first.startswith("DKIM WARNING - signature d=example.org s=s2025: passes, but "
                                "rsa-sha1 is weak |")


def test_an_unsigned_message_is_critical(dns, tmp_path):
    path = tmp_path / "plain.eml"
    path.write_bytes(dkimkeys.MESSAGE)
    run = dkim(dns, "--message", str(path))
    assert run.returncode == 2
    assert run.first.startswith("DKIM CRITICAL - the message carries no DKIM-Signature |")


def test_bad_input_is_one_unknown_line(nameserver, tmp_path, keyfiles):
    notkey = tmp_path / "cert.pem"
    notkey.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    good = keyfiles("k.pem", dkimkeys.ed25519_key())
    cases = [
        (["-D", "bad domain", "-s", "x"],
         "argument -D/--domain: 'bad domain' is not a domain name"),
        (["-D", "example.org", "-s", "bad selector"],
         "argument -s/--selector: 'bad selector' is not a valid selector"),
        (["-D", "example.org"], "give -s SELECTOR, --message FILE or both"),
        (["-D", "example.org", "-s", "a", "--private-key", "/nonexistent.pem"],
         "--private-key /nonexistent.pem: No such file or directory"),
        (["-D", "example.org", "-s", "a", "--private-key", str(notkey)],
         f"--private-key {notkey}: not an unencrypted PEM private key"),
        (["-D", "example.org", "-s", "a", "-s", "b", "--private-key", good],
         "1 --private-key for 2 selectors: give one per selector"),
        (["-D", "example.org", "--message", "/nonexistent.eml"],
         "--message /nonexistent.eml: No such file or directory"),
    ]
    for args, message in cases:
        run = run_plugin("check_dkim", "-n", nameserver.address, *args)
        assert run.returncode == 3, args
        assert run.lines[0] == f"DKIM UNKNOWN - {message}"
        assert run.stderr == ""


def test_an_unloadable_key_is_malformed_and_hides_no_other_selector(dns):
    import base64

    from tests.test_dkim import UNKNOWN_ALGORITHM_SPKI

    dns.add("odd._domainkey.example.org", "TXT",
            f'"v=DKIM1; k=rsa; p={base64.b64encode(UNKNOWN_ALGORITHM_SPKI).decode()}"')
    run = dkim(dns, "-s", "odd", "-s", "s2025", "-v")
    assert run.returncode == 2
    assert run.lines[0].startswith("DKIM CRITICAL - odd: malformed key record: p= is not a "
                                   "SubjectPublicKeyInfo key (")
    assert "s2025: example.org" not in run.stdout
    assert any(line.startswith("s2025: s2025._domainkey.example.org: rsa 2048")
               for line in run.lines)


def test_foreign_text_cannot_break_the_status_line(dns, tmp_path):
    """A d= folded with CR LF, a record with a newline inside a tag: the output
    keeps one status line, and no second line pretends to be one."""
    message = tmp_path / "folded.eml"
    message.write_bytes(b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org\r\n"
                        b" DKIM OK - forged; s=s2025; h=from; bh=; b=\r\n" + dkimkeys.MESSAGE)
    dns.add("nl._domainkey.example.org", "TXT", '"v=DKIM1; k=rsa;\\010DKIM OK - x| p=abc"')
    for args in (["--message", str(message)], ["-s", "nl"]):
        run = run_plugin("check_dkim", "-n", dns.address, "-D", "example.org", *args, "-v")
        assert run.returncode == 2, run.stdout
        assert not any(line.lstrip().startswith("DKIM OK") for line in run.lines), run.stdout
        assert run.lines[0].count("|") <= 1 and run.stderr == ""


def test_an_endless_message_is_refused_by_size():
    run = run_plugin("check_dkim", "-D", "example.org", "--message", "/dev/zero")
    assert run.returncode == 3
    assert run.lines == ["DKIM UNKNOWN - --message /dev/zero: larger than 32 MiB"]
