"""check_mail.mtasts beside postfix-mta-sts-resolver, the MTA-STS daemon many
Postfix senders run (test-only): on generated policy hosts, both take the
same policies, in the same mode with the same max_age and mx patterns, and
refuse the same replies.

Its resolver is driven as it runs, with its DNS and HTTP clients replaced by
stand-ins that answer from the same generated case our own fetch gets from
the scripted HTTPS server.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from check_mail import mtasts, tls
from check_mail.deadline import Deadline
from check_mail.simulation.certificates import TestCA
from check_mail.simulation.httpsserver import Page, ScriptedHttpsServer

resolver_module = pytest.importorskip(
    "postfix_mta_sts_resolver.resolver",
    reason="postfix-mta-sts-resolver is not installed (pip install '.[test]')")

LINES = ["version: STSv1", "version: STSv2", "mode: enforce", "mode: testing", "mode: none",
         "mode: Enforce", "max_age: 604800", "max_age: 0", "max_age: 31557600",
         "max_age: 31557601", "max_age: -1", "max_age: week", "mx: mail.example.org",
         "mx: *.example.org", "mx: mx2.example.org", "x-extension: value", ""]


def generated(rng: random.Random) -> Page:
    """A reply of the policy host: mostly plausible, sometimes not."""
    lines = rng.sample(LINES, rng.randrange(0, 8))
    if rng.random() < 0.6:  # most policies have the three keys senders need
        lines = ["version: STSv1", rng.choice(LINES[2:5]), rng.choice(LINES[6:9]),
                 *[line for line in lines if line.startswith(("mx", "x-"))]]
        rng.shuffle(lines)
    # Repeated keys other than mx are undefined by RFC 8461: one of each.
    seen: set[str] = set()
    lines = [line for line in lines if line.startswith("mx") or not (
        line.split(":")[0] in seen or seen.add(line.split(":")[0]))]
    body = rng.choice(("\n", "\r\n")).join(lines) + rng.choice(("", "\n"))
    status = rng.choice((200, 200, 200, 200, 404, 301, 500))
    content_type = rng.choice(("text/plain", "text/plain", "text/plain; charset=utf-8",
                               "text/html", ""))
    headers = {"Content-Type": content_type} if content_type else {}
    return Page(body.encode("ascii"), status, headers)


class Records:
    """aiodns's answer objects: what the resolver reads of them."""

    def __init__(self, text: str) -> None:
        self.text = text


class FakeDns:
    async def query(self, name: str, rdtype: str) -> list[Records]:
        return [Records("v=STSv1; id=20261129")]


def fake_http(page: Page):
    class Content:
        def __init__(self) -> None:
            self.data = page.body

        async def read(self, size: int) -> bytes:
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    class Response:
        status = page.status
        headers = {**page.headers, "Content-Length": str(len(page.body))}
        charset = "utf-8" if "charset=utf-8" in page.headers.get("Content-Type", "") else None
        content = Content()

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

    class Session:
        def __init__(self, *args, **kwargs) -> None:
            pass

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

        def get(self, url, **kwargs):
            return Response()

    return Session


def theirs(page: Page, monkeypatch) -> tuple[bool, tuple]:
    monkeypatch.setattr(resolver_module.aiohttp, "ClientSession", fake_http(page))

    async def resolve():
        sts = resolver_module.STSResolver(loop=asyncio.get_running_loop(), timeout=5)
        sts._resolver = FakeDns()
        return await sts.resolve("example.org")

    result, found = asyncio.run(resolve())
    if result is not resolver_module.STSFetchResult.VALID:
        return False, ()
    policy = found[1]
    return True, (policy["mode"], policy["max_age"], tuple(policy["mx"]))


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    ca = TestCA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(ca.pem())
    with ScriptedHttpsServer(ca.issue("mta-sts.example.org").server_context()) as server:
        server.client, _ = tls.contexts(str(path))
        yield server


def ours(page: Page, web) -> tuple[bool, tuple]:
    web.pages[mtasts.PATH] = page
    fetched = asyncio.run(mtasts.fetch("mta-sts.example.org", ["127.0.0.1"],
                                       deadline=Deadline(5), context=web.client, port=web.port))
    if not fetched.ok:
        return False, ()
    policy = mtasts.parse_policy(fetched.body)
    if not policy.usable:
        return False, ()
    return True, (str(policy.mode), policy.max_age, policy.mx)


def test_both_take_the_same_policies(web, monkeypatch):
    rng = random.Random(8461)
    taken = 0
    for _ in range(300):
        page = generated(rng)
        mine, other = ours(page, web), theirs(page, monkeypatch)
        assert mine == other, (page, mine, other)
        taken += mine[0]
    assert 30 < taken < 270  # both kinds were tried
