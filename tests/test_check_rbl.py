"""check_rbl as a user runs it: the installed executable, exit code and output."""

from __future__ import annotations

import os
import subprocess

import pytest

from check_mail.checks import rbl as check
from check_mail.dns import reverse_labels
from check_mail.simulation.dnsserver import Fault
from tests.helpers.plugins import executable, run_check, run_plugin

LISTED = "99.2.0.192"  # 192.0.2.99 reversed
ZONES = """\
[bl.example.net]
families = ipv4
listed = 127.0.0.2-127.0.0.3
labels = 127.0.0.2 spam source, 127.0.0.3 dialup
delist = https://bl.example.net/remove

[dnsbl.example.org]
families = ipv4 ipv6
errors = 127.255.255.254
labels = 127.255.255.254 query via a public resolver
delist = https://dnsbl.example.org/

[v6.example.com]
families = ipv6
delist = https://v6.example.com/
"""


@pytest.fixture
def zones(tmp_path):
    path = tmp_path / "zones.ini"
    path.write_text(ZONES)
    return str(path)


def rbl(nameserver, *args: str):
    return run_check(check, "-n", nameserver.address, *args)


def test_clean_address(nameserver, zones):
    run = rbl(nameserver, "-H", "192.0.2.25", "--zones-file", zones)
    assert run.returncode == 0
    assert run.first == ("RBL OK - 192.0.2.25 not listed on 2 zones | errors=0;;~:0;0;2 "
                         "listed=0;0;1;0;2 time=Xs;;;0 zones=2;;;0")
    assert run.stderr == ""


def test_one_listing_warns_with_reason_codes_and_delisting_url(nameserver, zones):
    nameserver.add(f"{LISTED}.bl.example.net", "A", "127.0.0.2")
    nameserver.add(f"{LISTED}.bl.example.net", "TXT", '"Listed: spam trap hit"')
    run = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones, "-v")
    assert run.returncode == 1
    assert run.lines == [
        "RBL WARNING - 192.0.2.99 listed on 1 of 2 zones (bl.example.net)",
        '192.0.2.99 listed on bl.example.net: 127.0.0.2 (spam source) "Listed: spam trap hit"; '
        "delist: https://bl.example.net/remove",
        "| errors=0;;~:0;0;2 listed=1;0;1;0;2 time=" + run.lines[-1].split("time=")[1],
    ]


def test_two_listings_are_critical(nameserver, zones):
    nameserver.add(f"{LISTED}.bl.example.net", "A", "127.0.0.3")
    nameserver.add(f"{LISTED}.dnsbl.example.org", "A", "127.0.0.2", "127.0.0.4")
    run = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones)
    assert run.returncode == 2
    assert run.first.startswith(
        "RBL CRITICAL - 192.0.2.99 listed on 2 of 2 zones (bl.example.net, dnsbl.example.org) |")


def test_thresholds_use_the_range_syntax(nameserver, zones):
    nameserver.add(f"{LISTED}.bl.example.net", "A", "127.0.0.2")
    quiet = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones, "-w", "1", "-c", "2")
    assert quiet.returncode == 0
    assert "listed=1;1;2;0;2" in quiet.first
    inside = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones, "-w", "@1:1")
    assert inside.returncode == 1


def test_hostname_checks_every_address_of_both_families(nameserver, zones):
    nameserver.add("mail.example.org", "A", "192.0.2.25")
    nameserver.add("mail.example.org", "AAAA", "2001:db8::25")
    run = rbl(nameserver, "-H", "mail.example.org", "--zones-file", zones)
    assert run.returncode == 0
    assert run.first.startswith(
        "RBL OK - mail.example.org (192.0.2.25, 2001:db8::25) not listed on 3 zones |")
    asked = {q.name for q in nameserver.log}
    assert "25.2.0.192.bl.example.net." in asked
    assert f"{reverse_labels('2001:db8::25')}.v6.example.com." in asked
    only4 = rbl(nameserver, "-H", "mail.example.org", "--zones-file", zones, "-4")
    assert only4.first.startswith(
        "RBL OK - mail.example.org (192.0.2.25) not listed on 2 zones |")


def test_an_ipv6_listing_names_the_address(nameserver, zones):
    nameserver.add("mail.example.org", "A", "192.0.2.25")
    nameserver.add("mail.example.org", "AAAA", "2001:db8::99")
    nameserver.add(f"{reverse_labels('2001:db8::99')}.v6.example.com", "A", "127.0.0.2")
    run = rbl(nameserver, "-H", "mail.example.org", "--zones-file", zones)
    assert run.returncode == 1
    assert run.first.startswith("RBL WARNING - 2001:db8::99 listed on 1 of 3 zones "
                                "(v6.example.com) |")


