"""DNS messages on the wire for the hot path: the query built by hand, and the
answer to an A, AAAA or TXT question read by hand (RFC 1035 4.1).

A blocklist check asks hundreds of A questions in one run. dnspython costs
some 40 ms to import and tens of microseconds per message; these few
functions cost neither. Anything else (another record type, a name that
needs escapes, a reply that does not read cleanly) is left to dnspython:
``None`` means "not here".
"""

from __future__ import annotations

import struct
from typing import NamedTuple

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "TLSA": 52, "SPF": 99}
CNAME = 5
LEAN = {1, 16, 28, 99}  # the types read here: A, TXT, AAAA, SPF
IN = 1
QR, TC, AD = 0x8000, 0x0200, 0x0020
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
          10: "NOTZONE"}
MAX_CNAMES = 16  # a longer chain inside one answer is a loop
_HEADER = struct.Struct("!HHHHHH")
_LENGTHS = [bytes((n,)) for n in range(64)]
# What a plain name holds: str.translate() deletes it, so anything left over is not plain.
_PLAIN = dict.fromkeys(map(ord, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789-_."))
_RR = struct.Struct("!HHIH")


class Reply(NamedTuple):
    flags: int
    rcode: int
    records: tuple[str, ...]  # of the asked type, at the end of any CNAME chain
    ttl: int | None


def encode_name(name: str) -> bytes | None:
    """An absolute name of letters, digits, hyphens and underscores in wire
    form; None when it needs more (escapes, odd octets: dnspython's job)."""
    if name.endswith("."):
        name = name[:-1]
    if not name:
        return b"\0"
    if len(name) > 253 or not name.isascii() or name.translate(_PLAIN):
        return None
    out = bytearray()
    for label in name.encode("ascii").split(b"."):
        if not 0 < len(label) < 64:
            return None
        out += _LENGTHS[len(label)]
        out += label
    out.append(0)
    return bytes(out)


def query(qid: int, name: bytes, qtype: int, flags: int) -> bytes:
    return _HEADER.pack(qid, flags, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, IN)


def answers(data: bytes, qid: int, name: bytes, qtype: int) -> bool | None:
    """Whether ``data`` is the reply to this query (its ID, QR, and the
    question echoed); None when the ID is ours but the rest is not the
    question: garbage or another question, for dnspython to tell apart."""
    if len(data) < 12:
        return False
    rid, flags, count = struct.unpack_from("!HHH", data)
    if rid != qid:
        return False
    end = 12 + len(name)
    if flags & QR and count == 1 and data[12:end].lower() == name.lower() \
            and data[end:end + 4] == struct.pack("!HH", qtype, IN):
        return True
    return None


def read(data: bytes, name: bytes, qtype: int) -> Reply | None:
    """The reply to our question (``answers`` said so), read; None when the
    type is not one read here or the message does not read cleanly."""
    if qtype not in LEAN:
        return None
    try:
        _, flags, _, ancount, _, _ = _HEADER.unpack_from(data)
        offset = 12 + len(name) + 4
        found = []
        for _ in range(ancount):
            owner, offset = _name(data, offset)
            rtype, rclass, ttl, length = _RR.unpack_from(data, offset)
            offset += _RR.size
            if offset + length > len(data):
                return None
            if rclass == IN:
                found.append((owner, rtype, ttl, offset, length))
            offset += length
    except (struct.error, ValueError):
        return None
    if not found:  # NXDOMAIN, or no data: the common case of a blocklist
        return Reply(flags, flags & 0xF, (), None)
    current = _labels(name)
    for _ in range(MAX_CNAMES):
        matching = [r for r in found if r[0] == current and r[1] == qtype]
        if matching:
            records = [_rdata(data, qtype, start, length) for _, _, _, start, length in matching]
            if None in records:
                return None
            return Reply(flags, flags & 0xF, tuple(dict.fromkeys(records)),  # type: ignore[arg-type]
                         min(r[2] for r in matching))
        alias = next((r for r in found if r[0] == current and r[1] == CNAME), None)
        if alias is None:
            break
        try:
            current, end = _name(data, alias[3])
        except ValueError:
            return None
        if end != alias[3] + alias[4]:
            return None
    return Reply(flags, flags & 0xF, (), None)


def _labels(wire: bytes) -> tuple[bytes, ...]:
    """An uncompressed wire name as its labels, lower case."""
    out, i = [], 0
    while wire[i]:
        out.append(wire[i + 1:i + 1 + wire[i]].lower())
        i += 1 + wire[i]
    return tuple(out)


def _name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The name at ``offset`` (compression pointers followed, RFC 1035 4.1.4),
    as lower-case labels, and where the data after it starts."""
    labels: list[bytes] = []
    end = None
    for _ in range(128):  # more pointers than a name can have labels: a loop
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length & 0xC0:
            raise ValueError("bad label type")
        if length == 0:
            return tuple(labels), end if end is not None else offset + 1
        labels.append(data[offset + 1:offset + 1 + length].lower())
        offset += 1 + length
        if len(labels) > 127:
            break
    raise ValueError("name too long or a pointer loop")


def _rdata(data: bytes, rtype: int, start: int, length: int) -> str | None:
    rdata = data[start:start + length]
    if rtype == 1:
        return f"{rdata[0]}.{rdata[1]}.{rdata[2]}.{rdata[3]}" if length == 4 else None
    if rtype == 28:
        if length != 16 or rdata[:10] == bytes(10):
            return None  # dnspython writes embedded IPv4 its own way ("::ffff:192.0.2.1")
        import ipaddress

        return str(ipaddress.IPv6Address(rdata))
    # TXT and SPF: one or more <length><octets> strings, joined (RFC 7208 3.3)
    strings, i = [], 0
    while i < length:
        size = rdata[i]
        if i + 1 + size > length:
            return None
        strings.append(rdata[i + 1:i + 1 + size])
        i += 1 + size
    return b"".join(strings).decode("utf-8", "replace") if strings else None
