"""Receivers' refusals, read from Postfix's deliveries: who refused (the
provider, by the relay host or the recipient's domain) and why (a category,
what it means and where to turn), by the rules of a signature file
(``data/refusals.ini``, documented at its top).
"""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
from collections.abc import Sequence
from typing import NamedTuple

from check_mail.outcome import Word
from check_mail.postfixlog import Delivery

DEFAULT_FILE = os.path.join(os.path.dirname(__file__), "data", "refusals.ini")
FILE_LIMIT = 1 << 20  # octets
# An address the reply names as the sender's: in brackets or parentheses, or
# after "from", "IP" or "address" (Microsoft "[192.0.2.25]", Yahoo "Messages
# from 192.0.2.25", Gmail "[2001:db8::25 12]"); not a bare dotted number such
# as Yahoo's "4.16.55.1" error reference.
_NAMED = re.compile(r"(?:[\[(]|\b(?:from|ip|address)[:=]?\s+)([0-9a-f:.]*[0-9a-f])",
                    re.IGNORECASE)


class Category(Word):
    BLOCKED = "blocked"
    RATE_LIMITED = "rate-limited"
    AUTHENTICATION = "authentication"
    CONTENT = "content"
    RECIPIENT_UNKNOWN = "recipient-unknown"
    MAILBOX_FULL = "mailbox-full"
    OTHER = "other"


BOUNCES = (Category.RECIPIENT_UNKNOWN, Category.MAILBOX_FULL)  # the recipients' fault


class Provider(NamedTuple):
    id: str
    label: str  # "outlook.com"
    hosts: tuple[str, ...]
    domains: tuple[str, ...]
    help: str


class Rule(NamedTuple):
    id: str
    provider: str  # "" for every provider
    category: Category
    pattern: re.Pattern[str]
    meaning: str


class Signatures(NamedTuple):
    providers: tuple[Provider, ...]
    rules: tuple[Rule, ...]


class Refusal(NamedTuple):
    provider: str  # the label ("outlook.com"), or the recipient's domain
    category: Category
    meaning: str
    help: str
    rule: str  # the rule's id, "" when none matched


class SignatureError(ValueError):
    """A signature file that cannot be used."""


def load(path: str = DEFAULT_FILE) -> Signatures:
    from check_mail import files

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(files.read(path, FILE_LIMIT).decode("utf-8"), source=path)
    except (OSError, ValueError, configparser.Error) as exc:
        text = getattr(exc, "strerror", None) or str(exc)
        raise SignatureError(f"cannot read signature file {path}: "
                             f"{text.splitlines()[0] if text else type(exc).__name__}") from None
    providers, rules = [], []
    for section in parser.sections():
        kind, _, name = section.partition(" ")
        entry = dict(parser.items(section))
        if kind == "provider" and name:
            providers.append(Provider(name, entry.get("label", name),
                                      tuple(entry.get("hosts", "").lower().split()),
                                      tuple(entry.get("domains", "").lower().split()),
                                      entry.get("help", "")))
        elif kind == "rule" and name:
            try:
                category = Category(entry.get("category", ""))
                pattern = re.compile(entry["match"], re.IGNORECASE)
            except (ValueError, KeyError, re.error) as exc:
                raise SignatureError(f"signature file {path}, [{section}]: {exc}") from None
            rules.append(Rule(name, entry.get("provider", ""), category, pattern,
                              entry.get("meaning", "")))
        else:
            raise SignatureError(f"signature file {path}: [{section}] is neither "
                                 "[provider NAME] nor [rule NAME]")
    known = {p.id for p in providers}
    for rule in rules:
        if rule.provider and rule.provider not in known:
            raise SignatureError(f"signature file {path}, [rule {rule.id}]: no provider "
                                 f"{rule.provider}")
    return Signatures(tuple(providers), tuple(rules))


def provider_of(delivery: Delivery, providers: Sequence[Provider]) -> Provider | None:
    """By the MX the delivery went to, else by the recipient's domain."""
    host = delivery.relay_host
    for provider in providers:
        if any(fnmatch.fnmatchcase(host, pattern) for pattern in provider.hosts):
            return provider
    domain = delivery.domain
    for provider in providers:
        if any(fnmatch.fnmatchcase(domain, pattern) for pattern in provider.domains):
            return provider
    return None


def classify(delivery: Delivery, signatures: Signatures) -> Refusal:
    """What a deferred or bounced delivery says about us."""
    provider = provider_of(delivery, signatures.providers)
    text = f"{delivery.dsn} {delivery.reply}"
    ours = [r for r in signatures.rules if provider and r.provider == provider.id]
    label = provider.label if provider else delivery.domain or delivery.relay_host
    help_page = provider.help if provider else ""
    for rule in (*ours, *(r for r in signatures.rules if not r.provider)):
        if rule.pattern.search(text):
            return Refusal(label, rule.category, rule.meaning, help_page, rule.id)
    return Refusal(label, Category.OTHER, "", help_page, "")


def our_addresses(delivery: Delivery) -> list[str]:
    """The addresses a reply names besides the receiver's own: usually the
    address we sent from, which the receiver refuses."""
    import ipaddress

    theirs = delivery.relay.partition("[")[2].partition("]")[0]
    out = []
    for text in dict.fromkeys(_NAMED.findall(delivery.reply)):
        try:
            address = str(ipaddress.ip_address(text))
        except ValueError:
            continue
        if address != theirs:
            out.append(address)
    return out
