"""The one DNS layer of check-mail, built on dnspython.

Every plugin asks DNS through a :class:`Resolver`: many queries run at once
on one event loop, all under the plugin's :class:`~check_mail.deadline.Deadline`,
and each outcome comes back as an :class:`Answer` whose :class:`Status` says
what happened. No dnspython exception leaves this module.

dnspython and asyncio cost about 0.1 s to import, so this module imports them
only when the first query is made; ``--help`` and ``--version`` never pay.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import struct
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from check_mail import dnswire
from check_mail.deadline import Deadline
from check_mail.outcome import Word

if TYPE_CHECKING:
    import asyncio

    from check_mail.dnschannel import Channel

T = TypeVar("T")

RESOLV_CONF = "/etc/resolv.conf"
RD = 0x0100  # recursion desired
# A lost UDP packet is common; a second try per server is cheap insurance.
ATTEMPTS_PER_SERVER = 2
# Addresses of one host that a check follows: real mail hosts have a few; a
# hostile or broken zone's thousands must not multiply into thousands of
# blocklist queries or SMTP sessions.
MAX_HOST_ADDRESSES = 32


class Status(Word):
    """How a query ended. Only ANSWER, NXDOMAIN and NODATA are answers."""

    ANSWER = "answer"
    NXDOMAIN = "NXDOMAIN"
    NODATA = "no data"
    SERVFAIL = "SERVFAIL"
    REFUSED = "REFUSED"
    TIMEOUT = "timeout"
    MALFORMED = "malformed"
    UNREACHABLE = "unreachable"
    BAD_NAME = "bad name"  # not asked: no such name can exist (a label over 63 octets...)


class Nameserver(NamedTuple):
    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port == 53 else f"{host}:{self.port}"


class Answer(NamedTuple):
    """The outcome of one question. (A NamedTuple: a range check makes
    thousands, and a frozen dataclass costs several times as much to build.)

    ``records`` holds every record of the asked type in text form: addresses
    for A/AAAA, absolute names for PTR/CNAME/NS, ``"pref name"`` for MX, and
    for TXT each record's strings joined with nothing between them.
    """

    name: str
    rdtype: str
    status: Status
    records: tuple[str, ...] = ()
    ttl: int | None = None
    server: Nameserver | None = None
    detail: str = ""
    elapsed: float = 0.0
    # The resolver vouched for the answer: the AD bit of a validating resolver
    # (RFC 4035 3.2.3). Only as good as the path to that resolver.
    secure: bool = False

    @property
    def answered(self) -> bool:
        """True when DNS gave a definite reply (records, NXDOMAIN or no data)."""
        return self.status in (Status.ANSWER, Status.NXDOMAIN, Status.NODATA)

    def describe(self) -> str:
        """The failure in a few words, for output lines."""
        text = str(self.status)
        if self.detail:
            text += f" ({self.detail})"
        return text


def failed_lookups(answers: Iterable[Answer], about: str = "") -> str:
    """The one wording of failed lookups: "A mail.example.org SERVFAIL, ...".

    The name is left out where it is ``about``, the name the sentence
    already gives ("cannot resolve mail.example.org: A SERVFAIL").
    """
    about = absolute(about).lower() if about else ""
    return ", ".join(
        " ".join(part for part in (a.rdtype, "" if a.name.lower() == about
                                   else a.name.rstrip("."), a.describe()) if part)
        for a in answers)


def family_name(family: int | None) -> str:
    """"IPv4", "IPv6", or "" for both, as -4/-6 ask."""
    return {4: "IPv4", 6: "IPv6"}.get(family or 0, "")


def family_types(family: int | None) -> list[str]:
    """The address record types to ask for -4, -6 or both."""
    return [t for f, t in ((4, "A"), (6, "AAAA")) if family in (None, f)]


def parse_nameserver(text: str) -> Nameserver:
    """Parse ``ADDR``, ``ADDR:PORT``, ``[V6ADDR]`` or ``[V6ADDR]:PORT``."""
    text = text.strip()
    port = 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid nameserver {text!r}")
        if rest:
            port = _parse_port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _parse_port(port_text, text)
    else:
        host = text
    if "%" in host:
        raise ValueError(f"invalid nameserver {text!r}: an IPv6 zone (%...) names a link, "
                         "not a host")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"invalid nameserver {text!r}: not an IP address") from None
    return Nameserver(str(address), port)


def _parse_port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"invalid nameserver {whole!r}: bad port")
    return int(text)


def system_nameservers(path: str = RESOLV_CONF) -> list[Nameserver]:
    """The nameservers of resolv.conf, as the C library would use them."""
    servers = []
    try:
        with open(path, encoding="utf-8", errors="replace") as conf:
            for line in conf:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    try:
                        servers.append(parse_nameserver(words[1].split("%")[0]))
                    except ValueError:
                        continue
    except OSError:
        pass
    # Like the C library: no usable entry means a resolver on this host.
    return servers or [Nameserver("127.0.0.1")]


def absolute(name: str) -> str:
    """The name with its trailing dot, so no search domain is ever appended."""
    return name if name.endswith(".") else name + "."


def valid_name(name: str) -> bool:
    """A syntactically usable DNS name (letters, digits, hyphen, underscore)."""
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > 253:
        return False
    return all(
        0 < len(label) < 64 and not label.startswith("-") and not label.endswith("-")
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in label)
        for label in name.split(".")
    )


def is_hostname(text: str) -> bool:
    """A name a host can have: valid, and not a mistyped address (no all-digit TLD)."""
    return valid_name(text) and not text.rstrip(".").rsplit(".", 1)[-1].isdigit()


def is_address(text: str) -> bool:
    """An IPv4 or IPv6 address, without an IPv6 zone ("%eth0" names a link, not a host)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=8192)  # a range asks every zone for each address
