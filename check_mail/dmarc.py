"""DMARC (RFC 7489, and RFC 9989 where it differs): the policy a domain
publishes, its report destinations, and the verdict for a message.

Discovery follows RFC 7489 section 6.6.3: the TXT records at
``_dmarc.<From domain>`` that start with ``v=DMARC1``; none there, the same
at the organizational domain, determined with the Public Suffix List. Several
records mean no policy at all. RFC 9989 replaces the list by a DNS tree walk
(its section 4.10); :func:`discover` runs that walk too, so that a
difference between the two can be shown.

Readings taken:

- Tags are RFC 7489's and RFC 9989's (``np``, ``psd``, ``t``); unknown tags
  are ignored but reported. ``pct``, ``rf`` and ``ri`` (removed by RFC 9989)
  are still read, as most receivers still honour them.
- A record is read as receivers read it (RFC 7489 6.3, 6.6.3): a tag they
  cannot use is ignored and reported (:class:`RecordError`, with what
  receivers do about it); without a valid ``p=`` (or with an invalid
  ``sp=``) they apply ``p=none`` where a valid ``rua=`` remains, and no DMARC
  otherwise. A tag given twice, or no ``v=DMARC1`` first, is no record.
- Alignment compares organizational domains from the Public Suffix List
  (relaxed) or the names themselves (strict), RFC 7489 section 3.1.
- A message without exactly one From: address fails (RFC 7489 6.6.1).
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from check_mail.dns import Answer, Resolver, Status, absolute, valid_name
from check_mail.outcome import Word
from check_mail.text import integer

# RFC 7489 6.4: tag names are case-insensitive (ABNF quoted strings, RFC
# 5234 2.3), the value DMARC1 is not: "V=DMARC1" is a record, "v=dmarc1" none.
VERSION = re.compile(r"^[vV][ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
TAGS = ("v", "p", "sp", "np", "pct", "rua", "ruf", "adkim", "aspf", "fo", "rf", "ri", "t", "psd")
REMOVED_BY_9989 = ("pct", "rf", "ri")
WALK_LABELS = 7  # RFC 9989 4.10 step 4: a longer name is cut to its last 7 labels


class Disposition(Word):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"

    @property
    def strength(self) -> int:
        return {"none": 0, "quarantine": 1, "reject": 2}[self.value]


class DmarcError(ValueError):
    """A record that is no valid DMARC policy; ``tag`` names the culprit."""

    def __init__(self, message: str, tag: str = "") -> None:
        super().__init__(message)
        self.tag = tag


@dataclass(frozen=True)
class ReportUri:
    """One rua= or ruf= destination."""

    text: str
    scheme: str
    address: str = ""  # for mailto:
    size: str = ""  # the obsolete !size suffix, as written

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class RecordError:
    """A tag receivers cannot use, and what they do about it. ``changes``:
    the error changes what receivers apply (the policy, or where reports go);
    otherwise they ignore the tag and apply the rest."""

    tag: str
    problem: str  # "pct=200 is not a whole number from 0 to 100"
    effect: str  # "receivers ignore it"
    changes: bool = False


IGNORED = "receivers ignore it"


@dataclass(frozen=True)
class Policy:
    """A record as receivers read it (RFC 7489 6.3, 6.6.3): a tag they cannot
    use is ignored (its default applies) and listed in ``errors``; an invalid
    or missing p= (or an invalid sp=) makes them apply p=none when a valid
    rua= remains, and no DMARC at all otherwise (``applies`` False)."""

    text: str
    tags: dict[str, str]
    p: Disposition
    sp: Disposition | None = None
    np: Disposition | None = None
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    testing: bool = False  # t=y (RFC 9989): a policy on trial
    psd: str = "u"
    unknown: tuple[str, ...] = ()  # tags this parser does not know: ignored by receivers
    implicit_p: bool = False  # no p= tag: receivers act as p=none
    errors: tuple[RecordError, ...] = ()
    applies: bool = True  # False: receivers apply no DMARC to the domain's mail

    def for_subdomains(self) -> Disposition:
        return self.sp or self.p


def parse(text: str) -> Policy:
    """A DMARC record as receivers read it (RFC 7489 6.3, 6.6.3; RFC 9989
    4.7). Raises DmarcError only where no receiver reads a policy at all: no
    v=DMARC1 first, or a tag given twice (RFC 6376 3.2, through RFC 7489)."""
    if not VERSION.match(text):
        raise DmarcError("the record does not start with v=DMARC1", "v")
    tags: dict[str, str] = {}
    errors: list[RecordError] = []
    for part in text.split(";"):
        if not part.strip(" \t"):
            continue
        name, equals, value = part.partition("=")
        name, value = name.strip(" \t").lower(), value.strip(" \t")
        if not equals or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            errors.append(RecordError(name, f"malformed tag {part.strip()[:20]!r}", IGNORED))
            continue
        if name in tags:
            raise DmarcError(f"duplicate tag {name}=", name)
        tags[name] = value
    read = _Reader(tags, errors)
    p, sp = read.disposition("p"), read.disposition("sp")
    rua, ruf = read.uris("rua"), read.uris("ruf")
    policy = Policy(
        text, tags, p=p or Disposition.NONE, sp=sp, np=read.disposition("np", IGNORED),
        pct=read.number("pct", 0, 100, 100),
        adkim=read.choice("adkim", ("r", "s"), "r"),
        aspf=read.choice("aspf", ("r", "s"), "r"),
        rua=rua, ruf=ruf,
        testing=read.choice("t", ("y", "n"), "n") == "y",
        psd=read.choice("psd", ("y", "n", "u"), "u"),
        unknown=tuple(t for t in tags if t not in TAGS),
        implicit_p="p" not in tags,
    )
    read.choices("fo", ("0", "1", "d", "s"))
    read.number("ri", 0, 2 ** 32 - 1, 86400)
    broken = [tag for tag in ("p", "sp") if tag in tags and read.bad(tag)]
    if "p" in tags and not broken:
        return _with(policy, errors)
    # RFC 7489 6.6.3 step 6: no valid p= (or an invalid sp=): p=none where a
    # valid rua= remains, else no DMARC processing at all.
    if rua:
        effect = "receivers apply p=none (RFC 7489 6.6.3 step 6)"
    else:
        effect = ("with no valid rua=, receivers apply no DMARC (RFC 7489 6.6.3 step 6, as "
                  "OpenDMARC, Mail::DMARC and mailauth read it; one reading p=none instead "
                  "protects nothing either)")
        if "p" not in tags:
            errors.insert(0, RecordError("p", "no p= tag", effect, True))
    errors[:] = [RecordError(e.tag, e.problem, effect, True) if e.tag in broken else e
                 for e in errors]
    if not rua:
        return _with(policy, errors, applies=False)
    if broken:
        return _with(policy, errors, p=Disposition.NONE, sp=None)
    return _with(policy, errors)  # no p=, a valid rua=: p=none, as implicit_p says


def _with(policy: Policy, errors: list[RecordError], **changes: Any) -> Policy:
    from dataclasses import replace

    return replace(policy, errors=tuple(errors), **changes)


class _Reader:
    """Each tag's value as receivers take it: a value they cannot use is an
    error (ignored, unless its effect says otherwise) and its default applies."""

    def __init__(self, tags: dict[str, str], errors: list[RecordError]) -> None:
        self.tags = tags
        self.errors = errors
        self.problems: dict[str, str] = {}

    def bad(self, tag: str) -> bool:
        return tag in self.problems

    def error(self, tag: str, problem: str, effect: str = IGNORED,
              changes: bool = False) -> None:
        self.problems[tag] = problem
        self.errors.append(RecordError(tag, problem, effect, changes))

    def disposition(self, tag: str, effect: str = IGNORED) -> Disposition | None:
        if tag not in self.tags:
            return None
        try:
            return Disposition(self.tags[tag].lower())
        except ValueError:
            self.error(tag, f"{tag}={self.tags[tag]} is none of none, quarantine, reject",
                       effect)
            return None

    def choice(self, tag: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.tags.get(tag, default).lower()
        if value in allowed:
            return value
        self.error(tag, f"{tag}={self.tags[tag]} is none of {', '.join(allowed)}")
        return default

    def choices(self, tag: str, allowed: tuple[str, ...]) -> None:
        """A colon-separated list of quoted (any case) literals, such as fo=."""
        for option in _list(self.tags.get(tag, allowed[0])):
            if option.lower() not in allowed:
                self.error(tag, f"{tag}={self.tags[tag]}: {option!r} is none of "
                                f"{', '.join(allowed)}")
                return

    def number(self, tag: str, low: int, high: int, default: int) -> int:
        value = self.tags.get(tag, str(default))
        try:
            number = integer(value)
        except ValueError:
            number = -1
        if low <= number <= high:
            return number
        self.error(tag, f"{tag}={value} is not a whole number from {low} to {high}")
        return default

    def uris(self, tag: str) -> tuple[ReportUri, ...]:
        """rua= and ruf=: the URIs receivers can use; each one they cannot is
        an error, and when none is left the reports are lost."""
        if tag not in self.tags:
            return ()
        found, bad = [], []
        for text in _list(self.tags[tag], ","):
            uri, problem = _uri(tag, text)
            if uri is None:
                bad.append(problem)
            else:
                found.append(uri)
        lost = "receivers send these reports nowhere" if not found else IGNORED
        for problem in bad:
            self.error(tag, problem, lost, changes=not found)
        return tuple(found)


def _list(value: str, sep: str = ":") -> list[str]:
    return [item.strip(" \t") for item in value.split(sep)]


_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):([^!]+)(?:!([0-9]+[kmgt]?))?$", re.I)


def _uri(tag: str, text: str) -> tuple[ReportUri | None, str]:
    """One rua= or ruf= URI, mailto: with a valid address; or None and why."""
    from urllib.parse import unquote

    match = _URI.match(text)
    if not match:
        return None, f"{tag}= holds {text!r}, which is not a URI"
    scheme, rest, size = match.group(1).lower(), match.group(2), match.group(3) or ""
    address = ""
    if scheme == "mailto":
        address = unquote(rest.split("?", 1)[0])  # RFC 6068: ?subject=... is no address
        local, at, domain = address.rpartition("@")
        if not at or not local or not valid_name(domain) or "." not in domain:
            return None, f"{tag}= holds {text!r}, which is not a mail address"
    return ReportUri(text, scheme, address, size), ""


# -- organizational domains ---------------------------------------------------


@functools.cache
def _suffixes() -> Any:
    """The Public Suffix List, as the publicsuffixlist package ships it
    (kept current by its releases; loading it costs about 50 ms, so only
    here)."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """RFC 7489 3.2: the public suffix and one more label."""
    name = domain.rstrip(".").lower()
    return _suffixes().privatesuffix(name) or name


def aligned(identifier: str, author: str, strict: bool) -> bool:
    """RFC 7489 3.1: the same name (strict), or the same organizational domain."""
    a, b = identifier.rstrip(".").lower(), author.rstrip(".").lower()
    return a == b if strict else organizational_domain(a) == organizational_domain(b)


def walk_names(domain: str) -> list[str]:
    """RFC 9989 4.10: the author domain; then, step 4, with fewer than 8
    labels the left-most label removed, otherwise labels removed until 7
    remain; then one label less at a time, down to the top label (at most
    eight names)."""
    labels = domain.rstrip(".").lower().split(".")
    names = [".".join(labels)]
    labels = labels[1:] if len(labels) <= WALK_LABELS else labels[-WALK_LABELS:]
    while labels:
        names.append(".".join(labels))
        labels = labels[1:]
    return list(dict.fromkeys(names))


# -- discovery --------------------------------------------------------------


def dmarc_records(answer: Answer) -> list[str]:
    return [r for r in answer.records if VERSION.match(r)] \
        if answer.status is Status.ANSWER else []


@dataclass(frozen=True)
class Discovery:
    """Where a domain's policy comes from, and the policy."""

    domain: str
    answers: dict[str, Answer]  # _dmarc TXT answers by the domain asked
    found_at: str = ""  # the domain whose record applies ("" none)
    records: tuple[str, ...] = ()  # the v=DMARC1 records there
    policy: Policy | None = None
    error: DmarcError | None = None
    walk_org: str = ""  # the organizational domain by RFC 9989's tree walk

    @property
    def org(self) -> str:
        return organizational_domain(self.domain)

    @property
    def answer(self) -> Answer | None:
        """The answer that held the records (or the first asked)."""
        return self.answers.get(self.found_at or self.domain)

    @property
    def failures(self) -> list[Answer]:
        """The lookups of RFC 7489's discovery that failed: the domain's, and the
        organizational domain's when the domain had no record."""
        first = self.answers[self.domain]
        if not first.answered:
            return [first]
        if dmarc_records(first) or self.org == self.domain:
            return []
        fallback = self.answers[self.org]
        return [] if fallback.answered else [fallback]

    @property
    def applies(self) -> bool:
        """Receivers apply a policy: one record, and one they act on."""
        return self.policy is not None and self.policy.applies

    @property
    def inherited(self) -> bool:
        """The policy is the organizational domain's, applied to a subdomain."""
        return bool(self.found_at) and self.found_at != self.domain


