"""Hostile peers for the property tests: DNS replies, SMTP behaviours and
HTTPS replies made from a seeded random generator, so every run replays the
same cases.

Addresses in generated answers stay in loopback (127.0.0.0/8, ::1) or in
the documentation ranges, and only loopback is ever probed over SMTP:
nothing leaves the machine.
"""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from check_mail.simulation.httpsserver import Page
from check_mail.simulation.smtpserver import Behaviour

UDP_MAX = 65000  # what one datagram may carry on loopback
NASTY = ["\n", "\r\n", "\x1b[31m", "|", "\u202e", "\x00", "DKIM OK - ", "RBL OK - ", "%", "\""]


def text(rng: random.Random, size: int) -> str:
    """Printable noise with line breaks, escapes, bars and plugin status lines in it."""
    parts = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(NASTY) if rng.random() < 0.2 else
                     "".join(chr(rng.randrange(0x21, 0x7f)) for _ in range(rng.randrange(1, 12))))
    return "".join(parts)[:size]


def address(rng: random.Random, rdtype: str, loopback: bool) -> str:
    if rdtype == "AAAA":
        return "::1" if loopback else f"2001:db8::{rng.randrange(1, 0xffff):x}"
    if loopback:
        return f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"


def name(rng: random.Random) -> str:
    labels = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-")
                      for _ in range(rng.randrange(1, 20))).strip("-") or "x"
              for _ in range(rng.randrange(1, 5))]
    return ".".join(labels) + ".example."


def rdata(rng: random.Random, rdtype: str, loopback: bool) -> str:
    if rdtype in ("A", "AAAA"):
        return address(rng, rdtype, loopback)
    if rdtype in ("PTR", "CNAME", "NS"):
        return name(rng)
    if rdtype == "MX":
        return f"{rng.randrange(65536)} {name(rng)}"
    if rdtype == "TLSA":
        data = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 32, 64, 91, 300))))
        return f"{rng.randrange(5)} {rng.randrange(3)} {rng.randrange(4)} {data.hex() or '00'}"
    escaped = "".join(c if 0x20 <= ord(c) < 0x7f and c not in '"\\' else f"\\{ord(c) % 256:03d}"
                      for c in text(rng, rng.randrange(1, 250)))
    return f'"{escaped}"'


class HostileResolver:
    """A responder for ScriptedNameserver: each reply is one of the kinds
    below, chosen by the seed."""

    KINDS = ("garbage", "flood", "huge-tcp", "wrong-question", "wrong-id", "rcode",
             "cname-loop", "other-types", "empty", "short", "good")

    def __init__(self, seed: int, loopback: bool = True, kind: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.loopback = loopback
        self.kind = kind

    def __call__(self, wire: bytes, transport: str) -> bytes | None:
        rng = self.rng
        try:
            request = dns.message.from_wire(wire)
            question = request.question[0]
        except Exception:
            return None
        # A good answer often enough that runs get past their first lookups.
        kind = self.kind or ("good" if rng.random() < 0.4 else rng.choice(self.KINDS))
        rdtype = dns.rdatatype.to_text(question.rdtype)
        response = dns.message.make_response(request)
        if kind == "garbage":
            return wire[:2] + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
        if kind == "short":
            return wire[:rng.randrange(0, 12)]
        if kind == "wrong-id":
            response.id = (request.id + 1) % 65536
        elif kind == "wrong-question":
            response.question = [dns.rrset.RRset(dns.name.from_text(name(rng)),
                                                 dns.rdataclass.IN, question.rdtype)]
        elif kind == "rcode":
            response.set_rcode(rng.choice((dns.rcode.FORMERR, dns.rcode.SERVFAIL,
                                           dns.rcode.NOTIMP, dns.rcode.REFUSED, 6, 9, 15)))
        elif kind == "cname-loop":
            here, there = question.name, dns.name.from_text(name(rng))
            response.answer.append(dns.rrset.from_text(here, 60, "IN", "CNAME", str(there)))
            response.answer.append(dns.rrset.from_text(there, 60, "IN", "CNAME", str(here)))
        elif kind == "other-types":
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT",
                                                       rdata(rng, "TXT", self.loopback)))
        elif kind == "empty":
            pass
        elif kind in ("flood", "huge-tcp", "good"):
            if kind == "huge-tcp" and transport == "udp":
                response.flags |= dns.flags.TC
                return response.to_wire()
            count = {"good": rng.randrange(1, 4), "flood": rng.randrange(200, 2000),
                     "huge-tcp": 3000}[kind]
            texts = {rdata(rng, rdtype, self.loopback) for _ in range(count)} \
                if rdtype in ("A", "AAAA", "PTR", "MX", "TXT", "NS", "CNAME", "TLSA") else set()
            if texts:
                response.answer.append(dns.rrset.from_text_list(
                    question.name, 60, "IN", rdtype, sorted(texts)))
        if rng.random() < 0.3:  # claims to have validated it
            response.flags |= dns.flags.AD
        out = response.to_wire(max_size=65535)
        if transport == "udp" and len(out) > UDP_MAX:
            response.answer = []
            response.flags |= dns.flags.TC
            out = response.to_wire()
        return out