def reverse_labels(address: str) -> str:
    """RFC 5782 order: reversed octets for IPv4, 32 reversed nibbles for IPv6.

    The same labels are used under in-addr.arpa/ip6.arpa and under a DNSBL zone.
    """
    pointer = ipaddress.ip_address(address).reverse_pointer
    return pointer.rsplit(".", 2)[0]


class HostAddresses(NamedTuple):
    """A host's A and AAAA addresses (the first MAX_HOST_ADDRESSES), and the
    lookups that failed on the way."""

    host: str
    answers: tuple[Answer, ...]

    @property
    def found(self) -> tuple[str, ...]:
        return tuple(r for a in self.answers if a.status is Status.ANSWER for r in a.records)

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.found[:MAX_HOST_ADDRESSES]

    @property
    def dropped(self) -> int:
        """Addresses past the limit, not followed."""
        return max(0, len(self.found) - MAX_HOST_ADDRESSES)

    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.answers if not a.answered]


class Resolver:
    """Concurrent stub resolver bounded by a deadline and an in-flight limit.

    Each question goes to the nameservers in turn until one gives a definite
    reply; SERVFAIL, REFUSED, garbage or silence make it try the next one. A
    truncated UDP reply is retried over TCP.
    """

    def __init__(
        self,
        nameservers: Sequence[Nameserver] | None = None,
        *,
        deadline: Deadline,
        query_timeout: float = 3.0,
        max_in_flight: int = 256,
        rate: float = 0.0,
    ) -> None:
        self.nameservers = list(nameservers) if nameservers else system_nameservers()
        self.deadline = deadline
        self.query_timeout = query_timeout
        self.max_in_flight = min(max_in_flight, _socket_budget())
        self.rate = rate  # queries a second at most; 0: as fast as the in-flight bound allows
        self._next_slot = 0.0
        self.queries = 0
        self._slots: asyncio.Semaphore | None = None
        # One plugin run asks each question once: answers are kept, and a
        # question already in flight is waited for rather than asked again.
        self._answers: dict[tuple[str, str], Answer] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[Answer]] = {}
        self._channels: dict[Nameserver, Channel] = {}

    def run(self, work: Awaitable[T]) -> T:
        """Run a coroutine that makes queries (or SMTP sessions); the synchronous
        entry point, one event loop per call."""
        import asyncio

        async def main() -> T:
            self._slots = asyncio.Semaphore(self.max_in_flight)
            self._asking = {}
            try:
                return await work
            finally:
                for channel in self._channels.values():
                    channel.close()
                self._channels = {}

        return asyncio.run(main())

    def run_all(self, work: Iterable[Awaitable[T]]) -> list[T]:
        """Run coroutines at once (gather, then run); results in the same order."""
        import asyncio

        async def every() -> list[T]:
            return list(await asyncio.gather(*work))

        return self.run(every())

    def resolve(self, questions: Iterable[tuple[str, str]]) -> list[Answer]:
        """Ask all questions at once; answers come back in the same order."""
        return self.run_all(self.query(n, t) for n, t in questions)

    def addresses(self, host: str, family: int | None = None) -> HostAddresses:
        """All A and AAAA addresses of a host (or one family: 4 or 6)."""
        return self.run(self.host_addresses(host, family))

    async def host_addresses(self, host: str, family: int | None = None) -> HostAddresses:
        import asyncio

        answers = await asyncio.gather(*(self.query(host, t) for t in family_types(family)))
        return HostAddresses(absolute(host), tuple(answers))

    async def query(self, name: str, rdtype: str) -> Answer:
        import asyncio

        key = (absolute(name).lower(), rdtype.upper())
        answer = self._answers.get(key)
        if answer is not None:
            return answer
        waiting = self._asking.get(key)
        if waiting is not None:  # the same question is in flight: wait for its answer
            return await asyncio.shield(waiting)
        mine: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._asking[key] = mine
        try:
            answer = await self._ask(name, rdtype)
        except BaseException:  # cancelled: those waiting get no answer either
            mine.set_result(Answer(absolute(name), key[1], Status.TIMEOUT,
                                   detail="no time left to ask"))
            raise
        finally:
            del self._asking[key]
        self._answers[key] = answer
        mine.set_result(answer)
        return answer

    async def _ask(self, name: str, rdtype: str) -> Answer:
        import asyncio

        qname = absolute(name)
        rdtype = rdtype.upper()
        question = _question(qname, rdtype)
        if isinstance(question, str):
            return Answer(qname, rdtype, Status.BAD_NAME, detail=question)
        assert self._slots is not None, "queries run inside Resolver.run()"
        started = time.monotonic()
        outcome = Answer(qname, rdtype, Status.TIMEOUT, detail="no time left to ask")
        async with self._slots:
            for attempt in range(ATTEMPTS_PER_SERVER * len(self.nameservers)):
                server = self.nameservers[attempt % len(self.nameservers)]
                if self.rate and not await self._pace():
                    break
                remaining = self.deadline.remaining()
                if remaining <= 0:
                    break
                self.queries += 1
                try:
                    data = await self._exchange(question, server,
                                                min(self.query_timeout, remaining))
                    outcome = _outcome(data, question, qname, rdtype, server, started)
                except asyncio.TimeoutError:  # before OSError, which it is on 3.11
                    outcome = Answer(qname, rdtype, Status.TIMEOUT, server=server)
                    continue
                except OSError as exc:
                    detail = exc.strerror or type(exc).__name__
                    outcome = Answer(qname, rdtype, Status.UNREACHABLE, server=server,
                                     detail=detail)
                    continue
                except Exception as exc:  # any parse failure of a hostile reply
                    outcome = Answer(qname, rdtype, Status.MALFORMED, server=server,
                                     detail=str(exc) or type(exc).__name__)
                    continue
                if outcome.answered:
                    return outcome
        return outcome._replace(elapsed=time.monotonic() - started)


    async def _exchange(self, question: _Question, server: Nameserver,
                        timeout: float) -> bytes:
        """One question to one server over the run's UDP sockets, again over
        TCP when the reply is truncated; the reply's octets. Raises on silence
        or garbage. It sets the AD bit, which asks a validating resolver to
        say whether it validated the answer (RFC 6840 5.7)."""
        if server not in self._channels:
            from check_mail.dnschannel import Channel

            self._channels[server] = Channel(server.address, server.port)
        expires = time.monotonic() + timeout
        flags = RD | dnswire.AD
        data = await self._channels[server].ask(question.name, question.rdtype, flags, timeout)
        if not struct.unpack_from("!H", data, 2)[0] & dnswire.TC:
            return data
        qid = int.from_bytes(os.urandom(2), "big")
        data = await _tcp(dnswire.query(qid, question.name, question.rdtype, flags), server,
                          max(expires - time.monotonic(), 0.001))
        if not dnswire.answers(data, qid, question.name, question.rdtype):
            raise ValueError("the TCP reply does not answer the query")
        return data

    async def _pace(self) -> bool:
        """Wait for this query's turn at ``rate`` a second (blocklists throttle
        heavy queriers); False when the turn comes after the deadline."""
        import asyncio

        now = time.monotonic()
        turn = max(now, self._next_slot)
        if turn - now >= self.deadline.remaining():
            return False
        self._next_slot = turn + 1 / self.rate
        if turn > now:
            await asyncio.sleep(turn - now)
        return True


