"""SPF (RFC 7208): the record's syntax, and check_host() on the shared DNS layer.

:func:`check_host` evaluates a record as a receiver does and says what it
did: every DNS query, the lookup and void-lookup counts, and the tree of
include/redirect branches with each branch's cost. :func:`audit` walks the
whole tree without stopping at a match, which is the worst case a receiver
meets for a sender the record does not authorise; that is what the 10-lookup
limit must hold for.

Readings taken where implementations differ (RFC 7208 section 4.6.4 is the
authority):

- The lookup limit counts include, a, mx, ptr, exists and redirect when they
  are evaluated, across the whole evaluation, the first term included.
- Void lookups are counted per term, as section 4.6.4 words the limit: a
  term ("a", "mx", "ptr", "exists") counts once when any query it makes comes
  back NXDOMAIN or empty: the A/AAAA of "a", the MX of "mx" and the address
  lookups of its hosts, the PTR of "ptr" and the forward lookups of its
  names, the A of "exists". An include or redirect counts through the terms
  of its target.
- "mx" with more than 10 MX names is a permerror; "ptr" and the "p" macro
  look at no more than 10 PTR names.
- A loop (an include or redirect back to a domain whose record is being
  evaluated) is a permerror at once; receivers reach the same result
  through the lookup limit.

The audit's walk visits each domain once (a domain included twice costs its
lookups twice, as it does a receiver, but is not walked twice) and stops at
WALK_LIMIT lookups: far past the limit, the rest only costs time.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from check_mail.dns import Answer, Resolver, Status, absolute
from check_mail.outcome import Word
from check_mail.text import integer


class Result(Word):
    """The results of check_host() (RFC 7208 section 2.6)."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


QUALIFIERS = {"+": Result.PASS, "-": Result.FAIL, "~": Result.SOFTFAIL, "?": Result.NEUTRAL}
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
DNS_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
MAX_LOOKUPS, MAX_VOIDS, MAX_MX, MAX_PTR = 10, 2, 10, 10
WALK_LIMIT = 5 * MAX_LOOKUPS  # lookups after which the audit's walk stops

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9\-_.]*)=(.*)$", re.S)
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9\-_.]*)(.*)$", re.S)
_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)(r?)([.\-+,/_=]*)\}", re.I)
_TOPLABEL = re.compile(r"^([a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9\-]*[a-z0-9])$", re.I)
_CIDR = re.compile(r"^(?P<spec>.*?)(?:/(?P<v4>0|[1-9][0-9]?))?(?://(?P<v6>0|[1-9][0-9]{0,2}))?$",
                   re.S)


class SpfError(Exception):
    """A permerror found while parsing or expanding; ``term`` names the culprit."""

    def __init__(self, message: str, term: str = "") -> None:
        super().__init__(message)
        self.term = term


# -- the record -------------------------------------------------------------


@dataclass(frozen=True)
class Mechanism:
    text: str  # as written, for reports
    qualifier: Result  # pass, fail, softfail or neutral
    name: str
    spec: str = ""  # domain-spec (a, mx, ptr, include, exists)
    network: str = ""  # ip4 and ip6
    cidr4: int = 32
    cidr6: int = 128

    @property
    def queries_dns(self) -> bool:
        return self.name in DNS_TERMS


@dataclass(frozen=True)
class Record:
    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: str | None = None
    exp: str | None = None

    @property
    def ending(self) -> str:
        """How the record ends for a sender it does not list: "-all", "~all",
        "redirect=...", or "" (no all, no redirect: neutral)."""
        for mech in self.mechanisms:
            if mech.name == "all":
                return {Result.PASS: "+all", Result.FAIL: "-all", Result.SOFTFAIL: "~all",
                        Result.NEUTRAL: "?all"}[mech.qualifier]
        return f"redirect={self.redirect}" if self.redirect else ""