def smtp_behaviour(rng: random.Random) -> Behaviour:
    """A scripted SMTP server in one of its hostile moods, or with hostile words."""
    mood = rng.choice(("garbage", "drip", "endless", "close", "silent-quit", "tarpit",
                       "bad-tls", "nasty-names", "refuse"))
    noise = text(rng, 80).replace("\r", " ").replace("\n", " ")
    if mood == "garbage":
        return Behaviour(greeting=bytes(rng.randrange(256) for _ in range(40)) + b"\r\n")
    if mood == "drip":
        return Behaviour(drip=0.05)
    if mood == "endless":
        return Behaviour(endless_greeting=True)
    if mood == "close":
        return Behaviour(close_after=rng.choice(("EHLO", "MAIL", "RCPT", "RSET", "STARTTLS")))
    if mood == "silent-quit":
        return Behaviour(silent_on=rng.choice(("QUIT", "STARTTLS")))
    if mood == "tarpit":
        return Behaviour(reply_delay=0.4)
    if mood == "bad-tls":
        return Behaviour(broken_tls=True)
    if mood == "refuse":
        return Behaviour(greeting=f"554 5.7.1 {noise}\r\n".encode("utf-8", "replace"))
    return Behaviour(name=noise[:40].replace(" ", "x") or "x", mail_reply=f"250 {noise}",
                     unknown_rcpt=f"550 5.1.1 {noise}",
                     mailboxes={"postmaster": f"250 {noise}"})


POLICY = b"version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 86400\n"


