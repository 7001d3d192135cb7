"""A scripted nameserver on loopback, for the tests, the benchmark and the demo.

It serves UDP and TCP on one port from records given in code, answers
NXDOMAIN and no-data properly (dnslib cannot), follows CNAMEs inside its data,
and plays the faults a real resolver path shows: silence, SERVFAIL, REFUSED,
garbage bytes, and truncation (TC over UDP, the full answer over TCP).
It runs its own event loop in a background thread, so the code under test may
be synchronous or run its own loop.
"""

from __future__ import annotations

import asyncio
import enum
import struct
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from check_mail.dns import Nameserver, absolute
from check_mail.simulation.background import BackgroundServer


class Fault(enum.Enum):
    TIMEOUT = "timeout"  # never answer
    SERVFAIL = "servfail"
    REFUSED = "refused"
    GARBAGE = "garbage"  # bytes that are not a DNS message
    TRUNCATE = "truncate"  # TC over UDP; TCP gets the real answer


@dataclass
class Query:
    name: str
    rdtype: str
    transport: str  # "udp" or "tcp"
    at: float = 0.0  # when it arrived (time.monotonic())


def _key(name: str) -> str:
    """A name as the server compares it: absolute, lower case, in the same
    presentation form as an incoming query's name (odd characters escaped)."""
    return dns.name.from_text(absolute(name)).to_text().lower()


class ScriptedNameserver(BackgroundServer):
    """Answers from ``add()``-ed records; every other name is NXDOMAIN."""

    def __init__(self, host: str = "127.0.0.1", delay: float = 0.0, port: int = 0) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.delay = delay
        self.records: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.names: set[str] = set()  # every name that has records
        self.ttls: dict[tuple[str, str], int] = {}
        self.faults: dict[tuple[str, str | None], Fault] = {}
        self.delays: dict[str, float] = {}
        # Zones whose answers carry the AD bit, as from a validating resolver
        # (for a client that asks with AD or DO, RFC 6840 5.7). Real DNSSEC
        # validation is tested with NSD and Unbound; this plays its result.
        self.validated: set[str] = set()
        self.log: list[Query] = []
        # Replaces the scripted answers: (request wire, transport) -> reply wire
        # or None for silence. Tests use it to send hostile replies.
        self.responder: Callable[[bytes, str], bytes | None] | None = None

    # -- scripting ---------------------------------------------------------

    def add(self, name: str, rdtype: str, *rdatas: str, ttl: int = 300) -> None:
        key = (_key(name), rdtype.upper())
        self.records[key].extend(rdatas)
        self.names.add(key[0])
        self.ttls[key] = ttl

    def remove(self, name: str, rdtype: str) -> None:
        """Forget the records of one name and type."""
        self.records.pop((_key(name), rdtype.upper()), None)

    def clear(self) -> None:
        """Forget every record."""
        self.records.clear()
        self.names.clear()

    def validate(self, zone: str) -> None:
        """Answer for names in ``zone`` as a validating resolver that found them secure."""
        self.validated.add(_key(zone))

    def _validated(self, qname: str) -> bool:
        return any(qname == zone or qname.endswith("." + zone) for zone in self.validated)

    def fault(self, name: str, fault: Fault, rdtype: str | None = None) -> None:
        self.faults[(_key(name), rdtype.upper() if rdtype else None)] = fault

    def slow(self, name: str, seconds: float) -> None:
        self.delays[_key(name)] = seconds

    @property
    def nameserver(self) -> Nameserver:
        return Nameserver(self.host, self.port)

    @property
    def address(self) -> str:
        """As given to ``--nameserver``."""
        return str(self.nameserver) if self.port != 53 else f"{self.host}:53"

    # -- answering ---------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> tuple[bytes | None, float]:
        """The reply to one request, and how long to wait before sending it."""
        if self.responder is not None:
            return self.responder(wire, transport), self.delay
        try:
            request = dns.message.from_wire(wire)
            question = request.question[0]
        except Exception:
            return None, 0.0
        qname = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.log.append(Query(qname, rdtype, transport, time.monotonic()))
        delay = self.delays.get(qname, self.delay)
        fault = self.faults.get((qname, rdtype)) or self.faults.get((qname, None))
        response = dns.message.make_response(request)
        response.flags |= dns.flags.RA
        if fault is Fault.TIMEOUT:
            return None, delay
        if fault is Fault.GARBAGE:
            return wire[:2] + b"\xff\xfe garbage, not DNS", delay
        if fault is Fault.SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif fault is Fault.REFUSED:
            response.set_rcode(dns.rcode.REFUSED)
        elif fault is Fault.TRUNCATE and transport == "udp":
            response.flags |= dns.flags.TC
        else:
            self._fill(response, qname, rdtype)
            asked = request.flags & dns.flags.AD or request.ednsflags & dns.flags.DO
            if asked and self._validated(qname):
                response.flags |= dns.flags.AD
        return response.to_wire(), delay

    def _fill(self, response: dns.message.Message, qname: str, rdtype: str) -> None:
        name = qname
        for _ in range(8):
            key = (name, rdtype)
            if key in self.records:
                response.answer.append(self._rrset(name, rdtype))
                return
            wildcard = self._wildcard(name)
            if wildcard and (wildcard, rdtype) in self.records:  # RFC 4592, simply
                rrset = self._rrset(wildcard, rdtype)
                rrset.name = dns.name.from_text(name)
                response.answer.append(rrset)
                return
            if (name, "CNAME") in self.records and rdtype != "CNAME":
                response.answer.append(self._rrset(name, "CNAME"))
                name = _key(self.records[(name, "CNAME")][0])
                continue
            break
        if name not in self.names and not self._wildcard(name):
            response.set_rcode(dns.rcode.NXDOMAIN)

    def _wildcard(self, name: str) -> str:
        """The wildcard that covers a name that does not exist ("" none)."""
        if name in self.names:
            return ""
        labels = name.split(".")
        return next((candidate for i in range(1, len(labels) - 1)
                     if (candidate := "*." + ".".join(labels[i:])) in self.names), "")

    def _rrset(self, name: str, rdtype: str) -> dns.rrset.RRset:
        key = (name, rdtype)
        return dns.rrset.from_text_list(
            dns.name.from_text(name), self.ttls[key], dns.rdataclass.IN,
            dns.rdatatype.from_text(rdtype), self.records[key],
        )

    # -- serving -----------------------------------------------------------

    async def _listen(self) -> Callable[[], None]:
        owner = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                reply, delay = owner.answer(data, "udp")
                if reply is not None:
                    owner.call_later(delay, self.transport.sendto, reply, addr)

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    length = struct.unpack("!H", await reader.readexactly(2))[0]
                    reply, delay = owner.answer(await reader.readexactly(length), "tcp")
                    if reply is None:
                        continue
                    await asyncio.sleep(delay)
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                pass  # the client went away, or the server stops
            finally:
                writer.close()

        loop = asyncio.get_running_loop()
        # UDP and TCP must share a port; retry if TCP finds it taken.
        for _ in range(20):
            udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, self.port))
            port = udp.get_extra_info("sockname")[1]
            try:
                tcp_server = await asyncio.start_server(tcp, self.host, port)
            except OSError:
                udp.close()
                continue
            break
        else:
            raise RuntimeError("scripted nameserver found no port free for UDP and TCP")
        self.port = port

        def close() -> None:
            udp.close()
            tcp_server.close()

        return close
