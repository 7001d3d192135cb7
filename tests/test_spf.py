"""SPF: parsing, the audit walk, and check_host() against pyspf, an independent
implementation, on generated records."""

from __future__ import annotations

import ipaddress
import random

import pytest

from check_mail import spf
from check_mail.deadline import Deadline
from check_mail.dns import Resolver
from check_mail.simulation.dnsserver import Fault, ScriptedNameserver


def resolver(server, seconds=5.0, query_timeout=0.3):
    return Resolver([server.nameserver], deadline=Deadline(seconds), query_timeout=query_timeout)


@pytest.mark.parametrize(("record", "message"), [
    ("v=spf1 -all", ""),
    ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24//64 ptr include:_spf.example.net "
     "exists:%{i}.bl.example.org redirect=_spf.example.org exp=why.%{d} foo=bar ~all", ""),
    ("v=spf1 ip4:192.0.2.300 -all", "bad ip4 address in 'ip4:192.0.2.300'"),
    ("v=spf1 ip4:192.0.2.0/33 -all", "bad CIDR length in 'ip4:192.0.2.0/33'"),
    ("v=spf1 a/33 -all", "CIDR length out of range in 'a/33'"),
    ("v=spf1 include -all", "include needs a domain in 'include'"),
    ("v=spf1 a:1.2.3.4 -all", "bad domain in 'a:1.2.3.4'"),
    ("v=spf1 frobnicate -all", "unknown mechanism in 'frobnicate'"),
    ("v=spf1 -all redirect=a.example redirect=b.example", "redirect= appears twice in "
     "'redirect=b.example'"),
    ("v=spf1 exists:%{x}.example.org",
     "macro %{x} is not allowed here in 'exists:%{x}.example.org'"),
    ("v=spf1 exists:%{c}.example.org",
     "macro %{c} is not allowed here in 'exists:%{c}.example.org'"),
    ("v=spf1 a:%{d0}.example.org", "macro keeps zero parts in 'a:%{d0}.example.org'"),
    ("v=spf1 a:%{d0000}.example.org", "macro keeps zero parts in 'a:%{d0000}.example.org'"),
    ("v=spf1 all:foo", "all takes no argument in 'all:foo'"),
])
def test_parse(record, message):
    if not message:
        spf.parse(record)
        return
    with pytest.raises(spf.SpfError) as error:
        spf.parse(record)
    assert f"{error.value} in {error.value.term!r}" == message


def test_ending():
    assert spf.parse("v=spf1 mx ~all").ending == "~all"
    assert spf.parse("v=spf1 mx redirect=_spf.example.org").ending == "redirect=_spf.example.org"
    assert spf.parse("v=spf1 mx").ending == ""
    assert spf.parse("v=spf1 ?all").ending == "?all"


@pytest.fixture
def dns():
    with ScriptedNameserver() as server:
        yield server


def test_nested_includes_over_the_limit_name_the_costliest(dns):
    dns.add("example.org", "TXT", '"v=spf1 mx include:_a.example.org include:_b.example.org -all"')
    dns.add("_a.example.org", "TXT", '"v=spf1 a:x.example.org a:y.example.org ~all"')
    dns.add("_b.example.org", "TXT",
            '"v=spf1 include:_c.example.org include:_d.example.org a:z.example.org ~all"')
    dns.add("_c.example.org", "TXT", '"v=spf1 a:1.example.org a:2.example.org a:3.example.org '
                                     'a:4.example.org ~all"')
    dns.add("_d.example.org", "TXT", '"v=spf1 ip4:192.0.2.0/24 ~all"')
    for host in ("example.org", "x.example.org", "y.example.org", "z.example.org",
                 "1.example.org", "2.example.org", "3.example.org", "4.example.org"):
        dns.add(host, "A", "198.51.100.99")
    dns.add("example.org", "MX", "10 x.example.org.")
    found = spf.audit(resolver(dns), "example.org")
    assert found.walk.lookups == 12
    assert found.walk.result == "permerror"
    assert found.walk.problem == "more than 10 DNS lookups"
    assert found.walk.costliest.domain == "_b.example.org."
    assert found.walk.costliest.cost == 8
    # An include or redirect counts in its own branch: its cost is what dropping it saves.
    assert [(d, b.domain, b.cost) for d, b in found.walk.tree.walk()] == [
        (0, "example.org.", 12), (1, "_a.example.org.", 3), (1, "_b.example.org.", 8),
        (2, "_c.example.org.", 5), (2, "_d.example.org.", 1)]
    # A receiver stops at the 11th lookup: permerror for a sender it does not list.
    outcome = spf.check_host(resolver(dns), "198.51.100.1", "example.org")
    assert (outcome.result, outcome.lookups) == ("permerror", 11)


