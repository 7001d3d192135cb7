"""The simulated mail domain the demo runs every plugin against.

example.net has three mail servers:

- mail.example.net (192.0.2.25 and 2001:db8::25), an outgoing relay, is
  clean on every blocklist and has forward-confirmed reverse DNS;
- mx2.example.net (192.0.2.99), another relay, is listed on two blocklists,
  and its PTR is a generic ISP name;
- smtp.example.net (127.0.0.1), the domain's only MX, really answers SMTP: a
  scripted server on loopback, which announces the same name as its PTR and
  accepts postmaster, hostmaster and abuse. Nothing is ever sent to the
  relays' addresses; only the DNS knows them.

The SPF record authorises the MX and, through an include, both relays. Two
DKIM keys (RSA 2048 and ed25519), made afresh for each run, are published, and
signed_message() is mail signed with both.

Every default blocklist zone also answers its RFC 5782 test entries, so
``--selftest`` passes. The other addresses come from the documentation ranges
(RFC 5737, RFC 3849); nothing leaves loopback.
"""

from __future__ import annotations

import base64
import functools
import ipaddress

from check_mail import dnsbl
from check_mail.dns import reverse_labels
from check_mail.simulation.dnsserver import ScriptedNameserver
from check_mail.simulation.smtpserver import Behaviour

DOMAIN = "example.net"
CLEAN_HOST = "mail.example.net"
LISTED_HOST = "mx2.example.net"
LISTED_ADDRESS = "192.0.2.99"
GENERIC_PTR = "99.2.0.192.dsl.isp.example"
SMTP_HOST = "smtp.example.net"
SMTP_ADDRESS = "127.0.0.1"
LISTINGS = {
    "bl.spamcop.net": ("127.0.0.2", "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.99"),
    "psbl.surriel.com": ("127.0.0.2", "Listed in PSBL, see https://psbl.org/listing?ip=192.0.2.99"),
}
HOSTS = {  # name -> addresses, each with a PTR back to the name unless listed below
    CLEAN_HOST: ("192.0.2.25", "2001:db8::25"),
    LISTED_HOST: (LISTED_ADDRESS,),
    SMTP_HOST: (SMTP_ADDRESS,),
}
PTRS = {LISTED_ADDRESS: GENERIC_PTR}
# The mail leaves through the two relays; the MX sends its own bounces.
SPF = {
    DOMAIN: "v=spf1 mx include:_spf.example.net -all",
    "_spf.example.net": "v=spf1 a:mail.example.net ip4:192.0.2.99 ~all",
}
OUTSIDER = "203.0.113.5"  # an address the record does not authorise
DKIM_SELECTORS = ("rsa2026", "ed2026")
MESSAGE = (b"From: Joe <joe@example.net>\r\nTo: Suzie <suzie@example.com>\r\n"
           b"Subject: Is dinner ready?\r\nDate: Fri, 27 Nov 2026 19:00:00 +0000\r\n"
           b"Message-ID: <demo@example.net>\r\n\r\nHi.\r\n\r\nWe lost the game.\r\n")


ROLE_MAILBOXES = ("postmaster", "hostmaster", "abuse")


def smtp_behaviour() -> Behaviour:
    """How smtp.example.net answers SMTP."""
    return Behaviour(name=SMTP_HOST, mailboxes={m: "250 2.1.5 Ok" for m in ROLE_MAILBOXES})


@functools.cache
def dkim_keys() -> dict:
    """The domain's signing keys, made afresh for each demo run."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    return {"rsa2026": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ed2026": ed25519.Ed25519PrivateKey.generate()}


def signed_message() -> bytes:
    """Mail as smtp.example.net sends it: signed with both selectors."""
    from check_mail.simulation.dkimsigner import sign

    message = MESSAGE
    for selector, key in dkim_keys().items():
        message = sign(message, DOMAIN, selector, key)
    return message


def _key_record(key) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        kind = "ed25519"
    else:
        raw = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        kind = "rsa"
    text = f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode()}"
    return " ".join(f'"{text[i:i + 250]}"' for i in range(0, len(text), 250))


def populate(server: ScriptedNameserver) -> None:
    server.add(DOMAIN, "MX", f"10 {SMTP_HOST}.")
    for host, addresses in HOSTS.items():
        for address in addresses:
            rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
            server.add(host, rdtype, address)
            ptr = PTRS.get(address, host)
            server.add(ipaddress.ip_address(address).reverse_pointer, "PTR", f"{ptr}.")
            if ptr != host:
                server.add(ptr, rdtype, address)
    for name, record in SPF.items():
        server.add(name, "TXT", f'"{record}"', ttl=3600)
    for selector, key in dkim_keys().items():
        server.add(f"{selector}._domainkey.{DOMAIN}", "TXT", _key_record(key), ttl=3600)
    for zone in dnsbl.load_zones():
        if zone.key:
            continue
        listed, _ = zone.test_entries()
        server.add(zone.query_name(listed), "A", _listing_code(zone))
    for zone_name, (code, reason) in LISTINGS.items():
        name = f"{reverse_labels(LISTED_ADDRESS)}.{zone_name}"
        server.add(name, "A", code)
        server.add(name, "TXT", f'"{reason}"')


def _listing_code(zone: dnsbl.Zone) -> str:
    """The lowest code the zone uses for listings and not for errors."""
    for net in zone.listed:
        for address in net:
            if address.packed[-1] >= 2 and not any(address in err for err in zone.errors):
                return str(address)
    raise ValueError(f"zone {zone.name} has no listing code")
