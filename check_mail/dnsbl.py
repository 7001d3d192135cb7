"""DNS blocklist semantics (RFC 5782): zones, answer codes, self-tests.

A lookup of an address or domain in one zone ends as exactly one
:class:`Verdict`. Only answers inside 127.0.0.0/8 can mean "listed": any other
answer comes from a hijacking resolver or a parked zone and makes the lookup
an error, as do the zone's own error codes (Spamhaus answers 127.255.255.254
to queries from public resolvers, for instance).
"""

from __future__ import annotations

import configparser
import enum
import functools
import ipaddress
import os
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from check_mail.dns import (
    Answer,
    Nameserver,
    Resolver,
    Status,
    absolute,
    reverse_labels,
    valid_name,
)
from check_mail.outcome import Word

# os.path, not pathlib: pathlib and what it imports cost a check_rbl run 3 ms.
DEFAULT_ZONES_FILE = os.path.join(os.path.dirname(__file__), "data", "dnsbl-zones.ini")
ZONES_FILE_LIMIT = 1 << 20  # octets: a thousand zones take a tenth of this
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
Network = ipaddress.IPv4Network



class Family(Word):
    """What a zone lists, and what an item is: the words of the zones file."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"


# Codes used by Spamhaus and copied by others; a zone known to us may say more.
COMMON_ERRORS = "127.255.255.252 127.255.255.254 127.255.255.255"

# Resolvers that blocklists refuse or rate-limit (Spamhaus answers 127.255.255.254).
PUBLIC_RESOLVERS = {
    "8.8.8.8": "Google", "8.8.4.4": "Google",
    "2001:4860:4860::8888": "Google", "2001:4860:4860::8844": "Google",
    "1.1.1.1": "Cloudflare", "1.0.0.1": "Cloudflare",
    "2606:4700:4700::1111": "Cloudflare", "2606:4700:4700::1001": "Cloudflare",
    "9.9.9.9": "Quad9", "149.112.112.112": "Quad9", "2620:fe::fe": "Quad9", "2620:fe::9": "Quad9",
    "208.67.222.222": "OpenDNS", "208.67.220.220": "OpenDNS",
    "2620:119:35::35": "OpenDNS", "2620:119:53::53": "OpenDNS",
    "94.140.14.14": "AdGuard", "94.140.15.15": "AdGuard",
    "76.76.2.0": "Control D", "76.76.10.0": "Control D",
    "185.228.168.9": "CleanBrowsing", "64.6.64.6": "Verisign", "4.2.2.1": "Level3",
    "4.2.2.2": "Level3",
}


class Verdict(str, enum.Enum):
    LISTED = "listed"
    CLEAN = "clean"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class ZoneError(ValueError):
    """A zone name, zones file or key that cannot be used."""


class Zone(NamedTuple):
    """One blocklist and how to read its answers.

    (This module's records are NamedTuples: every check_rbl run builds them,
    and dataclasses cost that run some milliseconds to define.)"""

    name: str  # as shown; a keyed zone keeps "{key}" here so no output shows the secret
    families: frozenset[Family] = frozenset((Family.IPV4, Family.IPV6))
    listed: tuple[Network, ...] = (Network("127.0.0.0/8"),)
    errors: tuple[Network, ...] = ()
    labels: tuple[tuple[Network, str], ...] = ()
    delist: str = ""
    key: str = ""  # name of the key the zone needs; its name holds "{key}"
    replaces: tuple[str, ...] = ()  # zones this one supersedes once keyed
    test_listed: str = ""
    test_clean: str = ""
    secret: str = ""

    def serves(self, item: str) -> bool:
        return family(item) in self.families

    def query_name(self, item: str) -> str:
        prefix = item.rstrip(".") if family(item) == Family.DOMAIN else reverse_labels(item)
        return absolute(f"{prefix}.{self.name.replace('{key}', self.secret)}")

    def label(self, code: str) -> str:
        address = ipaddress.ip_address(code)
        return next((text for net, text in self.labels if address in net), "")

    def test_entries(self) -> tuple[str, str]:
        """RFC 5782 section 5: what must be listed, and what must not."""
        if self.test_listed and self.test_clean:
            return self.test_listed, self.test_clean
        if Family.DOMAIN in self.families:
            return "test", "invalid"
        if Family.IPV4 in self.families:
            return "127.0.0.2", "127.0.0.1"
        return "::ffff:7f00:2", "::ffff:7f00:1"


class Lookup(NamedTuple):
    """One item (address or domain) looked up in one zone."""

    item: str
    zone: str
    verdict: Verdict
    codes: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()
    reason: str = ""  # the zone's TXT when listed, the failure when an error
    problem: str = ""  # see Reading.problem
    elapsed: float = 0.0


class ZoneOutcome(NamedTuple):
    """A zone's verdict over all items: listed beats error beats clean."""

    zone: Zone
    verdict: Verdict
    lookups: tuple[Lookup, ...]
    usable: bool = True
    selftest: str = ""  # why the self-test failed