def test_duplicate_records_and_the_obsolete_spf_type(dns):
    dns.add("example.org", "TXT", '"v=spf1 -all"', '"v=spf1 ~all"', '"google-site-verification=x"')
    dns.add("example.org", "SPF", '"v=spf1 -all"')
    found = spf.audit(resolver(dns), "example.org")
    assert sorted(found.records) == ["v=spf1 -all", "v=spf1 ~all"]
    assert found.spf_rr and found.record is None and found.walk is None
    assert spf.check_host(resolver(dns), "192.0.2.1", "example.org").result == "permerror"


def test_ptr_and_a_missing_include_target_anywhere_in_the_tree(dns):
    dns.add("example.org", "TXT", '"v=spf1 include:_spf.example.org include:gone.example -all"')
    dns.add("_spf.example.org", "TXT", '"v=spf1 ptr:example.org ~all"')
    found = spf.audit(resolver(dns), "example.org")
    assert found.terms("ptr") == [("_spf.example.org", "ptr:example.org")]
    assert found.missing_includes == ["gone.example"]
    assert found.ending == "-all"


def test_the_ending_follows_redirects(dns):
    dns.add("example.org", "TXT", '"v=spf1 mx redirect=_spf.example.org"')
    dns.add("_spf.example.org", "TXT", '"v=spf1 ip4:192.0.2.0/24 ?all"')
    assert spf.audit(resolver(dns), "example.org").ending == "?all"
    dns.add("plus.example", "TXT", '"v=spf1 +all"')
    assert spf.audit(resolver(dns), "plus.example").ending == "+all"


def test_a_long_record_split_into_strings(dns):
    terms = " ".join(f"ip4:198.51.100.{i}" for i in range(40))
    record = f"v=spf1 {terms} -all"
    strings = " ".join(f'"{record[i:i + 200]}"' for i in range(0, len(record), 200))
    dns.add("example.org", "TXT", strings)
    found = spf.audit(resolver(dns), "example.org")
    assert found.records == [record] and len(record) > 450
    assert spf.check_host(resolver(dns), "198.51.100.39", "example.org").result == "pass"


def test_a_timeout_in_a_nested_include_is_a_temperror(dns):
    dns.add("example.org", "TXT", '"v=spf1 include:_a.example.org -all"')
    dns.add("_a.example.org", "TXT", '"v=spf1 include:_b.example.org -all"')
    dns.fault("_b.example.org", Fault.TIMEOUT)
    found = spf.audit(resolver(dns, query_timeout=0.2), "example.org")
    assert found.walk.result == "temperror"
    assert found.walk.problem == "TXT _b.example.org: timeout"


def test_void_lookups_are_counted_and_limited(dns):
    dns.add("example.org", "TXT", '"v=spf1 a:n1.example.org mx:n2.example.org '
                                  'exists:n3.example.org a:n4.example.org -all"')
    outcome = spf.check_host(resolver(dns), "192.0.2.1", "example.org")
    assert (outcome.result, outcome.voids) == ("permerror", 3)
    assert outcome.problem == "more than 2 void lookups (exists:n3.example.org)"
    assert spf.check_host(resolver(dns), "192.0.2.1", "example.org", max_voids=5).result == "fail"


def test_the_report_lists_every_query(dns):
    dns.add("example.org", "TXT", '"v=spf1 a -all"')
    dns.add("example.org", "A", "192.0.2.1")
    outcome = spf.check_host(resolver(dns), "192.0.2.1", "example.org")
    assert outcome.result == "pass" and outcome.mechanism == "a"
    assert [(q.name, q.rdtype, q.status, q.term) for q in outcome.queries] == [
        ("example.org.", "TXT", "answer", ""), ("example.org.", "A", "answer", "a")]


# -- pyspf as an oracle -----------------------------------------------------

UNIVERSE_HOSTS = {f"h{i}.example": (f"192.0.2.{10 + i}", f"2001:db8::{10 + i:x}")
                  for i in range(4)}
ADDRESSES = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.77",
             "198.51.100.5", "2001:db8::a", "2001:db8::b", "2001:db8::ff", "2001:db8:1::1"]


def _universe(server: ScriptedNameserver) -> None:
    for name, (v4, v6) in UNIVERSE_HOSTS.items():
        server.add(name, "A", v4)
        server.add(name, "AAAA", v6)
        for address in (v4, v6):
            server.add(ipaddress.ip_address(address).reverse_pointer, "PTR", f"{name}.")
    for i in range(4):
        server.add(f"d{i}.example", "MX", f"10 h{i}.example.", f"20 h{(i + 1) % 4}.example.")
    server.add("192.0.2.11.ex.example", "A", "127.0.0.2")