def test_error_codes_and_foreign_answers_are_errors_not_listings(nameserver, zones):
    nameserver.add(f"{LISTED}.dnsbl.example.org", "A", "127.255.255.254")
    nameserver.add(f"{LISTED}.bl.example.net", "A", "198.51.100.7")
    run = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones, "-v",
              "--max-errors", "2")
    assert run.returncode == 0
    assert run.lines[:3] == [
        "RBL OK - 192.0.2.99 not listed on 0 zones; 2 of 2 zones failed "
        "(1 answer outside 127.0.0.0/8, 1 refused: query via a public resolver)",
        "192.0.2.99 on bl.example.net: error, answer 198.51.100.7 is outside 127.0.0.0/8 "
        "(hijacking resolver or parked zone)",
        "192.0.2.99 on dnsbl.example.org: error, zone refused the query: "
        "query via a public resolver",
    ]


def test_a_dead_resolver_never_reads_ok(nameserver, zones):
    for zone in ("bl.example.net", "dnsbl.example.org"):
        nameserver.fault(f"{LISTED}.{zone}", Fault.SERVFAIL)
    run = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones)
    assert run.returncode == 3
    assert run.first.startswith("RBL UNKNOWN - cannot tell whether 192.0.2.99 is listed: "
                                "2 of 2 zones failed (2 SERVFAIL) | errors=2;;~:0;0;2")


def test_a_silent_resolver_ends_within_the_timeout(nameserver, zones):
    for zone in ("bl.example.net", "dnsbl.example.org"):
        nameserver.fault(f"{LISTED}.{zone}", Fault.TIMEOUT)
    # The subprocess limit only guards against a hang; the plugin must stop itself.
    run = run_plugin("check_rbl", "-n", nameserver.address, "-H", "192.0.2.99", "--zones-file",
                     zones, "-t", "2", timeout=10)
    assert run.returncode == 3
    assert run.first.startswith("RBL UNKNOWN - cannot tell whether 192.0.2.99 is listed: "
                                "2 of 2 zones failed (2 timeout) |")


def test_garbage_and_truncated_answers(nameserver, zones):
    nameserver.fault(f"{LISTED}.bl.example.net", Fault.GARBAGE)
    nameserver.add(f"{LISTED}.dnsbl.example.org", "A", "127.0.0.2")
    nameserver.fault(f"{LISTED}.dnsbl.example.org", Fault.TRUNCATE)
    run = rbl(nameserver, "-H", "192.0.2.99", "--zones-file", zones, "-v",
              "--max-errors", "1")
    assert run.returncode == 1
    assert run.lines[0] == ("RBL WARNING - 192.0.2.99 listed on 1 of 2 zones (dnsbl.example.org)"
                            "; 1 of 2 zones failed (1 malformed)")
    assert "192.0.2.99 on bl.example.net: error, malformed" in run.lines[1]


def test_selftest_leaves_out_dead_zones(nameserver, zones):
    nameserver.add("2.0.0.127.bl.example.net", "A", "127.0.0.2")
    run = rbl(nameserver, "-H", "192.0.2.25", "--zones-file", zones, "--selftest", "-v")
    assert run.returncode == 0
    assert run.lines[:2] == [
        "RBL OK - 192.0.2.25 not listed on 1 zone; 1 zone unusable",
        "dnsbl.example.org: unusable, test entry 127.0.0.2 is not listed (dead zone?)",
    ]


def test_server_option_replaces_the_list(nameserver):
    run = rbl(nameserver, "-H", "192.0.2.25", "-s", "zen.spamhaus.org", "-s", "bl.example.com")
    assert run.returncode == 0
    assert run.first.startswith("RBL OK - 192.0.2.25 not listed on 2 zones |")
    assert sorted(q.name for q in nameserver.log) == [
        "25.2.0.192.bl.example.com.", "25.2.0.192.zen.spamhaus.org."]


def test_default_list_and_keys(nameserver):
    run = rbl(nameserver, "-H", "192.0.2.25", "--key", "spamhaus-dqs=k3y", "-vv")
    assert run.returncode == 0
    asked = {q.name for q in nameserver.log}
    assert "25.2.0.192.k3y.zen.dq.spamhaus.net." in asked
    assert "25.2.0.192.zen.spamhaus.org." not in asked
    assert "k3y" not in run.stdout
    assert "skipped, no --key given: {key}.combined.mail.abusix.zone" in run.lines


