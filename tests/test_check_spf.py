"""check_spf as a user runs it, against the scripted nameserver."""

from __future__ import annotations

import pytest

from check_mail.checks import spf as check
from check_mail.simulation.dnsserver import Fault
from tests.helpers.plugins import run_check, run_plugin


def spf(nameserver, *args: str):
    return run_check(check, "-n", nameserver.address, *args)


@pytest.fixture
def org(nameserver):
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net '
                                         'mx -all"', ttl=3600)
    nameserver.add("_spf.example.net", "TXT", '"v=spf1 a:out.example.net ~all"')
    nameserver.add("out.example.net", "A", "198.51.100.1")
    nameserver.add("example.org", "MX", "10 mx.example.org.")
    nameserver.add("mx.example.org", "A", "192.0.2.25")
    return nameserver


def test_a_good_record(org):
    run = spf(org, "-D", "example.org")
    assert run.returncode == 0
    assert run.first == ("SPF OK - example.org: 3 DNS lookups (max 10), -all | "
                         "lookups=3;8;10;0 time=Xs;;;0 ttl=3600s;86400;;0 voids=0;1;2;0")


def test_long_output_shows_the_tree(org):
    run = spf(org, "-D", "example.org", "-v")
    assert run.lines[1:6] == [
        "record: v=spf1 ip4:192.0.2.0/24 include:_spf.example.net mx -all",
        "lookups: 3, void lookups: 0",
        "example.org costs 3 lookups",
        "  include:_spf.example.net costs 2 lookups",
        "costliest: include:_spf.example.net with 2 lookups",
    ]


def test_sending_ips_and_the_mx(org):
    run = spf(org, "-D", "example.org", "--ip", "198.51.100.1", "--mx-must-pass")
    assert run.returncode == 0
    assert run.first.startswith("SPF OK - example.org: 3 DNS lookups (max 10), -all; "
                                "198.51.100.1 pass; 192.0.2.25 pass |")
    failing = spf(org, "-D", "example.org", "--ip", "203.0.113.9")
    assert failing.returncode == 2
    assert failing.first.startswith("SPF CRITICAL - example.org: 203.0.113.9 fail (-all); "
                                    "3 DNS lookups (max 10), -all |")


@pytest.mark.parametrize(("record", "state", "line"), [
    ('"v=spf1 mx ~all"', 0, "SPF OK - example.com: 1 DNS lookup (max 10), ~all |"),
    ('"v=spf1 mx ?all"', 1, "SPF WARNING - example.com: ?all: unlisted senders get neutral, "
                            "which protects nobody; 1 DNS lookup (max 10), ?all |"),
    ('"v=spf1 mx"', 1, "SPF WARNING - example.com: no all and no redirect: unlisted senders "
                       "get neutral, which protects nobody; 1 DNS lookup (max 10), no all |"),
    ('"v=spf1 +all"', 2, "SPF CRITICAL - example.com: +all authorises every sender; "
                         "0 DNS lookups (max 10), +all |"),
    ('"v=spf1 ptr -all"', 1, "SPF WARNING - example.com: ptr in example.com: ptr is slow and "
                             "deprecated (RFC 7208 5.5); 1 DNS lookup (max 10), -all |"),
    ('"v=spf1 ip4:192.0.2.300 -all"', 2, "SPF CRITICAL - example.com: syntax error: bad ip4 "
                                         "address in 'ip4:192.0.2.300' (permerror) |"),
    ('"v=spf1 include:gone.example -all"', 2, "SPF CRITICAL - example.com: include:gone.example "
                                              "has no SPF record (permerror); 1 DNS lookup "
                                              "(max 10), -all |"),
])
def test_policies(nameserver, record, state, line):
    nameserver.add("example.com", "TXT", record)
    nameserver.add("example.com", "MX", "10 mx.example.com.")
    nameserver.add("mx.example.com", "A", "192.0.2.9")
    run = spf(nameserver, "-D", "example.com")
    assert (run.returncode, run.first[:len(line)]) == (state, line)


def test_strict_makes_softfail_warn(nameserver):
    nameserver.add("example.com", "TXT", '"v=spf1 ip4:192.0.2.1 ~all"')
    run = spf(nameserver, "-D", "example.com", "--strict")
    assert run.returncode == 1
    assert run.first.startswith("SPF WARNING - example.com: ~all: unlisted senders only "
                                "softfail (--strict)")


def test_no_record_and_duplicates(nameserver):
    assert spf(nameserver, "-D", "example.com").first == (
        "SPF CRITICAL - example.com: no SPF record | time=Xs;;;0")
    nameserver.add("example.com", "TXT", '"v=spf1 -all"', '"v=spf1 ~all"')
    run = spf(nameserver, "-D", "example.com")
    assert run.returncode == 2
    assert run.first.startswith("SPF CRITICAL - example.com: 2 SPF records (permerror) |")