def is_spf(text: str) -> bool:
    """RFC 7208 4.5: "v=spf1" alone or followed by a space, in any case."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def parse(text: str) -> Record:
    """Parse a whole record; any syntax error anywhere is a permerror (4.6)."""
    if not text.isascii():
        raise SpfError("the record is not 7-bit ASCII")
    if not is_spf(text):
        raise SpfError("the record does not start with v=spf1")
    mechanisms: list[Mechanism] = []
    redirect = exp = None
    for term in text[6:].split(" "):
        if not term:
            continue
        if any(not 0x21 <= ord(c) <= 0x7E for c in term):
            raise SpfError("control character in the record", term)
        modifier = _MODIFIER.match(term)
        if modifier and modifier.group(1).lower() not in MECHANISMS:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if (redirect if name == "redirect" else exp) is not None:
                    raise SpfError(f"{name}= appears twice", term)
                _check_domain_spec(value, term)
                if name == "redirect":
                    redirect = value
                else:
                    exp = value
            else:
                _check_macro_string(value, term)
            continue
        mechanisms.append(_mechanism(term))
    return Record(text, tuple(mechanisms), redirect, exp)


def _mechanism(term: str) -> Mechanism:
    match = _MECHANISM.match(term)
    if not match or match.group(2).lower() not in MECHANISMS:
        raise SpfError("unknown mechanism", term)
    qualifier = QUALIFIERS[match.group(1) or "+"]
    name, rest = match.group(2).lower(), match.group(3)
    if name == "all":
        if rest:
            raise SpfError("all takes no argument", term)
        return Mechanism(term, qualifier, name)
    if name in ("ip4", "ip6"):
        return _ip_mechanism(term, qualifier, name, rest)
    if name in ("include", "exists"):
        if not rest.startswith(":") or len(rest) == 1:
            raise SpfError(f"{name} needs a domain", term)
        _check_domain_spec(rest[1:], term)
        return Mechanism(term, qualifier, name, rest[1:])
    # a, mx, ptr: [":" domain-spec], and for a and mx a dual CIDR length
    cidr = _CIDR.match(rest) if name != "ptr" else None
    spec_part = cidr.group("spec") if cidr else rest
    if spec_part and (not spec_part.startswith(":") or len(spec_part) == 1):
        raise SpfError(f"bad argument to {name}", term)
    spec = spec_part[1:]
    if spec:
        _check_domain_spec(spec, term)
    v4 = int(cidr.group("v4")) if cidr and cidr.group("v4") else 32
    v6 = int(cidr.group("v6")) if cidr and cidr.group("v6") else 128
    if v4 > 32 or v6 > 128:
        raise SpfError("CIDR length out of range", term)
    return Mechanism(term, qualifier, name, spec, cidr4=v4, cidr6=v6)


def _ip_mechanism(term: str, qualifier: Result, name: str, rest: str) -> Mechanism:
    if not rest.startswith(":"):
        raise SpfError(f"{name} needs a network", term)
    address, slash, length = rest[1:].partition("/")
    version = 4 if name == "ip4" else 6
    limit = 32 if version == 4 else 128
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise SpfError(f"bad {name} address", term) from None
    if parsed.version != version:
        raise SpfError(f"bad {name} address", term)
    if slash and (not re.fullmatch(r"0|[1-9][0-9]{0,2}", length) or int(length) > limit):
        raise SpfError("bad CIDR length", term)
    bits = int(length) if slash else limit
    return Mechanism(term, qualifier, name, network=f"{address}/{bits}",
                     cidr4=bits if version == 4 else 32, cidr6=bits if version == 6 else 128)


def _check_macro_string(text: str, term: str, explanation: bool = False) -> None:
    """Macro syntax (7.1); c, r and t only in explanations."""
    i = 0
    while i < len(text):
        if text[i] != "%":
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in ("%", "_", "-"):
            i += 2
            continue
        match = _MACRO.match(text, i)
        if not match:
            raise SpfError("bad macro", term)
        letter = match.group(1).lower()
        if letter not in "slodiphv" + ("crt" if explanation else ""):
            raise SpfError(f"macro %{{{match.group(1)}}} is not allowed here", term)
        if match.group(2) and not _macro_digits(match.group(2)):
            raise SpfError("macro keeps zero parts", term)
        i = match.end()


def _macro_digits(digits: str) -> int:
    """How many parts a macro keeps (RFC 7208 7.3: 1*DIGIT, nonzero); a
    number beyond the parts there are keeps them all, however many digits
    it has."""
    significant = digits.lstrip("0")
    if len(significant) > 4:
        return 10_000
    return integer(significant, 4) if significant else 0


def _check_domain_spec(spec: str, term: str) -> None:
    """4.6.1: a macro-string that ends in "." toplabel [ "." ] or in a macro."""
    _check_macro_string(spec, term)
    if re.search(r"(%\{[^}]*\}|%%|%_|%-)$", spec):
        return
    labels = spec[:-1].split(".") if spec.endswith(".") else spec.split(".")
    if len(labels) < 2 or not _TOPLABEL.match(labels[-1]):
        raise SpfError("bad domain", term)


# -- what check_host() reports ----------------------------------------------


@dataclass
class Query:
    name: str
    rdtype: str
    status: str
    term: str = ""  # the term that made it
    void: bool = False  # it came back NXDOMAIN or empty, for a term


@dataclass
class Branch:
    """One record evaluated: the top domain, or an include/redirect target."""

    domain: str
    via: str  # "", "include" or "redirect"
    record: Record | None = None  # the parsed record, once it parsed
    lookups: int = 0  # DNS-querying terms of this record, and the include/redirect to it
    voids: int = 0
    result: Result | None = None  # None until evaluated
    problem: str = ""
    children: list[Branch] = field(default_factory=list)
    repeated: bool = False  # walked before, elsewhere in the tree: its cost counted again

    @property
    def cost(self) -> int:
        """Lookups of this branch and everything below it."""
        return self.lookups + sum(c.cost for c in self.children)

    @property
    def void_cost(self) -> int:
        """Void lookups of this branch and everything below it."""
        return self.voids + sum(c.void_cost for c in self.children)

    def walk(self, depth: int = 0):
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass
class Outcome:
    result: Result
    explanation: str = ""
    mechanism: str = ""  # the term that decided
    problem: str = ""  # why permerror or temperror
    lookups: int = 0
    voids: int = 0
    queries: list[Query] = field(default_factory=list)
    tree: Branch | None = None

    @property
    def costliest(self) -> Branch | None:
        """The include or redirect that costs the most lookups."""
        branches = [b for _, b in self.tree.walk() if b.via] if self.tree else []
        return max(branches, key=lambda b: b.cost, default=None)


# -- check_host() -----------------------------------------------------------


class _Done(Exception):
    """Unwinds the evaluation with a final result (limits, errors). ``final``
    ends even the audit's walk, which otherwise goes on past a permerror."""

    def __init__(self, result: Result, problem: str, *, final: bool = False) -> None:
        super().__init__(problem)
        self.result = result
        self.problem = problem
        self.final = final