class Report(NamedTuple):
    items: tuple[str, ...]
    zones: tuple[ZoneOutcome, ...]
    queries: int = 0

    @property
    def usable(self) -> list[ZoneOutcome]:
        return [z for z in self.zones if z.usable]

    @property
    def unusable(self) -> list[ZoneOutcome]:
        return [z for z in self.zones if not z.usable]

    def with_verdict(self, verdict: Verdict) -> list[ZoneOutcome]:
        return [z for z in self.usable if z.verdict is verdict]

    def listings(self) -> dict[str, list[Lookup]]:
        """Each listed item and its listings, items in their order (usable zones)."""
        found: dict[str, list[Lookup]] = {}
        for outcome in self.with_verdict(Verdict.LISTED):
            for lk in outcome.lookups:
                if lk.verdict is Verdict.LISTED:
                    found.setdefault(lk.item, []).append(lk)
        return {item: found[item] for item in self.items if item in found}

    @property
    def listed_items(self) -> list[str]:
        listed = {lk.item for z in self.with_verdict(Verdict.LISTED) for lk in z.lookups
                  if lk.verdict is Verdict.LISTED}
        return [item for item in self.items if item in listed]


@functools.lru_cache(maxsize=8192)
def family(item: str) -> Family:
    try:
        return Family.IPV4 if ipaddress.ip_address(item).version == 4 else Family.IPV6
    except ValueError:
        return Family.DOMAIN


class Reading(NamedTuple):
    """What one A answer of a zone says."""

    verdict: Verdict
    problem: str = ""  # an error in a few words, the same for like errors, for counting
    reason: str = ""  # the error, or an odd clean answer, in full


def classify(zone: Zone, answer: Answer) -> Reading:
    if answer.status in (Status.NXDOMAIN, Status.NODATA):
        return Reading(Verdict.CLEAN)
    if answer.status is not Status.ANSWER:
        return Reading(Verdict.ERROR, str(answer.status), answer.describe())
    codes = [ipaddress.ip_address(code) for code in answer.records]
    foreign = [str(c) for c in codes if c.version != 4 or c not in LOOPBACK]
    if foreign:
        return Reading(Verdict.ERROR, "answer outside 127.0.0.0/8",
                       f"answer {', '.join(foreign)} is outside 127.0.0.0/8 "
                       "(hijacking resolver or parked zone)")
    failed = [c for c in codes if any(c in net for net in zone.errors)]
    if failed:
        meaning = ", ".join(zone.label(str(c)) or str(c) for c in failed)
        return Reading(Verdict.ERROR, f"refused: {meaning}", f"zone refused the query: {meaning}")
    if any(c in net for c in codes for net in zone.listed):
        return Reading(Verdict.LISTED)
    odd = ", ".join(answer.records)
    return Reading(Verdict.CLEAN, reason=f"answer {odd} is not a listing code")


