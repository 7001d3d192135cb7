"""The simulated mail domain the demo runs every plugin against.

example.net has two mail servers: mail.example.net (192.0.2.25 and
2001:db8::25) is clean everywhere; mx2.example.net (192.0.2.99) is listed on
two blocklists. Every default blocklist zone also answers its RFC 5782 test
entries, so ``--selftest`` passes. Addresses come from the documentation
ranges (RFC 5737, RFC 3849) and never leave loopback.
"""

from __future__ import annotations

from check_mail import dnsbl
from check_mail.dns import reverse_labels
from check_mail.simulation.dnsserver import ScriptedNameserver

DOMAIN = "example.net"
CLEAN_HOST = "mail.example.net"
LISTED_HOST = "mx2.example.net"
LISTED_ADDRESS = "192.0.2.99"
LISTINGS = {
    "bl.spamcop.net": ("127.0.0.2", "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.99"),
    "psbl.surriel.com": ("127.0.0.2", "Listed in PSBL, see https://psbl.org/listing?ip=192.0.2.99"),
}


def populate(server: ScriptedNameserver) -> None:
    server.add(DOMAIN, "MX", f"10 {CLEAN_HOST}.", f"20 {LISTED_HOST}.")
    server.add(CLEAN_HOST, "A", "192.0.2.25")
    server.add(CLEAN_HOST, "AAAA", "2001:db8::25")
    server.add(LISTED_HOST, "A", LISTED_ADDRESS)
    for zone in dnsbl.load_zones():
        if zone.key:
            continue
        listed, _ = zone.test_entries()
        server.add(zone.query_name(listed), "A", _listing_code(zone))
    for zone, (code, reason) in LISTINGS.items():
        name = f"{reverse_labels(LISTED_ADDRESS)}.{zone}"
        server.add(name, "A", code)
        server.add(name, "TXT", f'"{reason}"')


def _listing_code(zone: dnsbl.Zone) -> str:
    """The lowest code the zone uses for listings and not for errors."""
    for net in zone.listed:
        for address in net:
            if address.packed[-1] >= 2 and not any(address in err for err in zone.errors):
                return str(address)
    raise ValueError(f"zone {zone.name} has no listing code")