@dataclass(frozen=True)
class Decision:
    result: Result
    term: str = ""  # the mechanism that matched
    record: Record | None = None  # the record it stands in
    domain: str = ""  # that record's domain (the top one or a redirect target)


class _Evaluation:
    def __init__(self, resolver: Resolver, ip: str, sender: str, helo: str, *,
                 exhaustive: bool, max_voids: int, receiver: str) -> None:
        self.resolver = resolver
        self.ip = ipaddress.ip_address(ip)
        if self.ip.version == 6 and self.ip.ipv4_mapped:
            self.ip = self.ip.ipv4_mapped
        local, _, domain = sender.rpartition("@")
        self.local = local or "postmaster"
        self.sender_domain = domain
        self.helo = helo
        self.exhaustive = exhaustive
        self.max_voids = max_voids
        self.receiver = receiver
        self.lookups = 0
        self.voids = 0
        self.queries: list[Query] = []
        self.problems: list[str] = []  # exhaustive mode: what a receiver would stop at
        self.path: list[str] = []  # the domains whose records are being evaluated
        self.walked: dict[str, Branch] = {}  # exhaustive mode: every domain walked once

    # DNS --------------------------------------------------------------------

    async def query(self, name: str, rdtype: str, term: str = "") -> Answer:
        """One DNS question; ``term`` names the term it is asked for (its void
        lookups count). The deadline is checked here too: an answer from the
        run's cache never waits, so a walk of cached answers would never
        notice time passing."""
        if self.resolver.deadline.expired:
            raise _Done(Result.TEMPERROR, "out of time (the deadline passed)", final=True)
        answer = await self.resolver.query(name, rdtype)
        if answer.status is Status.BAD_NAME:
            answer = Answer(answer.name, rdtype, Status.NXDOMAIN)  # no such name can exist
        empty = answer.status in (Status.NXDOMAIN, Status.NODATA)
        self.queries.append(Query(answer.name, rdtype, str(answer.status), term,
                                  bool(term) and empty))
        return answer

    def void(self, term: str, branch: Branch) -> None:
        """A term whose queries came back empty: one void lookup."""
        self.voids += 1
        branch.voids += 1
        if self.voids > self.max_voids:
            self._limit(f"more than {self.max_voids} void lookups", term)

    def _limit(self, problem: str, term: str) -> None:
        if not self.exhaustive:
            raise _Done(Result.PERMERROR, f"{problem} ({term})" if term else problem)
        if problem not in self.problems:  # the walk goes on, to count everything
            self.problems.append(problem)

    def count(self, term: str, branch: Branch, lookups: int = 1) -> None:
        self.lookups += lookups
        branch.lookups += lookups
        if self.lookups > MAX_LOOKUPS:
            self._limit(f"more than {MAX_LOOKUPS} DNS lookups", term)
        if self.lookups > WALK_LIMIT:
            raise _Done(Result.PERMERROR, f"more than {WALK_LIMIT} DNS lookups; the walk "
                                          "stopped there", final=True)

    # records ----------------------------------------------------------------

    async def record(self, domain: str, branch: Branch) -> Record | None:
        """The domain's one SPF record; None when it has none (4.4, 4.5)."""
        answer = await self.query(domain, "TXT")
        if answer.status in (Status.NXDOMAIN, Status.NODATA):
            return None
        if not answer.answered:
            raise _Done(Result.TEMPERROR, f"TXT {domain.rstrip('.')}: {answer.describe()}")
        texts = [t for t in answer.records if is_spf(t)]
        if not texts:
            return None
        if len(texts) > 1:
            raise _Done(Result.PERMERROR, f"{domain.rstrip('.')} has {len(texts)} SPF records")
        try:
            branch.record = parse(texts[0])
        except SpfError as exc:
            where = f" in {exc.term!r}" if exc.term else ""
            raise _Done(Result.PERMERROR, f"{exc}{where} ({domain.rstrip('.')})") from None
        return branch.record

    async def check_host(self, domain: str, branch: Branch) -> Decision:
        """The result for one domain, per RFC 7208 4, and what decided it."""
        record = await self.record(domain, branch)
        if record is None:
            return Decision(Result.NONE)
        decided: Decision | None = None
        for mech in record.mechanisms:
            if mech.queries_dns and mech.name != "include":  # an include counts in its branch
                self.count(mech.text, branch)
            asked = len(self.queries)
            matched = await self.matches(mech, domain, branch)
            if mech.name != "include" and any(q.void and q.term == mech.text
                                              for q in self.queries[asked:]):
                self.void(mech.text, branch)
            if matched and decided is None:
                decided = Decision(mech.qualifier, mech.text, record, domain)
                if not self.exhaustive:
                    return decided
        if decided:
            return decided
        if record.redirect is not None and not any(m.name == "all" for m in record.mechanisms):
            target = absolute(await self.expand_domain(record.redirect, domain))
            child = Branch(target, "redirect")
            branch.children.append(child)
            self.count(f"redirect={record.redirect}", child)
            decision = await self.guarded(target, child)
            if decision.result == Result.NONE:
                raise _Done(Result.PERMERROR,
                            f"redirect target {target.rstrip('.')} has no SPF record")
            return decision
        return Decision(Result.NEUTRAL, "", record, domain)

    async def guarded(self, domain: str, branch: Branch) -> Decision:
        """check_host() for one branch, which keeps its result: a loop ends it,
        and the audit's walk takes a domain walked before from memory."""
        key = domain.lower()
        try:
            if key in self.path:
                loop = [*self.path[self.path.index(key):], key]
                raise _Done(Result.PERMERROR, "loop: " + " > ".join(
                    name.rstrip(".") for name in loop))
            if key in self.walked:
                return self.repeat(self.walked[key], branch)
            self.path.append(key)
            try:
                decision = await self.check_host(domain, branch)
            finally:
                self.path.pop()
        except _Done as done:
            branch.result, branch.problem = done.result, done.problem
            self._remember(key, branch)
            raise
        branch.result = decision.result
        self._remember(key, branch)
        return decision

    def _remember(self, key: str, branch: Branch) -> None:
        if self.exhaustive and not branch.repeated:
            self.walked.setdefault(key, branch)

    def repeat(self, walked: Branch, branch: Branch) -> Decision:
        """A domain the audit's walk has evaluated before: a receiver would walk
        it again, so its lookups and void lookups count again; its result
        stands as it was."""
        branch.repeated, branch.record = True, walked.record
        self.count(branch.via, branch, walked.cost - (1 if walked.via else 0))
        self.voids += walked.void_cost
        branch.voids += walked.void_cost
        if walked.result in (Result.PERMERROR, Result.TEMPERROR):
            raise _Done(walked.result, walked.problem)
        return Decision(walked.result or Result.NONE, "", walked.record, walked.domain)

    # mechanisms -------------------------------------------------------------

    async def matches(self, mech: Mechanism, domain: str, branch: Branch) -> bool:
        name = mech.name
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            network = ipaddress.ip_network(mech.network, strict=False)
            return self.ip.version == network.version and self.ip in network
        target = absolute(await self.expand_domain(mech.spec, domain)) if mech.spec else domain
        if name == "include":
            child = Branch(target, "include")
            branch.children.append(child)
            self.count(mech.text, child)
            try:
                result = (await self.guarded(target, child)).result
            except _Done as done:
                if self.exhaustive and done.result is Result.PERMERROR and not done.final:
                    if done.problem not in self.problems:
                        self.problems.append(done.problem)
                    return False
                raise
            if result == Result.NONE:
                self._limit(f"include target {target.rstrip('.')} has no SPF record", mech.text)
                return False
            return result == Result.PASS
        if name == "a":
            return await self.address_match(target, mech)
        if name == "mx":
            return await self.mx_match(target, mech)
        if name == "ptr":
            return await self.ptr_match(target, mech)
        if name == "exists":
            answer = await self.query(target, "A", mech.text)
            if not answer.answered:
                raise _Done(Result.TEMPERROR, f"A {target.rstrip('.')}: {answer.describe()}")
            return answer.status is Status.ANSWER
        raise AssertionError(name)

    def family_type(self) -> str:
        return "A" if self.ip.version == 4 else "AAAA"

    async def address_match(self, target: str, mech: Mechanism) -> bool:
        rdtype = self.family_type()
        answer = await self.query(target, rdtype, mech.text)
        if not answer.answered:
            raise _Done(Result.TEMPERROR, f"{rdtype} {target.rstrip('.')}: {answer.describe()}")
        bits = mech.cidr4 if self.ip.version == 4 else mech.cidr6
        return any(self.ip in ipaddress.ip_network(f"{a}/{bits}", strict=False)
                   for a in answer.records)

    async def mx_match(self, target: str, mech: Mechanism) -> bool:
        answer = await self.query(target, "MX", mech.text)
        if not answer.answered:
            raise _Done(Result.TEMPERROR, f"MX {target.rstrip('.')}: {answer.describe()}")
        names = [r.split()[-1] for r in answer.records if r.split()[-1] != "."]
        if len(names) > MAX_MX:
            self._limit(f"more than {MAX_MX} MX names", mech.text)
            names = names[:MAX_MX]
        matched = False
        for name in names:
            if await self.address_match(absolute(name), mech):
                matched = True
                if not self.exhaustive:
                    break
        return matched

    async def ptr_match(self, target: str, mech: Mechanism) -> bool:
        names = await self.validated_names(mech.text)
        wanted = target.rstrip(".").lower()
        return any(n == wanted or n.endswith("." + wanted) for n in names)

    async def validated_names(self, term: str = "") -> list[str]:
        """5.5: PTR names of the client address whose A/AAAA hold the address."""
        answer = await self.query(self.ip.reverse_pointer, "PTR", term)
        if answer.status is not Status.ANSWER:
            return []  # a DNS error makes ptr fail to match, not a temperror
        validated = []
        for name in answer.records[:MAX_PTR]:
            forward = await self.query(absolute(name), self.family_type(), term)
            if forward.status is Status.ANSWER and any(
                    ipaddress.ip_address(a) == self.ip for a in forward.records):
                validated.append(name.rstrip(".").lower())
        return validated

    # macros -----------------------------------------------------------------

    async def expand_domain(self, spec: str, domain: str) -> str:
        expanded = await self.expand(spec, domain)
        labels = expanded.rstrip(".").split(".")
        while len(".".join(labels)) > 253 and len(labels) > 1:  # 7.3: drop from the left
            labels = labels[1:]
        return ".".join(labels)

    async def expand(self, text: str, domain: str, explanation: bool = False) -> str:
        _check_macro_string(text, text, explanation)
        out, i = [], 0
        while i < len(text):
            c = text[i]
            if c != "%":
                out.append(c)
                i += 1
                continue
            nxt = text[i + 1]
            if nxt in "%_-":
                out.append({"%": "%", "_": " ", "-": "%20"}[nxt])
                i += 2
                continue
            match = _MACRO.match(text, i)
            assert match is not None, "checked by _check_macro_string"
            letter, digits, reverse, delimiters = match.groups()
            value = await self.macro_value(letter.lower(), domain)
            parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
            if reverse:
                parts.reverse()
            if digits:
                parts = parts[-_macro_digits(digits):]
            value = ".".join(parts)
            if letter.isupper():
                value = urllib.parse.quote(value, safe="-._~")
            out.append(value)
            i = match.end()
        return "".join(out)

    async def macro_value(self, letter: str, domain: str) -> str:
        if letter == "s":
            return f"{self.local}@{self.sender_domain}"
        if letter == "l":
            return self.local
        if letter == "o":
            return self.sender_domain
        if letter == "d":
            return domain.rstrip(".")
        if letter == "i":
            if self.ip.version == 4:
                return str(self.ip)
            # Upper-case nibbles, as the RFC 7208 test suite expects in explanations;
            # DNS does not mind the case.
            return ".".join(self.ip.exploded.replace(":", "").upper())
        if letter == "p":
            names = await self.validated_names()
            wanted = domain.rstrip(".").lower()
            exact = [n for n in names if n == wanted]
            sub = [n for n in names if n.endswith("." + wanted)]
            return (exact or sub or names or ["unknown"])[0]
        if letter == "v":
            return "in-addr" if self.ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)
        if letter == "r":
            return self.receiver
        if letter == "t":
            return str(int(time.time()))
        raise SpfError(f"unknown macro {letter}")

    async def explanation(self, record: Record, domain: str) -> str:
        """6.2: the exp= text, expanded; any failure gives no explanation."""
        if record.exp is None:
            return ""
        try:
            target = absolute(await self.expand_domain(record.exp, domain))
            answer = await self.resolver.query(target, "TXT")
            if answer.status is not Status.ANSWER or len(answer.records) != 1:
                return ""
            text = answer.records[0]
            if not text.isascii():
                return ""
            return await self.expand(text, domain, explanation=True)
        except (SpfError, _Done):
            return ""