class _Question(NamedTuple):
    name: bytes  # in wire form
    rdtype: int


def _question(qname: str, rdtype: str) -> _Question | str:
    """The question in wire form, or why it cannot be asked. Plain names and
    common types are encoded here; dnspython does the rest (escapes, rare types)."""
    name = dnswire.encode_name(qname)
    code = dnswire.TYPES.get(rdtype)
    if name is not None and code is not None:
        return _Question(name, code)
    import dns.exception
    import dns.name
    import dns.rdatatype

    try:
        return _Question(dns.name.from_text(qname).to_wire() or b"",
                         dns.rdatatype.from_text(rdtype))
    except (dns.exception.DNSException, ValueError) as exc:
        return str(exc)


def _outcome(data: bytes, question: _Question, qname: str, rdtype: str,
             server: Nameserver, started: float) -> Answer:
    """What a reply says: read by hand for A, AAAA and TXT, by dnspython else."""
    reply = dnswire.read(data, question.name, question.rdtype)
    if reply is None:
        import dns.message

        message = dns.message.from_wire(data)
        flags, rcode = int(message.flags), int(message.rcode())
    else:
        flags, rcode = reply.flags, reply.rcode
    secure = bool(flags & dnswire.AD)
    elapsed = time.monotonic() - started
    if rcode == 0:
        if reply is None:
            records, ttl = _records(message, qname, rdtype)
        else:
            records, ttl = reply.records, reply.ttl
        status = Status.ANSWER if records else Status.NODATA
        return Answer(qname, rdtype, status, records, ttl, server, "", elapsed, secure)
    if rcode == 3:
        return Answer(qname, rdtype, Status.NXDOMAIN, server=server, elapsed=elapsed,
                      secure=secure)
    if rcode == 5:
        return Answer(qname, rdtype, Status.REFUSED, server=server, elapsed=elapsed)
    text = dnswire.RCODES.get(rcode, str(rcode))
    return Answer(qname, rdtype, Status.SERVFAIL, server=server, elapsed=elapsed,
                  detail="" if text == "SERVFAIL" else f"rcode {text}")


