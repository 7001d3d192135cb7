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

The SPF record authorises the MX and, through an include, both relays.

Every default blocklist zone also answers its RFC 5782 test entries, so
``--selftest`` passes. The other addresses come from the documentation ranges
(RFC 5737, RFC 3849); nothing leaves loopback.
"""

from __future__ import annotations

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


ROLE_MAILBOXES = ("postmaster", "hostmaster", "abuse")


def smtp_behaviour() -> Behaviour:
    """How smtp.example.net answers SMTP."""
    return Behaviour(name=SMTP_HOST, mailboxes={m: "250 2.1.5 Ok" for m in ROLE_MAILBOXES})


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