def valid_domain(domain: str) -> bool:
    """4.3: a multi-label name with no label over 63 octets and no empty label."""
    labels = domain[:-1].split(".") if domain.endswith(".") else domain.split(".")
    return len(labels) > 1 and all(0 < len(label) < 64 for label in labels) \
        and not domain.startswith("[")


async def evaluate(resolver: Resolver, ip: str, domain: str, sender: str = "", helo: str = "",
                   *, exhaustive: bool = False, max_voids: int = MAX_VOIDS,
                   receiver: str = "unknown") -> Outcome:
    """check_host(<ip>, <domain>, <sender>) of RFC 7208 section 4."""
    sender = sender or f"postmaster@{domain}"
    if "@" not in sender:
        sender = f"postmaster@{sender}"
    run = _Evaluation(resolver, ip, sender, helo or domain, exhaustive=exhaustive,
                      max_voids=max_voids, receiver=receiver)
    tree = Branch(absolute(domain), "")
    outcome = Outcome(Result.NONE, tree=tree)
    if not valid_domain(domain):
        outcome.problem = "not a valid domain"
    else:
        try:
            decision = await run.guarded(absolute(domain), tree)
            outcome.result, outcome.mechanism = decision.result, decision.term
            record = decision.record
            if decision.result == Result.FAIL and record is not None and record.exp is not None \
                    and not run.exhaustive:
                outcome.explanation = await run.explanation(record, decision.domain)
        except _Done as done:
            outcome.result, outcome.problem = done.result, done.problem
    if run.problems and outcome.result not in (Result.TEMPERROR,):
        outcome.problem = outcome.problem or "; ".join(run.problems)
        if run.exhaustive:
            outcome.result = Result.PERMERROR
    outcome.lookups, outcome.voids, outcome.queries = run.lookups, run.voids, run.queries
    return outcome