def _term(rng: random.Random, depth: int) -> str:
    qualifier = rng.choice(["", "", "-", "~", "?"])
    kind = rng.choice(["ip4", "ip6", "a", "a", "mx", "include", "exists", "ptr"])
    if kind == "ip4":
        return f"{qualifier}ip4:192.0.2.{rng.randrange(0, 256)}/{rng.choice([24, 28, 30, 32])}"
    if kind == "ip6":
        length = rng.choice([32, 64, 124, 128])
        return f"{qualifier}ip6:2001:db8::{rng.randrange(1, 256):x}/{length}"
    if kind == "a":
        target = rng.choice(["", f":h{rng.randrange(4)}.example", ":missing.example"])
        cidr = rng.choice(["", "/24", "//64", "/30//120"])
        return f"{qualifier}a{target}{cidr}"
    if kind == "mx":
        return f"{qualifier}mx:d{rng.randrange(4)}.example" + rng.choice(["", "/24"])
    if kind == "include" and depth < 2:
        return f"{qualifier}include:r{depth + 1}-{rng.randrange(3)}.example"
    if kind == "exists":
        return f"{qualifier}exists:%{{i}}.ex.example"
    return f"{qualifier}ptr:example"


def _record(rng: random.Random, depth: int) -> str:
    terms = [_term(rng, depth) for _ in range(rng.randrange(0, 5))]
    ending = rng.choice(["-all", "~all", "?all", "+all", "", f"redirect=d{rng.randrange(4)}.example"
                         if depth == 0 else "-all"])
    return " ".join(["v=spf1", *terms, ending]).strip()


@pytest.fixture(scope="module")
def world():
    """A generated universe of records on one scripted nameserver, and pyspf
    pointed at it (never at the host's resolver)."""
    import dns.resolver
    import spf as pyspf

    rng = random.Random(7208)
    server = ScriptedNameserver().start()
    _universe(server)
    for depth in (1, 2):
        for i in range(3):
            server.add(f"r{depth}-{i}.example", "TXT", f'"{_record(rng, depth)}"')
    for i in range(4):
        server.add(f"d{i}.example", "TXT", f'"{_record(rng, 1)}"')
    cases = []
    for n in range(150):
        domain = f"t{n}.example"
        server.add(domain, "TXT", f'"{_record(rng, 0)}"')
        cases.append((domain, rng.choice(ADDRESSES)))
    own = dns.resolver.Resolver(configure=False)
    own.nameservers, own.port = ["127.0.0.1"], server.port
    saved, dns.resolver.default_resolver = dns.resolver.default_resolver, own
    yield server, cases, pyspf
    dns.resolver.default_resolver = saved
    server.stop()


def test_check_host_agrees_with_pyspf(world):
    server, cases, pyspf = world
    disagreements, seen = [], set()
    for domain, ip in cases:
        ours = spf.check_host(resolver(server), ip, domain, f"user@{domain}", "mail.example")
        seen.add(ours.result)
        theirs, _ = pyspf.check2(i=ip, s=f"user@{domain}", h="mail.example", querytime=5)
        if ours.result != theirs:
            record = next(q for q in server.records[(f"{domain}.", "TXT")])
            disagreements.append(f"{domain} {ip} {record}: ours {ours.result} "
                                 f"({ours.problem}), pyspf {theirs}")
    assert disagreements == []
    # The generated records reach every result that does not need a DNS fault.
    assert seen >= {"pass", "fail", "softfail", "neutral", "permerror"}, seen


# -- loops, deep and wide trees: bounded, reported, never a crash ----------------


@pytest.mark.parametrize(("records", "loop"), [
    ({"example.org": "v=spf1 include:example.org -all"}, "example.org > example.org"),
    ({"example.org": "v=spf1 include:b.example -all", "b.example": "v=spf1 include:example.org"},
     "example.org > b.example > example.org"),
    ({"example.org": "v=spf1 include:b.example -all", "b.example": "v=spf1 include:c.example",
      "c.example": "v=spf1 include:example.org"},
     "example.org > b.example > c.example > example.org"),
    ({"example.org": "v=spf1 redirect=example.org"}, "example.org > example.org"),
])
def test_loops_are_a_permerror_named_in_the_audit(dns, records, loop):
    for name, text in records.items():
        dns.add(name, "TXT", f'"{text}"')
    found = spf.audit(resolver(dns), "example.org")
    assert found.walk.result == "permerror"
    assert [problem for _, problem in found.permerrors] == [f"loop: {loop}"]
    assert spf.check_host(resolver(dns), "192.0.2.9", "example.org").result == "permerror"