def test_domain_blocklists(nameserver):
    nameserver.add("example.org.dbl.spamhaus.org", "A", "127.0.1.2")
    run = rbl(nameserver, "-D", "example.org", "-v")
    assert run.returncode == 1
    assert run.lines[0] == "RBL WARNING - example.org listed on 1 of 3 zones (dbl.spamhaus.org)"
    assert run.lines[1] == ("example.org listed on dbl.spamhaus.org: 127.0.1.2 (spam domain); "
                            "delist: https://check.spamhaus.org/")


def test_unknown_host(nameserver, zones):
    run = rbl(nameserver, "-H", "nothing.example.org", "--zones-file", zones)
    assert run.returncode == 3
    assert run.lines == ["RBL UNKNOWN - nothing.example.org does not exist (NXDOMAIN)"]


def test_host_lookup_failure(nameserver, zones):
    nameserver.fault("mail.example.org", Fault.SERVFAIL)
    run = rbl(nameserver, "-H", "mail.example.org", "--zones-file", zones)
    assert run.returncode == 3
    assert run.lines == ["RBL UNKNOWN - cannot resolve mail.example.org: A SERVFAIL, "
                         "AAAA SERVFAIL"]


@pytest.mark.parametrize(("args", "message"), [
    ([], "give -H HOST, -D DOMAIN or both (or --hosts-file)"),
    (["-H", "999.1.1.1"],
     "argument -H/--host: '999.1.1.1' is neither an IP address, a network nor a hostname"),
    (["-H", "bad host"],
     "argument -H/--host: 'bad host' is neither an IP address, a network nor a hostname"),
    (["-H", "203.0.113.0/33"], "argument -H/--host: '203.0.113.0/33' is not a network: /33 is "
                               "too long"),
    (["-H", "203.0.113.0/x"], "argument -H/--host: '203.0.113.0/x' is not a network (such as "
                              "203.0.113.0/24)"),
    (["-H", "10.0.0.0/8"], "16777216 addresses to check, more than --max-addresses 4096: a "
                           "typo in a prefix length?"),
    (["-H", "203.0.113.0/24", "--max-addresses", "100"],
     "256 addresses to check, more than --max-addresses 100: a typo in a prefix length?"),
    (["--hosts-file", "/nonexistent"], "--hosts-file /nonexistent: No such file or directory"),
    (["-H", "203.0.113.0/24", "-s", "bl.example.net", "-t", "2"],
     "256 queries at --rate 100 a second take 3 s, more than -t 2 allows: raise -t or --rate"),
    (["-H", "203.0.113.0/24", "--rate", "fast"],
     "argument --rate: 'fast' is not a number of queries a second"),
    (["-H", "2001:db8::1", "-4"], "-H 2001:db8::1 is not an IPv4 address"),
    (["-D", "192.0.2.1"], "argument -D/-U/--domain: '192.0.2.1' is not a domain name"),
    (["-H", "192.0.2.1", "-s", "bad zone"], "invalid zone 'bad zone'"),
    (["-H", "192.0.2.1", "--zones-file", "/nonexistent"],
     "cannot read zones file /nonexistent: No such file or directory"),
    (["-H", "192.0.2.1", "--key", "nokey"],
     "--key: expected NAME=SECRET (the value is not shown: it may hold a secret)"),
    (["-H", "192.0.2.1", "-w", "5:1"], "argument -w/--warning: '5:1' is not a valid range"),
    (["-H", "192.0.2.1", "-n", "ns.example"],
     "argument -n/--nameserver: invalid nameserver 'ns.example': not an IP address"),
    (["-H", "192.0.2.1", "-t", "0"], "argument -t/--timeout: '0' must be a number greater than 0"),
    (["-H", "192.0.2.1", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_unknown_line(nameserver, args, message):
    run = run_plugin("check_rbl", "-n", nameserver.address, *args)
    assert run.returncode == 3
    assert run.lines[0] == f"RBL UNKNOWN - {message}"
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr == ""


@pytest.mark.parametrize("flag", ["-h", "--help", "-V", "--version"])
def test_help_and_version_exit_3(flag):
    run = run_plugin("check_rbl", flag)
    assert run.returncode == 3
    assert "check_rbl" in run.stdout


def test_keys_from_a_file_and_the_environment(nameserver, tmp_path):
    """Secrets on the command line show in ps for every local user: the key
    file and the environment keep them out of it."""
    keys = tmp_path / "rbl.keys"
    keys.write_text("# Spamhaus DQS\nspamhaus-dqs=fil3key\n\n")
    run = run_plugin("check_rbl", "-n", nameserver.address, "-H", "192.0.2.25",
                     "--key-file", str(keys), "-vv")
    asked = {q.name for q in nameserver.log}
    assert "25.2.0.192.fil3key.zen.dq.spamhaus.net." in asked
    assert "fil3key" not in run.stdout
    env = dict(os.environ, CHECK_MAIL_RBL_KEYS="spamhaus-dqs=env1key, abusix=env2key")
    proc = subprocess.run([executable("check_rbl"), "-n", nameserver.address, "-H",
                           "192.0.2.26", "-vv"], capture_output=True, text=True, env=env)
    asked = {q.name for q in nameserver.log}
    assert "26.2.0.192.env1key.zen.dq.spamhaus.net." in asked
    assert "26.2.0.192.env2key.combined.mail.abusix.zone." in asked
    assert "env1key" not in proc.stdout + proc.stderr


def test_a_list_that_echoes_the_key_never_gets_it_shown(nameserver, tmp_path):
    """Issue 21: a keyed list whose TXT reason quotes the key, at -v."""
    keys = tmp_path / "rbl.keys"
    keys.write_text("spamhaus-dqs=echoedk3y\n")
    listed = "25.2.0.192.echoedk3y.zen.dq.spamhaus.net"
    nameserver.add(listed, "A", "127.0.0.2")
    nameserver.add(listed, "TXT", '"Listed; your query key echoedk3y, base64 ZWNob2VkazN5"')
    run = run_plugin("check_rbl", "-n", nameserver.address, "-H", "192.0.2.25",
                     "--key-file", str(keys), "-vvv")
    assert run.returncode in (1, 2), run.stdout
    assert '"Listed; your query key ****, base64 ****"' in run.stdout
    assert "echoedk3y" not in run.stdout + run.stderr
    assert "ZWNob2VkazN5" not in run.stdout


@pytest.mark.parametrize(("content", "where"), [
    ("spamhaus-dqs:s3cr3tvalue\n", "line 1"),
    ("# keys\nabusix=\n", "line 2"),
])
def test_a_bad_key_file_never_shows_the_secret(nameserver, tmp_path, content, where):
    keys = tmp_path / "rbl.keys"
    keys.write_text(content)
    run = run_plugin("check_rbl", "-n", nameserver.address, "-H", "192.0.2.25",
                     "--key-file", str(keys))
    assert run.returncode == 3
    assert run.lines == [f"RBL UNKNOWN - --key-file {keys}, {where}: expected NAME=SECRET "
                         "(the value is not shown: it may hold a secret)"]
    assert "s3cr3t" not in run.stdout + run.stderr


def test_a_malformed_key_on_the_command_line_is_not_echoed(nameserver):
    run = run_plugin("check_rbl", "-n", nameserver.address, "-H", "192.0.2.25",
                     "--key", "spamhaus-dqs:s3cr3tvalue")
    assert run.returncode == 3
    assert "s3cr3t" not in run.stdout + run.stderr


def test_selftest_with_no_usable_zone_is_unknown(nameserver, zones):
    """A resolver that answers NXDOMAIN for everything fails every self-test:
    nothing is known, which must not read OK."""
    run = rbl(nameserver, "-H", "192.0.2.25", "--zones-file", zones, "--selftest")
    assert run.returncode == 3
    assert run.first.startswith("RBL UNKNOWN - cannot tell whether 192.0.2.25 is listed: none "
                                "of the 2 zones passed its self-test |")


def test_a_host_with_thousands_of_addresses_is_capped(nameserver, zones):
    nameserver.add("flood.example.org", "A", *(f"192.0.2.{n % 250 + 1}" if n < 250 else
                                               f"198.51.100.{n % 250 + 1}" for n in range(500)))
    run = rbl(nameserver, "-H", "flood.example.org", "--zones-file", zones, "-v")
    assert run.returncode == 1
    assert run.lines[0].startswith("RBL WARNING - flood.example.org (")
    assert run.lines[0].endswith(" and 27 more) not listed on 2 zones; flood.example.org has "
                                 "500 addresses; only the first 32 are checked")
    assert run.lines[-2] == ("warning: flood.example.org has 500 addresses; only the first 32 "
                             "are checked")
    asked = [q for q in nameserver.log if q.name.endswith(".bl.example.net.")]
    assert len(asked) == 32


# -- networks and hosts files -------------------------------------------------------

RANGE_ZONES = ["-s", "bl.example.net", "-s", "dnsbl.example.org"]


def listed_in(nameserver, address: str, *zones: str) -> None:
    for zone in zones:
        nameserver.add(f"{reverse_labels(address)}.{zone}", "A", "127.0.0.2")


def test_a_network_is_judged_by_its_worst_address(nameserver):
    listed_in(nameserver, "203.0.113.7", "bl.example.net", "dnsbl.example.org")
    listed_in(nameserver, "203.0.113.9", "bl.example.net")
    run = rbl(nameserver, "-H", "203.0.113.0/28", *RANGE_ZONES, "--rate", "0", "-v")
    assert run.returncode == 2
    assert run.lines[:3] == [
        "RBL CRITICAL - 2 of 16 addresses listed: 203.0.113.7 on 2 zones (bl.example.net, "
        "dnsbl.example.org), 203.0.113.9 on 1 zone (bl.example.net)",
        "203.0.113.7 listed on 2 zones: bl.example.net, dnsbl.example.org",
        "203.0.113.9 listed on 1 zone: bl.example.net",
    ]
    assert run.lines[3].startswith("| addresses=16;;;0 errors=0;;~:0;0;2 "
                                   "listed_addresses=2;;;0;16 max_listed=2;0;1;0;2 "
                                   "queries=35;;;0 time=")
    assert len(nameserver.log) == 32 + 3  # one A per address and zone, and the listings' TXT


def test_one_listed_address_in_a_range_warns(nameserver):
    listed_in(nameserver, "2001:db8::5", "dnsbl.example.org")
    run = rbl(nameserver, "-H", "2001:db8::/124", *RANGE_ZONES)
    assert run.returncode == 1
    assert run.first.startswith("RBL WARNING - 1 of 16 addresses listed: 2001:db8::5 on 1 zone "
                                "(dnsbl.example.org) |")


def test_a_clean_range(nameserver):
    run = rbl(nameserver, "-H", "203.0.113.0/30", *RANGE_ZONES)
    assert run.returncode == 0
    assert run.first.startswith("RBL OK - 4 addresses (203.0.113.0/30) not listed on 2 zones |")


def test_a_hosts_file(nameserver, tmp_path):
    nameserver.add("mail.example.org", "A", "198.51.100.25")
    nameserver.add("mail.example.org", "AAAA", "2001:db8::25")
    listed_in(nameserver, "198.51.100.25", "bl.example.net")
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# our customers\n203.0.113.0/30\n\n192.0.2.1   # the old relay\n"
                     "mail.example.org\n203.0.113.2\n")
    run = rbl(nameserver, "--hosts-file", str(hosts), *RANGE_ZONES, "-v")
    assert run.returncode == 1
    assert run.lines[0] == ("RBL WARNING - 1 of 7 addresses listed: 198.51.100.25 on 1 zone "
                            "(bl.example.net)")
    only_v4 = rbl(nameserver, "--hosts-file", str(hosts), *RANGE_ZONES, "-4")
    assert "addresses=6;" in only_v4.first


def test_a_bad_line_in_a_hosts_file_is_named(nameserver, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("203.0.113.0/30\nnot a host\n")
    run = rbl(nameserver, "--hosts-file", str(hosts), *RANGE_ZONES)
    assert run.returncode == 3
    assert run.first == (f"RBL UNKNOWN - --hosts-file {hosts}, line 2: 'not a host' is neither "
                         "an IP address, a network nor a hostname")


def test_the_rate_spaces_the_queries(nameserver):
    """--rate 40 for 32 queries: the nameserver sees them arrive over 0.75 s at
    least, never more than a few in any tenth of a second."""
    run = rbl(nameserver, "-H", "203.0.113.0/28", *RANGE_ZONES, "--rate", "40")
    assert run.returncode == 0, run.stdout
    arrivals = sorted(query.at for query in nameserver.log)
    assert len(arrivals) == 32
    assert arrivals[-1] - arrivals[0] >= 31 / 40 * 0.95
    assert max(sum(1 for t in arrivals if start <= t < start + 0.1) for start in arrivals) <= 5