async def discover(resolver: Resolver, domain: str) -> Discovery:
    """RFC 7489's discovery, and RFC 9989's tree walk beside it, all queries at once."""
    import asyncio

    domain = domain.rstrip(".").lower()
    names = list(dict.fromkeys([domain, organizational_domain(domain), *walk_names(domain)]))
    answers = dict(zip(names, await asyncio.gather(
        *(resolver.query(f"_dmarc.{name}", "TXT") for name in names))))
    found_at = ""
    for name in dict.fromkeys([domain, organizational_domain(domain)]):
        if not answers[name].answered:
            break  # a failed lookup: nothing can be concluded
        if dmarc_records(answers[name]):
            found_at = name
            break
    records = tuple(dmarc_records(answers[found_at])) if found_at else ()
    policy = error = None
    if len(records) == 1:
        try:
            policy = parse(records[0])
        except DmarcError as exc:
            error = exc
    return Discovery(domain, answers, found_at, records, policy, error,
                     _walk_org(domain, answers))


def _walk_org(domain: str, answers: dict[str, Answer]) -> str:
    """RFC 9989 4.10.2: psd=n marks the organizational domain, psd=y the one
    below it; else the record with the fewest labels; else the domain."""
    found = []
    for name in walk_names(domain):
        records = dmarc_records(answers[name])
        if len(records) != 1:
            continue
        try:
            policy = parse(records[0])
        except DmarcError:
            continue
        if policy.psd == "n":
            return name
        if policy.psd == "y" and name != domain:
            labels = domain.split(".")
            return ".".join(labels[-(len(name.split(".")) + 1):])
        found.append(name)
    return min(found, key=lambda n: n.count("."), default=domain)