async def _tcp(wire: bytes, server: Nameserver, timeout: float) -> bytes:
    """The same query over TCP (RFC 7766), for a reply too large for UDP."""
    import asyncio

    async def ask() -> bytes:
        reader, writer = await asyncio.open_connection(server.address, server.port)
        try:
            writer.write(struct.pack("!H", len(wire)) + wire)
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            return await reader.readexactly(size)
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(ask(), timeout)
    except asyncio.IncompleteReadError:
        raise ConnectionResetError("the TCP reply was cut short") from None


def _socket_budget() -> int:
    """How many sockets may be open at once: each query in flight holds one."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return 1 << 16
    return 1 << 16 if soft == resource.RLIM_INFINITY else max(1, soft - 32)


def _records(response, qname: str, rdtype: str) -> tuple[tuple[str, ...], int | None]:
    """Follow the CNAME chain inside the answer section to the asked type: its
    records and TTL (none: no data)."""
    import dns.name
    import dns.rdataclass
    import dns.rdatatype

    wanted = dns.rdatatype.from_text(rdtype)
    cname = dns.rdatatype.CNAME
    name = dns.name.from_text(qname)
    for _ in range(16):  # CNAME chains longer than this are a loop
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, wanted)
        if rrset is not None:
            return tuple(_text(r) for r in rrset), rrset.ttl
        alias = response.get_rrset(response.answer, name, dns.rdataclass.IN, cname)
        if alias is None:
            break
        name = alias[0].target
    return (), None


def _text(rdata) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT and SPF: RFC 7208 3.3 / RFC 6376 3.6.2.2
        return b"".join(strings).decode("utf-8", "replace")
    return rdata.to_text()
