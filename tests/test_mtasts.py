"""MTA-STS records, policies and the HTTPS fetch in every failure shape
(check_mail.mtasts), and TLS-RPT records (check_mail.tlsrpt)."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from check_mail import mtasts, tls, tlsrpt
from check_mail.deadline import Deadline
from check_mail.simulation.certificates import TestCA
from check_mail.simulation.httpsserver import Page, ScriptedHttpsServer

HOST = "mta-sts.example.org"
POLICY = "version: STSv1\nmode: enforce\nmx: mx1.example.org\nmx: *.backup.example.org\n" \
         "max_age: 604800\n"


@pytest.mark.parametrize("texts,record_id,problem", [
    (["v=STSv1; id=20261129T000000;"], "20261129T000000", ""),
    (["v=STSv1;id=abc"], "abc", ""),
    (["v=spf1 -all", "v=STSv1; id=1; ext=yes"], "1", ""),
    ([], None, ""),
    (["v=STSv10; id=1"], None, ""),  # not an STSv1 record at all
    (["v=STSv1; id=1", "v=STSv1; id=2"], None, "2 v=STSv1 records (senders take none)"),
    (["v=STSv1;"], None, "no id= field"),
    (["v=STSv1; id=2026-11-29"], None, "id=2026-11-29 is not 1 to 32 letters and digits"),
    (["v=STSv1; id=" + "a" * 33], None, f"id={'a' * 33} is not 1 to 32 letters and digits"),
    (["v=STSv1; id"], None, "malformed field 'id'"),
    # Issue 25, bug 7: RFC 8461 3.1 allows *WSP ";" *WSP, and WSP holds the tab.
    (["v=STSv1\t; id=abc"], "abc", ""),
    (["v=STSv1;\tid=abc\t;"], "abc", ""),
    # ... and an extension value is printable ASCII but "=", ";" and the space.
    (["v=STSv1; id=1; ext=a=b"], None, "malformed field 'ext=a=b'"),
    (["v=STSv1; id=1; ext=a b"], None, "malformed field 'ext=a b'"),
    (["v=STSv1; id=1; ext=\u00e9"], None, "malformed field 'ext=\u00e9'"),
])
def test_the_txt_record(texts, record_id, problem):
    record, found = mtasts.parse_record(texts)
    assert (record.id if record else None, found) == (record_id, problem)


def test_a_policy():
    policy = mtasts.parse_policy(POLICY.replace("\n", "\r\n"))
    assert policy == mtasts.Policy(mtasts.Mode.ENFORCE, 604800,
                                   ("mx1.example.org", "*.backup.example.org"))
    assert policy.usable
    assert policy.covers("MX1.example.org.") and policy.covers("a.backup.example.org")
    assert not policy.covers("a.b.backup.example.org")  # one label for the wildcard
    assert not policy.covers("backup.example.org") and not policy.covers("mx2.example.org")


@pytest.mark.parametrize("text,problems", [
    ("version: STSv1\nmode: none\nmax_age: 86400\n", ()),  # mode none needs no mx
    ("mode: enforce\nmx: a.example\nmax_age: 1\n", ("no 'version: STSv1'",)),
    ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
     ("version 'STSv2' is not STSv1",)),
    ("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
     ("mode 'Enforce' is not enforce, testing or none",)),
    ("version: STSv1\nmode: testing\nmax_age: 1\n", ("no mx pattern",)),
    ("version: STSv1\nmode: testing\nmx: a.example\n", ("no max_age",)),
    ("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 31557601\n",
     ("max_age 31557601 is over a year (31557600)",)),
    ("version: STSv1\nmode: testing\nmx: a.example\nmax_age: -5\n",
     ("max_age '-5' is not a number of seconds",)),
    ("version: STSv1\nmode: testing\nmx: mx*.example\nmax_age: 5\n", ("no mx pattern",)),
    ("<html>Not found</html>\n", ("no 'version: STSv1'", "no mode", "no max_age",
                                  "no mx pattern")),
])
def test_policy_problems(text, problems):
    assert mtasts.parse_policy(text).problems == problems


@pytest.mark.parametrize("text,remarks", [
    (POLICY, ()),
    (POLICY + "x-extension: anything\n", ()),  # unknown keys are extensions
    (POLICY + "mx: mx*.example.org\n", ("mx 'mx*.example.org' is not a domain or *.domain",)),
    # Issue 25, bug 8: RFC 8461 3.2 takes RFC 5321's Domain: one label, digits.
    (POLICY + "mx: localhost\n", ()),
    (POLICY + "mx: mail1\n", ()),
    (POLICY + "mx: 123.example\n", ()),
    (POLICY + "mx: -bad.example\n", ("mx '-bad.example' is not a domain or *.domain",)),
    (POLICY + "mode: testing\n", ("mode given twice",)),
    (POLICY + "garbage\n", ("line 6 is not 'key: value'",)),
    (" " + POLICY, ("line 1 is not 'key: value'",)),
])
def test_policy_remarks_leave_it_usable(text, remarks):
    """What breaks the grammar but not the policy: lenient senders skip it."""
    policy = mtasts.parse_policy(text)
    assert policy.remarks == remarks
    assert policy.mode is mtasts.Mode.ENFORCE or text.startswith(" ")


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture
def web(ca, tmp_path):
    """A policy host for mta-sts.example.org, and a context that trusts it."""
    server = ScriptedHttpsServer(ca.issue(HOST).server_context()).start()
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    server.client, _ = tls.contexts(str(tmp_path / "ca.pem"))
    yield server
    server.stop()


def fetch(server, seconds: float = 5) -> mtasts.Fetch:
    return asyncio.run(mtasts.fetch(HOST, ["127.0.0.1"], deadline=Deadline(seconds),
                                    context=server.client, port=server.port))


def test_a_policy_is_fetched(web):
    web.pages[mtasts.PATH] = Page(POLICY.encode(),
                                  headers={"Content-Type": "text/plain; charset=utf-8"})
    found = fetch(web)
    assert (found.error, found.status, found.body) == ("", 200, POLICY)
    assert found.url == f"https://{HOST}:{web.port}/.well-known/mta-sts.txt"
    assert web.requests == [f"GET /.well-known/mta-sts.txt HTTP/1.1 Host: {HOST}"]


def test_a_chunked_policy_is_fetched(web):
    web.pages[mtasts.PATH] = Page(POLICY.encode(), chunked=True)
    assert fetch(web).body == POLICY


@pytest.mark.parametrize("page,error", [
    (Page(b"gone", 404), "HTTP 404"),
    (Page(b"", 301, {"Location": "https://elsewhere.example/policy"}),
     "HTTP 301 redirect to https://elsewhere.example/policy (senders follow no redirect, "
     "RFC 8461 3.3)"),
    (Page(POLICY.encode(), headers={"Content-Type": "text/html"}),
     "Content-Type text/html, not text/plain (RFC 8461 3.2)"),
    (Page(POLICY.encode(), headers={}), "Content-Type missing, not text/plain (RFC 8461 3.2)"),
    (Page(b"x" * (mtasts.MAX_POLICY + 1)), "the policy is larger than 65536 octets"),
    (Page(b"x" * (mtasts.MAX_POLICY + 1), chunked=True),
     "the policy is larger than 65536 octets"),
    (Page(b"\xff\xfe policy"), "the policy is not UTF-8 text"),
    (Page(silent=True), "timed out"),
])
def test_a_policy_that_cannot_be_fetched_says_why(web, page, error):
    web.pages[mtasts.PATH] = page
    assert fetch(web, 1).error == error


def test_the_certificate_must_be_valid_for_the_policy_host(ca, tmp_path):
    for issued, error in (
            (ca.issue("www.example.org"), "certificate not valid for mta-sts.example.org: "
                                          "it is for www.example.org"),
            (ca.issue(HOST, days=-1, valid_from_days=-10),
             "certificate not valid for mta-sts.example.org: certificate has expired"),
            (TestCA("Elsewhere").issue(HOST),  # the server sends that CA too
             "certificate not valid for mta-sts.example.org: self-signed certificate in "
             "certificate chain")):
        with ScriptedHttpsServer(issued.server_context()) as server:
            (tmp_path / "ca.pem").write_bytes(ca.pem())
            server.client, _ = tls.contexts(str(tmp_path / "ca.pem"))
            server.pages[mtasts.PATH] = Page(POLICY.encode())
            assert fetch(server).error == error


def test_old_tls_on_the_policy_host(ca, web):
    server = ScriptedHttpsServer(ca.issue(HOST).server_context(ssl.TLSVersion.TLSv1_1)).start()
    try:
        server.pages[mtasts.PATH] = Page(POLICY.encode())
        server.client = web.client
        assert fetch(server).error == "TLSv1.1: senders require TLS 1.2 or later"
    finally:
        server.stop()


def test_a_host_that_is_not_there():
    found = asyncio.run(mtasts.fetch(HOST, ["127.0.0.1"], deadline=Deadline(2),
                                     context=ssl.create_default_context(), port=1))
    assert found.error == "cannot fetch: Connection refused"
    none = asyncio.run(mtasts.fetch(HOST, [], deadline=Deadline(2),
                                    context=ssl.create_default_context()))
    assert none.error == "mta-sts.example.org has no address"


@pytest.mark.parametrize("texts,rua,problem", [
    (["v=TLSRPTv1; rua=mailto:tls@example.org"], ("mailto:tls@example.org",), ""),
    (["v=TLSRPTv1;rua=mailto:a@example.org,https://r.example.org/tls"],
     ("mailto:a@example.org", "https://r.example.org/tls"), ""),
    ([], None, ""),
    (["v=TLSRPTv1; rua=mailto:a@example.org", "v=TLSRPTv1; rua=mailto:b@example.org"], None,
     "2 v=TLSRPTv1 records (senders take none)"),
    (["v=TLSRPTv1;"], None, "no rua= (where reports go)"),
    (["v=TLSRPTv1; rua=tls@example.org"], None,
     "rua 'tls@example.org' is neither mailto: nor https:"),
    (["v=TLSRPTv1; rua=mailto:nobody"], None, "rua 'mailto:nobody' holds no address"),
    (["v=TLSRPTv1; rua = mailto:a@example.org"], None, "malformed field 'rua = mailto:a@example"
                                                       ".org'"),
    (["v=TLSRPTv1\t;\trua=mailto:tls@example.org"], ("mailto:tls@example.org",), ""),  # bug 7
])
def test_tls_rpt_records(texts, rua, problem):
    record, found = tlsrpt.parse(texts)
    assert (record.rua if record else None, found) == (rua, problem)