async def lookup(resolver: Resolver, zone: Zone, item: str) -> Lookup:
    name = zone.query_name(item)
    answer = await resolver.query(name, "A")
    reading = classify(zone, answer)
    reason = reading.reason
    codes = tuple(sorted(answer.records, key=ipaddress.ip_address)) \
        if answer.status is Status.ANSWER else ()
    if reading.verdict is Verdict.LISTED:  # only then is the reason worth a query
        txt = await resolver.query(name, "TXT")
        reason = " / ".join(txt.records) if txt.status is Status.ANSWER else ""
    meanings = tuple(zone.label(code) for code in codes) if reading.verdict is Verdict.LISTED \
        else ()
    return Lookup(item, zone.name, reading.verdict, codes, tuple(m for m in meanings if m),
                  reason, reading.problem, answer.elapsed)


async def selftest(resolver: Resolver, zone: Zone) -> str:
    """Why the zone fails its RFC 5782 test entries, or "" when it passes.

    A zone that lists everything, or nothing any more, is dead; a test query
    that merely fails says nothing about the zone and is not held against it.
    """
    listed, clean = zone.test_entries()
    must, must_not = await _gather(lookup(resolver, zone, listed), lookup(resolver, zone, clean))
    if must.verdict is Verdict.CLEAN:
        return f"test entry {listed} is not listed (dead zone?)"
    if must_not.verdict is Verdict.LISTED:
        return f"test entry {clean} is listed (zone lists everything)"
    return ""


async def _gather(*work):
    import asyncio

    return await asyncio.gather(*work)


def check(resolver: Resolver, items: Sequence[str], zones: Sequence[Zone], *,
          with_selftest: bool = False) -> Report:
    """Look every item up in every zone that serves its family, all at once."""

    async def every_lookup() -> list[list[Lookup]]:
        """As many workers as queries may be in flight, each taking the next
        lookup: a range's thousands of lookups never all wait at once."""
        jobs = iter([(z, i) for z, zone in enumerate(zones) for i, item in enumerate(items)
                     if zone.serves(item)])
        found: list[dict[int, Lookup]] = [{} for _ in zones]

        async def worker() -> None:
            for z, i in jobs:  # one iterator for all: each job is taken once
                found[z][i] = await lookup(resolver, zones[z], items[i])

        await _gather(*(worker() for _ in range(max(1, min(resolver.max_in_flight,
                                                           len(zones) * len(items))))))
        return [[by_item[i] for i in sorted(by_item)] for by_item in found]

    async def run() -> tuple[list[list[Lookup]], list[str]]:
        lookups = every_lookup()
        tests = _gather(*(selftest(resolver, zone) for zone in zones)) if with_selftest else None
        if tests is None:
            return await lookups, [""] * len(zones)
        return await _gather(lookups, tests)

    per_zone, failures = resolver.run(run())
    outcomes = []
    for zone, lookups, failure in zip(zones, per_zone, failures):
        if not lookups:
            continue
        verdicts = {lk.verdict for lk in lookups}
        verdict = next(v for v in (Verdict.LISTED, Verdict.ERROR, Verdict.CLEAN) if v in verdicts)
        outcomes.append(ZoneOutcome(zone, verdict, tuple(lookups), not failure, failure))
    return Report(tuple(items), tuple(outcomes), resolver.queries)


def public_resolvers(nameservers: Iterable[Nameserver]) -> list[str]:
    """The nameservers in use that blocklists are known to refuse."""
    return [f"{ns.address} ({PUBLIC_RESOLVERS[ns.address]})" for ns in nameservers
            if ns.address in PUBLIC_RESOLVERS]


# -- zones -----------------------------------------------------------------


def valid_zone_name(name: str) -> bool:
    """At least two labels; "{key}" stands for a key given at run time."""
    return "." in name.strip(".") and valid_name(name.replace("{key}", "key"))