def test_a_self_include_after_a_match_still_passes(dns):
    """A receiver stops at the first match: the loop behind it is never met."""
    dns.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.200 include:example.org -all"')
    assert spf.check_host(resolver(dns), "192.0.2.200", "example.org").result == "pass"
    assert spf.audit(resolver(dns), "example.org").permerrors == [
        ("include:example.org", "loop: example.org > example.org")]


def test_a_long_chain_stops_at_the_walk_limit(dns):
    for i in range(350):
        dns.add(f"c{i}.example", "TXT", f'"v=spf1 include:c{i + 1}.example -all"')
    found = spf.audit(resolver(dns), "c0.example")
    assert found.walk.lookups == spf.WALK_LIMIT + 1
    assert found.permerrors == [(f"include:c{spf.WALK_LIMIT}.example", f"more than "
                                 f"{spf.WALK_LIMIT} DNS lookups; the walk stopped there")]
    assert len(dns.log) < 2 * spf.WALK_LIMIT


def test_a_diamond_walks_each_domain_once_and_counts_every_path(dns):
    """Each level includes the next twice: 2^n paths, n domains. Walked once
    each; the lookups a receiver would make are counted all the same."""
    for i in range(24):
        dns.add(f"d{i}.example", "TXT",
                f'"v=spf1 include:d{i + 1}.example include:d{i + 1}.example -all"')
    dns.add("d24.example", "TXT", '"v=spf1 -all"')
    found = spf.audit(resolver(dns), "d0.example")
    assert found.walk.lookups == spf.WALK_LIMIT + 1  # stopped: far past any limit
    assert len({q.name for q in dns.log}) <= 25
    small = {f"e{i}.example": f"v=spf1 include:e{i + 1}.example include:e{i + 1}.example -all"
             for i in range(3)}
    for name, text in {**small, "e3.example": "v=spf1 a -all"}.items():
        dns.add(name, "TXT", f'"{text}"')
    found = spf.audit(resolver(dns), "e0.example")
    # 2 + 4 + 8 includes, and 8 paths reach e3's "a": as a receiver counts them.
    assert found.walk.lookups == 2 + 4 + 8 + 8
    assert [b.repeated for _, b in found.walk.tree.walk()].count(True) == 3


def test_a_permerror_inside_an_include_is_reported(dns):
    dns.add("example.org", "TXT", '"v=spf1 include:bad.example -all"')
    dns.add("bad.example", "TXT", '"v=spf1 ip4:1.2.3.999 -all"')
    assert spf.audit(resolver(dns), "example.org").permerrors == [
        ("include:bad.example", "bad ip4 address in 'ip4:1.2.3.999' (bad.example)")]


def test_void_lookups_count_once_per_term(dns):
    """An mx term whose two hosts have no address is one void lookup, not two
    (RFC 7208 4.6.4 limits terms); a term with no empty answer is none."""
    dns.add("example.org", "TXT", '"v=spf1 mx a:ok.example -all"')
    dns.add("example.org", "MX", "10 mx1.example.", "20 mx2.example.")
    dns.add("ok.example", "A", "198.51.100.1")
    outcome = spf.check_host(resolver(dns), "192.0.2.1", "example.org")
    assert (outcome.result, outcome.voids) == ("fail", 1)
    assert sorted(q.name for q in outcome.queries if q.void) == ["mx1.example.", "mx2.example."]


def test_the_walk_notices_the_deadline_even_on_cached_answers(dns):
    dns.add("example.org", "TXT", '"v=spf1 a -all"')
    late = Resolver([dns.nameserver], deadline=Deadline(0.0))
    outcome = spf.check_host(late, "192.0.2.1", "example.org")
    assert (outcome.result, outcome.problem) == ("temperror", "out of time (the deadline "
                                                              "passed)")


def test_a_macro_keeping_more_parts_than_there_are_keeps_them_all(dns):
    """RFC 7208 7.3: a DIGIT beyond the parts available uses all of them,
    however many digits (issue 21: 5,000 of them raised a conversion error)."""
    record = "v=spf1 exists:%{d" + "9" * 5000 + "}.x.example.org -all"
    dns.add("example.org", "TXT", " ".join(f'"{record[i:i + 250]}"'
                                           for i in range(0, len(record), 250)))
    dns.add("example.org.x.example.org", "A", "127.0.0.2")
    assert spf.check_host(resolver(dns), "192.0.2.1", "example.org").result == "pass"
