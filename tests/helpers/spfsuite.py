"""Loads the OpenSPF RFC 7208 test suite from ../shared and serves its zone data.

Driver conventions (see ../shared/README.md): an SPF entry is also served as
TXT unless the name has TXT entries of its own, and "TXT: NONE" suppresses
that; TIMEOUT makes every query for the name time out; names not in the zone
data are NXDOMAIN.
"""

from __future__ import annotations

from check_mail.simulation.dnsserver import Fault, ScriptedNameserver
from tests.helpers.plugins import SHARED

SUITE = SHARED / "conformance/spf/rfc7208-tests.yml"


def scenarios() -> list[dict]:
    import yaml

    with open(SUITE, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def txt_rdata(strings) -> str | None:
    """A TXT rdata in zone-file text; each string's characters are octets."""
    if isinstance(strings, str):
        strings = [strings]
    if not strings:
        return None  # a TXT with no strings cannot be written; the suite says so
    parts = []
    for text in strings:
        raw = text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode()
        escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\{b:03d}"
                          for b in raw)
        parts.append(f'"{escaped}"')
    return " ".join(parts)


TYPES = ("A", "AAAA", "MX", "PTR", "TXT", "SPF", "CNAME")


def serve(server: ScriptedNameserver, zonedata: dict) -> None:
    for name, entries in (zonedata or {}).items():
        records = [e for e in entries if isinstance(e, dict)]
        own_txt = any("TXT" in e for e in records)
        if "TIMEOUT" in entries:  # every type the name does not have times out
            present = {t for e in records for t, v in e.items() if v != "NONE"}
            if "SPF" in present and not own_txt:
                present.add("TXT")
            for rdtype in set(TYPES) - present:
                server.fault(name, Fault.TIMEOUT, rdtype)
        for entry in records:
            ((rdtype, value),) = entry.items()
            if rdtype in ("SPF", "TXT"):
                if value == "NONE":
                    continue
                rdata = txt_rdata(value)
                if rdata is None:
                    continue
                server.add(name, rdtype, rdata)
                if rdtype == "SPF" and not own_txt:
                    server.add(name, "TXT", rdata)
            elif rdtype == "MX":
                preference, target = value
                server.add(name, "MX", f"{preference} {target.rstrip('.')}.")
            elif rdtype in ("PTR", "CNAME"):
                server.add(name, rdtype, f"{value.rstrip('.')}.")
            else:
                for rdata in value if isinstance(value, list) else [value]:
                    server.add(name, rdtype, str(rdata))