def check_host(resolver: Resolver, ip: str, domain: str, sender: str = "",
               helo: str = "", *, max_voids: int = MAX_VOIDS) -> Outcome:
    """Synchronous check_host(), as a receiver runs it."""
    return resolver.run(evaluate(resolver, ip, domain, sender, helo, max_voids=max_voids))


def check_hosts(resolver: Resolver, ips: Sequence[str], domain: str, sender: str = "",
                helo: str = "") -> list[Outcome]:
    """check_host() for several IPs at once."""
    return resolver.run_all(evaluate(resolver, ip, domain, sender, helo) for ip in ips)


# -- the audit --------------------------------------------------------------

AUDIT_IP = "192.0.2.0"  # TEST-NET-1: no real record authorises it


@dataclass
class Audit:
    """A domain's SPF publication as a receiver meets it, for check_spf."""

    domain: str
    txt: Answer  # the TXT lookup: status and TTL
    records: list[str]  # every v=spf1 text at the domain
    spf_rr: bool  # the obsolete type-99 SPF record is published
    syntax: str = ""  # the permerror parsing found, naming the term
    walk: Outcome | None = None  # the exhaustive evaluation: lookups, voids, tree

    @property
    def tree(self) -> Branch | None:
        """The top of the walked include/redirect tree; None when nothing was walked."""
        return self.walk.tree if self.walk else None

    @property
    def record(self) -> Record | None:
        """The one record, parsed; None when there is none, several, or it is broken."""
        return self.tree.record if self.tree else None

    @property
    def ending(self) -> str:
        """The ending that applies, following redirects: "-all", "~all", "?all",
        "+all", or "" when a sender matching nothing gets neutral."""
        branch = self.tree
        while branch is not None and branch.record is not None:
            ending = branch.record.ending
            if not ending.startswith("redirect="):
                return ending
            branch = next((c for c in branch.children if c.via == "redirect"), None)
        return ""

    def terms(self, name: str) -> list[tuple[str, str]]:
        """(domain, term) for every mechanism called ``name`` anywhere in the tree."""
        return [(branch.domain.rstrip("."), m.text)
                for _, branch in (self.tree.walk() if self.tree else ())
                for m in (branch.record.mechanisms if branch.record else ()) if m.name == name]

    @property
    def permerrors(self) -> list[tuple[str, str]]:
        """(where, problem) for each permerror in the tree, once each, at the
        deepest branch it passed through, where it arose: an included record
        that is broken, a loop, a walk too long. (The walk only counts past
        the lookup and void limits; their counts say so.)"""
        found: dict[str, str] = {}
        for _, branch in self.tree.walk() if self.tree else ():
            if branch.result is Result.PERMERROR and branch.problem:
                where = f"{branch.via}:" if branch.via else ""
                found[branch.problem] = where + branch.domain.rstrip(".")
        return [(where, problem) for problem, where in found.items()]

    @property
    def missing_includes(self) -> list[str]:
        """Include targets that publish no SPF record (a permerror for receivers)."""
        return [b.domain.rstrip(".") for _, b in self.tree.walk()
                if b.via == "include" and b.result is Result.NONE] if self.tree else []


def audit(resolver: Resolver, domain: str, *, max_voids: int = MAX_VOIDS) -> Audit:
    """Fetch, parse and walk a domain's SPF record as section 4 would, to the end."""
    import asyncio

    async def run() -> Audit:
        txt, rr = await asyncio.gather(resolver.query(domain, "TXT"),
                                       resolver.query(domain, "SPF"))
        records = [t for t in txt.records if is_spf(t)] if txt.status is Status.ANSWER else []
        found = Audit(absolute(domain), txt, records,
                      rr.status is Status.ANSWER and any(is_spf(t) for t in rr.records))
        if len(records) != 1:
            return found
        try:
            parse(records[0])
        except SpfError as exc:
            found.syntax = f"{exc} in {exc.term!r}" if exc.term else str(exc)
            return found
        found.walk = await evaluate(resolver, AUDIT_IP, domain, exhaustive=True,
                                    max_voids=max_voids)
        return found

    return resolver.run(run())