def https_page(rng: random.Random) -> Page:
    """An MTA-STS policy host in one of its hostile moods."""
    mood = rng.choice(("garbage", "no-head-end", "endless-headers", "long-line", "bad-chunks",
                       "short-body", "huge", "silent", "redirect", "nasty-policy", "good"))
    noise = text(rng, 200).encode("utf-8", "replace")
    if mood == "garbage":
        return Page(raw=bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400))))
    if mood == "no-head-end":
        return Page(raw=b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
    if mood == "endless-headers":
        return Page(raw=b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 5000)
    if mood == "long-line":
        return Page(raw=b"HTTP/1.1 200 OK\r\nX-A: " + b"b" * 200_000 + b"\r\n\r\n")
    if mood == "bad-chunks":
        return Page(raw=b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: "
                        b"chunked\r\n\r\n" + rng.choice((b"zz\r\n", b"ffffffff\r\nab",
                                                           b"5\r\nabc")))
    if mood == "short-body":
        return Page(raw=b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                        b"500\r\n\r\n" + POLICY)
    if mood == "huge":
        return Page(b"x" * rng.choice((70_000, 1_000_000)), chunked=rng.random() < 0.5)
    if mood == "silent":
        return Page(silent=True)
    if mood == "redirect":
        return Page(status=rng.choice((301, 302, 307, 308)),
                    headers={"Location": noise.decode("latin-1")[:300]})
    if mood == "nasty-policy":
        return Page(POLICY + noise + b"\nmx: " + noise[:60] + b"\n")
    return Page(POLICY)


# -- local surfaces: log files, state files, child processes ---------------------

LOG_KINDS = ("noise", "endless-line", "long-numbers", "corrupt-gz", "gz-bomb", "directory",
             "fifo", "device", "unreadable", "postfix-and-noise")


def log_file(rng: random.Random, folder, kind: str) -> str:
    """A hostile --log of the given kind in ``folder`` (rotated files beside
    it where the kind has them); its path."""
    import gzip
    import os
    import time

    log = folder / "mail.log"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))
    postfix = (f"{stamp} mx postfix/qmgr[1]: 0A1B2C3D4E: from=<a@example.org>, size=1, "
               f"nrcpt={'9' * rng.choice((5000, 4301, 20, 1))} (queue active)\n"
               f"{stamp} mx postfix/smtp[2]: 0A1B2C3D4E: to=<b@example.net>, "
               f"relay=mx[192.0.2.1]:25, delay=1, dsn=5.7.1, status=bounced (host mx said: "
               f"550 {text(rng, 80)})\n")
    if kind == "noise":
        log.write_bytes(rng.randbytes(rng.randrange(1, 200_000)))
    elif kind == "endless-line":
        log.write_bytes(b"z" * rng.randrange(1 << 20, 3 << 20))
    elif kind == "long-numbers":
        log.write_text(postfix * rng.randrange(1, 50))
    elif kind == "corrupt-gz":
        log.write_text(postfix)
        data = bytearray(gzip.compress(postfix.encode() * 100))
        for _ in range(rng.randrange(1, 10)):
            data[rng.randrange(10, len(data))] = rng.randrange(256)
        (folder / "mail.log.1.gz").write_bytes(bytes(data[:rng.randrange(10, len(data))]))
    elif kind == "gz-bomb":
        log.write_text(postfix)
        with gzip.open(folder / "mail.log.1.gz", "wb", compresslevel=9) as out:
            block = b"\0" * (1 << 20) if rng.random() < 0.5 else b"\n" * (1 << 20)
            for _ in range(rng.randrange(50, 200)):
                out.write(block)
    elif kind == "directory":
        log.mkdir()
    elif kind == "fifo":
        os.mkfifo(log)
    elif kind == "device":
        log.symlink_to(rng.choice(("/dev/zero", "/dev/null", "/dev/urandom")))
    elif kind == "unreadable":
        log.write_text(postfix)
        log.chmod(0)
    else:
        log.write_text(postfix + text(rng, 500) + "\n" + postfix)
    return str(log)


def state_json(rng: random.Random) -> str:
    """A state file as an attacker or a broken disk would leave it."""
    import json

    shapes = [
        lambda: "[" * rng.randrange(1000, 200_000),
        lambda: json.dumps({"version": 1, "identity": rng.choice(("x", 5, None)),
                            "positions": rng.choice(([["a", "b", -1]], {}, 5, [[1]]))}),
        lambda: '{"version": 1, "minutes": {"1": {"a": NaN}}}',
        lambda: json.dumps(rng.choice((None, 1, "s", [], {"version": "1"}))),
        lambda: rng.randbytes(rng.randrange(1, 500)).decode("latin-1"),
        lambda: '{"version": 1, "positions": [["/x", "f", ' + "9" * 5000 + "]]}",
    ]
    return rng.choice(shapes)()


def postqueue_script(rng: random.Random) -> tuple[str, bool]:
    """A stand-in for ``postqueue -j`` that misbehaves, and whether what it
    prints is a listing at all (True only for a well-formed one)."""
    import json

    honest = json.dumps({"queue_name": "deferred", "arrival_time": 1, "recipients":
                         [{"address": "a@example.net"}]})
    bodies = [
        ("exec sleep 30", False),
        ("exec yes", False),
        ("exec yes '" + honest + "'", False),  # floods: more than the cap
        ("echo 'postqueue: fatal: Queue report unavailable - mail system is down' >&2; exit 69",
         False),
        ("exit 75", False),
        ("kill -9 $$", False),
        ("echo '" + json.dumps({"queue_name": 5}) + "'", False),
        ("echo '" + json.dumps({"queue_name": "deferred", "recipients": "x"}) + "'", False),
        ("echo '" + json.dumps({"queue_name": "deferred", "arrival_time": 1e400}) + "'", False),
        ("printf '%s' '" + text(rng, 300).replace("'", "") + "'", False),
        ("sleep 30 & echo '" + honest + "'", True),  # a child that outlives it
        ("echo '" + honest + "'", True),
    ]
    return rng.choice(bodies)