def test_too_many_lookups_and_the_costliest_include(nameserver):
    includes = " ".join(f"include:i{i}.example" for i in range(4))
    nameserver.add("example.com", "TXT", f'"v=spf1 {includes} -all"')
    for i in range(4):
        nameserver.add(f"i{i}.example", "TXT", f'"v=spf1 {"a " * i}-all"')
        nameserver.add(f"i{i}.example", "A", "198.51.100.7")
    run = spf(nameserver, "-D", "example.com", "-v")
    assert run.returncode == 1
    assert run.lines[0] == "SPF WARNING - example.com: 10 DNS lookups (outside -w 8; max 10), -all"
    assert "costliest: include:i3.example with 4 lookups" in run.lines
    assert spf(nameserver, "-D", "example.com", "-w", "10", "-c", "9").returncode == 2


def test_obsolete_spf_type_long_record_and_ttl(nameserver):
    terms = " ".join(f"ip4:198.51.100.{i}" for i in range(40))
    record = f"v=spf1 {terms} -all"
    strings = " ".join(f'"{record[i:i + 200]}"' for i in range(0, len(record), 200))
    nameserver.add("example.com", "TXT", strings, ttl=172800)
    nameserver.add("example.com", "SPF", strings)
    run = spf(nameserver, "-D", "example.com", "-v")
    assert run.returncode == 1
    assert run.first.startswith("SPF WARNING - example.com: an obsolete type-99 SPF record is "
                                "published; only TXT counts (+2 more); 0 DNS lookups")
    assert "warning: TTL 172800 s (max 86400 s)" in run.lines
    assert f"warning: the record is {len(record)} octets; over 450 it may not fit a UDP " \
           "answer" in run.lines


def test_a_timeout_in_a_nested_include_is_unknown(nameserver):
    nameserver.add("example.com", "TXT", '"v=spf1 include:_a.example.com -all"')
    nameserver.add("_a.example.com", "TXT", '"v=spf1 include:_b.example.com -all"')
    nameserver.fault("_b.example.com", Fault.TIMEOUT)
    run = spf(nameserver, "-D", "example.com", "-t", "3", "--query-timeout", "0.3")
    assert run.returncode == 3
    assert run.first.startswith("SPF UNKNOWN - example.com: temperror: TXT _b.example.com: "
                                "timeout;")


@pytest.mark.parametrize(("args", "message"), [
    ([], "the following arguments are required: -D/--domain"),
    (["-D", "bad domain"], "argument -D/--domain: 'bad domain' is not a domain name"),
    (["-D", "example.com", "--ip", "192.0.2.999"],
     "argument --ip: '192.0.2.999' is not an IP address"),
    (["-D", "example.com", "--sender", "nobody"],
     "argument --sender: 'nobody' is not a mail address"),
    (["-D", "example.com", "--max-ttl", "-1"],
     "argument --max-ttl: '-1' is not a positive whole number"),
    (["-D", "example.com", "-w", "x"], "argument -w/--warning: 'x' is not a valid range"),
])
def test_bad_input_is_one_unknown_line(nameserver, args, message):
    run = run_plugin("check_spf", "-n", nameserver.address, *args)
    assert run.returncode == 3
    assert run.lines[0] == f"SPF UNKNOWN - {message}"
    assert run.stderr == ""


def test_caps_on_mx_hosts_addresses_and_sending_ips(nameserver):
    """300 MX with 250 addresses each made 75,000 evaluations: a run follows
    20 MX, 32 addresses of each and 64 sending IPs, and says so."""
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:127.0.0.0/8 -all"')
    names = [f"mx{i}.example.org" for i in range(300)]
    nameserver.add("example.org", "MX", *(f"{i} {name}." for i, name in enumerate(names)))
    for i, name in enumerate(names[:25]):
        nameserver.add(name, "A", *(f"127.{i}.{n // 250}.{n % 250 + 1}" for n in range(250)))
    run = spf(nameserver, "-D", "example.org", "--mx-must-pass", "-v")
    assert run.returncode == 1, run.stdout
    assert "warning: example.org has 300 MX hosts; only the first 20 are checked" in run.lines
    assert "warning: MX mx0.example.org has 250 addresses; only the first 32 are checked" \
        in run.lines
    assert "warning: 640 sending IPs; only the first 64 are checked" in run.lines
    assert len({q.name for q in nameserver.log if q.rdtype == "A"}) == 20