def load_zones(path: str | os.PathLike[str] = DEFAULT_ZONES_FILE) -> list[Zone]:
    """Read a zones file (INI; see the shipped data/dnsbl-zones.ini)."""
    from check_mail import files

    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    try:
        parser.read_string(files.read(str(path), ZONES_FILE_LIMIT).decode("utf-8"),
                           source=str(path))
    except (OSError, ValueError, configparser.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise ZoneError(f"cannot read zones file {path}: {_first_line(exc)}") from None
    zones = []
    for name in parser.sections():
        try:
            zones.append(_zone(name, dict(parser.items(name))))
        except ValueError as exc:
            raise ZoneError(f"zones file {path}, [{name}]: {exc}") from None
    if not zones:
        raise ZoneError(f"zones file {path} defines no zones")
    return zones


def _first_line(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _zone(name: str, entry: dict[str, str]) -> Zone:
    name = name.strip().lower().rstrip(".")
    if not valid_zone_name(name):
        raise ValueError("not a valid zone name")
    words = entry.get("families", "ipv4 ipv6").replace(",", " ").split()
    if not words or not set(words) <= {str(f) for f in Family}:
        raise ValueError(f"families must be among {', '.join(str(f) for f in Family)}")
    families = frozenset(Family(word) for word in words)
    key = entry.get("key", "").strip()
    if key and "{key}" not in name:
        raise ValueError("a zone with a key must hold {key} in its name")
    return Zone(
        name=name,
        families=families,
        listed=_codes(entry.get("listed", "127.0.0.0/8")),
        errors=_codes(entry.get("errors", COMMON_ERRORS)),
        labels=tuple(_labels(entry.get("labels", ""))),
        delist=entry.get("delist", "").strip(),
        key=key,
        replaces=tuple(entry.get("replaces", "").split()),
        test_listed=entry.get("test-listed", "").strip(),
        test_clean=entry.get("test-clean", "").strip(),
    )


@functools.cache
def _codes(text: str) -> tuple[Network, ...]:
    """``127.0.0.2 127.0.0.4-127.0.0.7 127.0.1.0/24`` as networks (most zones share
    the same few texts, so each is parsed once)."""
    networks: list[Network] = []
    for word in text.replace(",", " ").split():
        try:
            if "-" in word:
                first, last = (ipaddress.IPv4Address(p) for p in word.split("-", 1))
                networks.extend(ipaddress.summarize_address_range(first, last))
            else:
                networks.append(Network(word))
        except ValueError as exc:
            raise ValueError(f"bad answer code {word!r}: {exc}") from None
    return tuple(networks)


def _labels(text: str) -> list[tuple[Network, str]]:
    """``127.0.0.2 SBL, 127.0.0.4-127.0.0.7 XBL`` as (network, meaning) pairs."""
    pairs: list[tuple[Network, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        codes, _, meaning = part.partition(" ")
        pairs.extend((net, meaning.strip()) for net in _codes(codes))
    return pairs


def zone_for(name: str, known: Iterable[Zone]) -> Zone:
    """The zone for ``-s NAME``: the known entry if there is one, else defaults."""
    name = name.strip().lower().rstrip(".")
    for zone in known:
        if zone.name == name:
            return zone
    if not valid_zone_name(name) or "{" in name:
        raise ZoneError(f"invalid zone {name!r}")
    return Zone(name=name, errors=_codes(COMMON_ERRORS))


class ZoneSelection(NamedTuple):
    """The zones to ask, and the keyed ones left out for want of a key."""

    zones: list[Zone]
    skipped: list[Zone]


def select(zones: Sequence[Zone], keys: dict[str, str]) -> ZoneSelection:
    """Fill in keys; drop keyed zones without one, and what keyed ones replace."""
    unknown = set(keys) - {z.key for z in zones if z.key}
    if unknown:
        raise ZoneError(f"no zone takes the key {', '.join(sorted(unknown))!r}")
    chosen, skipped = [], []
    for zone in zones:
        if not zone.key:
            chosen.append(zone)
        elif zone.key in keys:
            if not valid_name(keys[zone.key]) or "." in keys[zone.key]:
                raise ZoneError(f"the key for {zone.key} is not a valid DNS label")
            chosen.append(zone._replace(secret=keys[zone.key]))
        else:
            skipped.append(zone)
    superseded = {name for zone in chosen for name in zone.replaces}
    return ZoneSelection([z for z in chosen if z.name not in superseded], skipped)
