"""DKIM (RFC 6376, RFC 8463): key records in DNS, and signatures on messages.

A key record is fetched through the shared DNS layer (CNAMEs followed,
strings joined with nothing between them), parsed as a tag list and loaded
with ``cryptography``. A signature is verified the way a receiver does it:
the body canonicalised and hashed (``l=`` honoured), the signed header fields
picked bottom-up, the signature header itself with an empty ``b=``, and the
result checked against the key for rsa-sha256, rsa-sha1 or ed25519-sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from check_mail.dns import Answer, Resolver, Status, valid_name
from check_mail.outcome import Word


class Verdict(Word):
    """What became of one signature (RFC 6376 section 6.1, in RFC 8601's words)."""

    PASS = "pass"
    FAIL = "fail"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


ALGORITHMS = {"rsa-sha256": ("rsa", "sha256"), "rsa-sha1": ("rsa", "sha1"),
              "ed25519-sha256": ("ed25519", "sha256")}
FUTURE_SLACK = 300  # seconds a signer's clock may run ahead
NUMBER_TAGS = {"l": 76, "t": 12, "x": 12}  # digits allowed (RFC 6376 3.5)
MAX_SIGNATURES = 20  # a message with more is verified this far, and says so
_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_WSP = re.compile(rb"[ \t]+")


class DkimError(ValueError):
    """A record or signature that cannot be used; ``tag`` names the culprit."""

    def __init__(self, message: str, tag: str = "") -> None:
        super().__init__(message)
        self.tag = tag


def parse_tags(text: str) -> dict[str, str]:
    """RFC 6376 3.2 tag=value lists; whitespace around tags and values is folding
    white space, a duplicate tag is an error, a trailing ";" is allowed."""
    tags: dict[str, str] = {}
    parts = text.split(";")
    for i, part in enumerate(parts):
        if not part.strip(" \t\r\n"):
            if i == len(parts) - 1:
                break
            raise DkimError("empty tag in the list")
        name, equals, value = part.partition("=")
        name = name.strip(" \t\r\n")
        if not equals or not _TAG_NAME.match(name):
            raise DkimError(f"malformed tag {part.strip()[:20]!r}", name)
        if name in tags:
            raise DkimError(f"duplicate tag {name}=", name)
        tags[name] = value.strip(" \t\r\n")
    return tags


def _list(value: str) -> list[str]:
    return [item.strip(" \t\r\n") for item in value.split(":") if item.strip(" \t\r\n")]


def _base64(value: str, tag: str) -> bytes:
    compact = re.sub(r"[ \t\r\n]", "", value)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise DkimError(f"{tag}= is not valid base64", tag) from None


# -- key records ------------------------------------------------------------


@dataclass(frozen=True)
class KeyRecord:
    text: str
    tags: dict[str, str]
    key_type: str  # "rsa" or "ed25519"
    hashes: tuple[str, ...] | None  # h=; None allows every hash
    flags: frozenset[str]  # t=: "y" testing, "s" strict
    public_key: Any  # a cryptography public key; None when revoked

    @property
    def revoked(self) -> bool:
        return self.public_key is None

    @property
    def testing(self) -> bool:
        return "y" in self.flags

    def allows(self, hash_name: str) -> bool:
        return self.hashes is None or hash_name in self.hashes

    @property
    def bits(self) -> int:
        if self.public_key is None:
            return 0
        return getattr(self.public_key, "key_size", 256)  # an ed25519 key is 256 bits

    @property
    def description(self) -> str:
        return f"rsa {self.bits}" if self.key_type == "rsa" else "ed25519"


def parse_key_record(text: str) -> KeyRecord:
    """Parse and load a key record (RFC 6376 3.6.1, RFC 8463)."""
    tags = parse_tags(text)
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        raise DkimError("v= must come first and be DKIM1", "v")
    key_type = tags.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        raise DkimError(f"unknown key type k={tags['k']}", "k")
    hashes = tuple(h.lower() for h in _list(tags["h"])) if "h" in tags else None
    services = [s.lower() for s in _list(tags.get("s", "*"))]
    if "*" not in services and "email" not in services:
        raise DkimError(f"s={tags['s']} does not allow email", "s")
    if "p" not in tags:
        raise DkimError("no p= tag", "p")
    raw = _base64(tags["p"], "p")
    key = _load_key(key_type, raw) if raw else None
    return KeyRecord(text, tags, key_type, hashes,
                     frozenset(f.lower() for f in _list(tags.get("t", ""))), key)


def _load_key(key_type: str, raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    if key_type == "ed25519":
        if len(raw) != 32:
            raise DkimError(f"p= holds {len(raw)} bytes; an ed25519 key is 32", "p")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    try:
        key = load_der_public_key(raw)
    except Exception as exc:  # ValueError, or UnsupportedAlgorithm for an unknown OID
        raise DkimError(f"p= is not a SubjectPublicKeyInfo key ({type(exc).__name__}: "
                        f"{str(exc)[:80]})", "p") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimError("p= holds no RSA key but k=rsa", "p")
    return key


def same_key(one, other) -> bool:
    """Two public keys are the same key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def spki(key) -> bytes:
        return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    return spki(one) == spki(other)


@dataclass(frozen=True)
class KeyLookup:
    selector: str
    domain: str
    answer: Answer
    record: KeyRecord | None = None
    error: str = ""  # why there is no usable record
    tag: str = ""  # the tag a malformed record fails on

    @property
    def name(self) -> str:
        return key_name(self.selector, self.domain)

    @property
    def missing(self) -> bool:
        return self.answer.status in (Status.NXDOMAIN, Status.NODATA)


def key_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain.rstrip('.')}."


async def lookup_key(resolver: Resolver, selector: str, domain: str) -> KeyLookup:
    answer = await resolver.query(key_name(selector, domain), "TXT")
    if answer.status in (Status.NXDOMAIN, Status.NODATA):
        return KeyLookup(selector, domain, answer, error="no key record")
    if not answer.answered:
        return KeyLookup(selector, domain, answer, error=f"lookup failed: {answer.describe()}")
    if len(answer.records) != 1:
        return KeyLookup(selector, domain, answer,
                         error=f"{len(answer.records)} TXT records where one key belongs")
    try:
        return KeyLookup(selector, domain, answer, parse_key_record(answer.records[0]))
    except DkimError as exc:
        return KeyLookup(selector, domain, answer, error=str(exc), tag=exc.tag)


def lookup_keys(resolver: Resolver, domain: str, selectors: Sequence[str]) -> list[KeyLookup]:
    """Every selector's key record, fetched at once."""
    return resolver.run_all(lookup_key(resolver, s, domain) for s in selectors)


# -- messages ---------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    headers: list[tuple[str, bytes]]  # (name, the whole field with its CRLF), top down
    body: bytes


def parse_message(data: bytes) -> Message:
    """Header fields and body; a message may have no body and no empty line
    (RFC 5322 3.5). Linear in the size, however the fields are folded."""
    # A message saved with bare LFs: every line ends in CRLF (in C, not per match).
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data.startswith(b"\r\n"):
        head, body = b"", data[2:]
    else:
        head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n") if head else []
    if lines and not lines[-1]:  # header fields only, ending with a CRLF
        lines.pop()
    fields: list[tuple[str, list[bytes]]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line)
            continue
        raw_name, colon, _ = line.partition(b":")
        if not colon:
            raise DkimError(f"malformed header line {line[:30]!r}")
        fields.append((raw_name.decode("ascii", "replace").strip(), [line]))
    return Message([(name, b"\r\n".join(parts) + b"\r\n") for name, parts in fields], body)


def _relaxed_header(field: bytes) -> bytes:
    name, _, value = field.partition(b":")
    value = re.sub(rb"\r\n(?=[ \t])", b"", value)
    value = _WSP.sub(b" ", value.rstrip(b"\r\n")).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + b"\r\n"


def canonical_body(body: bytes, relaxed: bool) -> bytes:
    """RFC 6376 3.4.3 and 3.4.4, on the whole body at once (a line-by-line
    list of a body of a million empty lines would cost gigabytes)."""
    if relaxed:
        body = _WSP.sub(b" ", body).replace(b" \r\n", b"\r\n")  # collapse, strip line ends
        if body.endswith(b" "):  # the last line, without a CRLF
            body = body[:-1]
        body = body.rstrip(b"\r\n")
        return body + b"\r\n" if body else b""
    body = body.rstrip(b"\r\n")
    return body + b"\r\n"


@dataclass
class SignatureCheck:
    """One DKIM-Signature and what became of it."""

    position: int = 0  # 1 for the message's first DKIM-Signature, 2 for the next...
    domain: str = ""
    selector: str = ""
    algorithm: str = ""
    canonicalization: str = ""
    verdict: Verdict = Verdict.PERMERROR
    reason: str = ""
    key: KeyRecord | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def weak(self) -> bool:
        return self.algorithm == "rsa-sha1"

    @property
    def label(self) -> str:
        """"signature d=example.org s=s2025", or by what it has; by its
        position when it has neither d= nor s=."""
        named = " ".join(f"{tag}={value}" for tag, value in (("d", self.domain),
                                                             ("s", self.selector)) if value)
        return f"signature {named or f'#{self.position}'}"


def signed_data(message: Message, index: int, tags: dict[str, str],
                header_relaxed: bool) -> bytes:
    """The header part of the signed data (RFC 6376 3.7, 5.4.2): each field
    h= names, the last unused one of that name first, then the signature
    itself with an empty b=."""
    unused: dict[str, list[bytes]] = {}
    for name, raw in message.headers:
        unused.setdefault(name.lower(), []).append(raw)
    parts = []
    for wanted in _list(tags["h"]):
        found = unused.get(wanted.lower())
        if found:
            raw = found.pop()
            parts.append(_relaxed_header(raw) if header_relaxed else raw)
    data = b"".join(parts)
    own = message.headers[index][1]
    own_name, _, value = own.partition(b":")
    value = re.sub(rb"(^|;)([ \t\r\n]*b[ \t\r\n]*=)[^;]*", rb"\1\2", value, count=1)
    own = own_name + b":" + value
    own = _relaxed_header(own) if header_relaxed else own
    return data + own[:-2] if own.endswith(b"\r\n") else data + own


async def verify_signature(resolver: Resolver, message: Message, index: int,
                           now: float | None = None, position: int = 1) -> SignatureCheck:
    check = SignatureCheck(position)
    try:
        raw = message.headers[index][1].partition(b":")[2].decode("ascii")
    except UnicodeDecodeError:
        check.reason = "the signature header is not ASCII"
        return check
    try:
        tags = parse_tags(raw)
    except DkimError as exc:
        check.reason = f"malformed signature: {exc}"
        return check
    check.tags = tags
    check.domain, check.selector = tags.get("d", "").lower(), tags.get("s", "")
    missing = [t for t in ("v", "a", "b", "bh", "d", "h", "s") if t not in tags]
    if missing:
        check.reason = f"the signature lacks {', '.join(t + '=' for t in missing)}"
        return check
    check.algorithm, check.canonicalization = tags["a"].lower(), tags.get("c", "simple/simple")
    problem = _signature_problem(tags, now if now is not None else time.time())
    if problem:
        check.reason = problem
        return check
    header_c, _, body_c = check.canonicalization.lower().partition("/")
    found = await lookup_key(resolver, check.selector, check.domain)
    if found.record is None:
        # A name that cannot exist (too long) fails for good, like a missing key.
        temporary = not found.answer.answered and found.answer.status is not Status.BAD_NAME
        check.verdict = Verdict.TEMPERROR if temporary else Verdict.PERMERROR
        check.reason = f"key {found.name.rstrip('.')}: {found.error}"
        return check
    key = check.key = found.record
    key_type, hash_name = ALGORITHMS[check.algorithm]
    problem = _key_problem(key, key_type, hash_name, tags)
    if problem:
        check.reason = problem
        return check
    body = canonical_body(message.body, body_c == "relaxed")
    if "l" in tags:
        if int(tags["l"]) > len(body):
            check.reason = f"l={tags['l']} is longer than the body ({len(body)} octets)"
            return check
        body = body[:int(tags["l"])]
    if base64.b64encode(hashlib.new(hash_name, body).digest()).decode() != re.sub(
            r"[ \t\r\n]", "", tags["bh"]):
        check.verdict, check.reason = Verdict.FAIL, "body hash mismatch"
        return check
    data = signed_data(message, index, tags, header_c == "relaxed")
    try:
        signature = _base64(tags["b"], "b")
    except DkimError as exc:
        check.reason = str(exc)
        return check
    if _valid(key, hash_name, signature, data):
        check.verdict, check.reason = Verdict.PASS, ""
    else:
        check.verdict, check.reason = Verdict.FAIL, "signature mismatch"
    return check


def _signature_problem(tags: dict[str, str], now: float) -> str:
    """A permerror in the signature's own tags, or "" (RFC 6376 3.5, 6.1.1)."""
    if tags["v"] != "1":
        return f"v={tags['v']} is not 1"
    if tags["a"].lower() not in ALGORITHMS:
        return f"unknown algorithm a={tags['a']}"
    header_c, _, body_c = tags.get("c", "simple/simple").lower().partition("/")
    if header_c not in ("simple", "relaxed") or body_c not in ("", "simple", "relaxed"):
        return f"unknown canonicalization c={tags['c']}"
    if "dns/txt" not in [q.lower() for q in _list(tags.get("q", "dns/txt"))]:
        return f"q={tags['q']} offers no dns/txt"
    if "from" not in [h.lower() for h in _list(tags["h"])]:
        return "From is not signed"
    domain = tags["d"].lower()
    for tag, value in (("d", domain), ("s", tags["s"])):
        if not valid_name(value) or value.endswith("."):  # 3.5: domain names, nothing else
            return f"{tag}= is not a valid domain name"
    identity = _identity_domain(tags)
    if identity is None:
        return "i= is not a valid identity (local@domain)"
    if identity != domain and not identity.endswith("." + domain):
        return f"i= domain {identity} is not d={domain} or below it"
    for tag, digits in NUMBER_TAGS.items():  # 3.5: l= is 1*76DIGIT, t= and x= 1*12DIGIT
        if tag in tags and not re.fullmatch(f"[0-9]{{1,{digits}}}", tags[tag]):
            return f"{tag}= is not a number of at most {digits} digits"
    if "x" in tags and "t" in tags and int(tags["x"]) < int(tags["t"]):
        return "x= is before t="
    if "x" in tags and int(tags["x"]) < now:
        return "the signature has expired (x=)"
    if "t" in tags and int(tags["t"]) > now + FUTURE_SLACK:
        return "the signature is dated in the future (t=)"
    return ""


def _identity_domain(tags: dict[str, str]) -> str | None:
    """The domain of i= (d= when there is none), dkim-quoted-printable decoded
    (RFC 6376 2.11); None when it is not local@domain with a valid domain."""
    if "i" not in tags:
        return tags["d"].lower()
    try:
        identity = _quoted_printable(tags["i"])
    except ValueError:
        return None
    _, at, domain = identity.rpartition("@")
    domain = domain.lower()
    if not at or not valid_name(domain) or domain.endswith("."):
        return None
    return domain


def _quoted_printable(value: str) -> str:
    """dkim-quoted-printable: "=XX" stands for the octet XX; folding white
    space is ignored."""
    value = re.sub(r"[ \t\r\n]", "", value)
    if re.search(r"=(?![0-9A-F]{2})", value):
        raise ValueError("bad quoted-printable")
    raw = re.sub(rb"=([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 value.encode("ascii", "replace"))
    return raw.decode("utf-8", "replace")


def _key_problem(key: KeyRecord, key_type: str, hash_name: str, tags: dict[str, str]) -> str:
    if key.revoked:
        return "the key is revoked (empty p=)"
    if key.key_type != key_type:
        return f"the key is k={key.key_type} but the signature is a={tags['a']}"
    if not key.allows(hash_name):
        return f"the key's h= does not allow {hash_name}"
    if key_type == "rsa" and key.bits < 1024:
        return f"the key has {key.bits} bits; fewer than 1024 are not accepted (RFC 8301)"
    if "s" in key.flags:
        identity = tags.get("i", "@" + tags["d"]).rpartition("@")[2].lower()
        if identity != tags["d"].lower():
            return "the key is strict (t=s) but i= is a subdomain of d="
    return ""


def _valid(key: KeyRecord, hash_name: str, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        if key.key_type == "ed25519":  # RFC 8463: the hash of the data is signed
            key.public_key.verify(signature, hashlib.sha256(data).digest())
        else:
            algorithm = hashes.SHA256() if hash_name == "sha256" else hashes.SHA1()
            key.public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Verification:
    """The signatures of a message, verified up to MAX_SIGNATURES."""

    checks: list[SignatureCheck]
    unverified: int = 0  # signatures past the limit, left alone


def verify(resolver: Resolver, message: Message | bytes,
           now: float | None = None) -> Verification:
    """Verify the DKIM-Signatures of a message (parsed, or bytes to parse), all
    keys fetched at once."""
    if isinstance(message, bytes):
        message = parse_message(message)
    indexes = [i for i, (name, _) in enumerate(message.headers)
               if name.lower() == "dkim-signature"]
    checks = resolver.run_all(verify_signature(resolver, message, index, now, position)
                              for position, index in enumerate(indexes[:MAX_SIGNATURES], 1))
    return Verification(checks, max(0, len(indexes) - MAX_SIGNATURES))
