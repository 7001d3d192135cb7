#!/usr/bin/env python3
"""The peer a user would pick otherwise: pydnsbl (on the C resolver c-ares),
as a short script, for bench/rbl.py.

    python bench/pydnsbl_peer.py ADDR:PORT ZONES_FILE IP [IP ...]

ZONES_FILE holds one zone a line. One IP is pydnsbl's check(), more are its
bulk_check(). Prints how many addresses are listed.
"""

from __future__ import annotations

import sys

import aiodns
from pydnsbl import DNSBLIpChecker
from pydnsbl.providers import Provider


def main() -> None:
    nameserver, zones_file, *ips = sys.argv[1:]
    with open(zones_file, encoding="utf-8") as handle:
        zones = [line.strip() for line in handle if line.strip()]
    checker = DNSBLIpChecker(providers=[Provider(zone) for zone in zones], timeout=5, tries=2,
                             concurrency=256)
    host, port = nameserver.rsplit(":", 1)
    # pydnsbl asks the system's resolver; point its c-ares channel at ours.
    checker._resolver = aiodns.DNSResolver(nameservers=[host], udp_port=int(port),
                                           tcp_port=int(port), timeout=5, tries=2,
                                           loop=checker._loop)
    results = checker.bulk_check(ips) if len(ips) > 1 else [checker.check(ips[0])]
    print(f"{sum(r.blacklisted for r in results)} of {len(results)} listed")


if __name__ == "__main__":
    main()