# -- report destinations -----------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """A report address outside the policy's organization, and whether that
    destination authorises the reports (RFC 7489 7.1)."""

    uri: ReportUri
    answer: Answer

    @property
    def authorized(self) -> bool:
        return bool(dmarc_records(self.answer))


def external(policy_domain: str, uri: ReportUri) -> bool:
    return bool(uri.address) and \
        organizational_domain(uri.domain) != organizational_domain(policy_domain)


async def destinations(resolver: Resolver, policy_domain: str,
                       policy: Policy) -> list[Destination]:
    """The external rua/ruf destinations and their authorization records:
    ``<policy domain>._report._dmarc.<destination>`` (a wildcard or a CNAME
    there answers as well: DNS itself resolves them)."""
    import asyncio

    uris = list({u.domain: u for u in (*policy.rua, *policy.ruf)
                 if external(policy_domain, u)}.values())
    answers = await asyncio.gather(*(
        resolver.query(absolute(f"{policy_domain}._report._dmarc.{u.domain}"), "TXT")
        for u in uris))
    return [Destination(u, a) for u, a in zip(uris, answers)]


# -- a message ----------------------------------------------------------------


class Result(Word):
    PASS = "pass"
    FAIL = "fail"
    NONE = "none"  # no policy to apply
    TEMPERROR = "temperror"


@dataclass(frozen=True)
class Identifier:
    """One authenticated identifier (SPF's MAIL FROM or HELO domain, a DKIM
    d=) and how it fares."""

    method: str  # "spf" or "dkim"
    domain: str
    result: str  # the SPF or DKIM result
    aligned: bool
    selector: str = ""  # DKIM's s=

    @property
    def passes(self) -> bool:
        return self.result == "pass"


@dataclass(frozen=True)
class MessageVerdict:
    author: str  # the From: domain ("" when there is none to judge)
    problem: str  # why the message fails before any check ("" none)
    identifiers: tuple[Identifier, ...] = ()
    discovery: Discovery | None = None
    unsubscribe: tuple[str, ...] = field(default=())  # List-Unsubscribe and -Post, if any

    @property
    def result(self) -> Result:
        """RFC 7489 6.6.3: no policy, no DMARC evaluation. Whether a policy
        exists is asked first: an aligned pass for a domain that publishes
        none is no DMARC pass."""
        if self.problem:
            return Result.FAIL
        if self.discovery is not None and self.discovery.failures:
            return Result.TEMPERROR
        if self.discovery is None or not self.discovery.applies:
            return Result.NONE
        if any(i.passes and i.aligned for i in self.identifiers):
            return Result.PASS
        if any(i.result == "temperror" for i in self.identifiers):
            return Result.TEMPERROR
        return Result.FAIL

    @property
    def aligned_passes(self) -> int:
        return sum(i.passes and i.aligned for i in self.identifiers)


def author_domain(headers: list[tuple[str, bytes]]) -> tuple[str, str]:
    """The From: domain, or why there is none to judge (RFC 7489 6.6.1:
    exactly one From: field with exactly one address)."""
    from email.header import decode_header, make_header
    from email.utils import getaddresses

    fields = [raw for name, raw in headers if name.lower() == "from"]
    if len(fields) != 1:
        return "", f"{len(fields)} From: header fields where one belongs"
    value = fields[0].partition(b":")[2].decode("utf-8", "replace")
    with contextlib.suppress(ValueError, LookupError):  # an undecodable word stays as it is
        value = str(make_header(decode_header(value)))
    addresses = [a for _, a in getaddresses([value.replace("\r\n", "")]) if a]
    if len(addresses) != 1:
        return "", f"From: holds {len(addresses)} addresses where one belongs"
    domain = addresses[0].rpartition("@")[2].rstrip(".").lower()
    if "@" not in addresses[0] or not valid_name(domain) or "." not in domain:
        return "", f"From: holds {addresses[0]!r}, not an address with a domain"
    return domain, ""


async def evaluate(resolver: Resolver, message: Any, ip: str, mail_from: str,
                   helo: str) -> MessageVerdict:
    """The DMARC verdict for a message (a parsed dkim.Message) that left from
    ``ip`` with the envelope sender ``mail_from`` ("" for <>) after ``helo``:
    SPF on the MAIL FROM domain (the HELO name for <>), DKIM for each
    signature, both aligned with the From: domain as the policy says."""
    import asyncio

    from check_mail import dkim, spf

    author, problem = author_domain(message.headers)
    unsubscribe = tuple(raw.decode("utf-8", "replace").strip() for name, raw in message.headers
                        if name.lower() in ("list-unsubscribe", "list-unsubscribe-post"))
    if problem:
        return MessageVerdict("", problem, unsubscribe=unsubscribe)
    spf_domain = mail_from.rpartition("@")[2].lower() if mail_from else helo.lower()
    indexes = [i for i, (name, _) in enumerate(message.headers)
               if name.lower() == "dkim-signature"][:dkim.MAX_SIGNATURES]
    signatures = asyncio.gather(*(dkim.verify_signature(resolver, message, index, None, position)
                                  for position, index in enumerate(indexes, 1)))
    found, outcome, checks = await asyncio.gather(
        discover(resolver, author),
        spf.evaluate(resolver, ip, spf_domain, mail_from or f"postmaster@{helo}", helo),
        signatures)
    policy = found.policy
    strict_spf = policy is not None and policy.aspf == "s"
    strict_dkim = policy is not None and policy.adkim == "s"
    identifiers = [Identifier("spf", spf_domain, str(outcome.result),
                              aligned(spf_domain, author, strict_spf))]
    identifiers += [Identifier("dkim", check.domain, str(check.verdict),
                               bool(check.domain) and aligned(check.domain, author, strict_dkim),
                               check.selector)
                    for check in checks]
    return MessageVerdict(author, "", tuple(identifiers), found, unsubscribe)
