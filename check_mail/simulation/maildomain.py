"""The simulated mail domain the demo, the README's examples and the tests run
against: a scripted nameserver, two scripted SMTP servers and an HTTPS
server (MTA-STS policies) on loopback.

example.net, the domain:

- mail.example.net (192.0.2.25 and 2001:db8::25), an outgoing relay, is
  clean on every blocklist and has forward-confirmed reverse DNS;
- mx2.example.net (192.0.2.99), another relay, is listed on two blocklists,
  and its PTR is a generic ISP name;
- smtp.example.net (127.0.0.1), the domain's only MX and its smarthost,
  really answers SMTP: it announces the same name as its PTR, accepts
  postmaster, hostmaster and abuse, offers STARTTLS with a certificate from
  a test CA, and relays only for a user who logs in (monitor@example.net,
  whose password is written beside the signed mail);
- relay.example.net (127.0.0.3), an old smarthost, answers SMTP on the same
  port, but greets as localhost.localdomain and relays for anyone: an open
  relay.

Nothing is ever sent to the documentation addresses (RFC 5737, RFC 3849);
only the DNS knows them. The SPF record authorises the MX and, through an
include, both relays. Three DKIM keys (RSA 2048, ed25519 and a weak RSA
1024), made afresh for each run, are published, and signed mail is written
beside the private key files.

Cases the README shows, each kept here so that every example can be run:

- 192.0.2.24 has no PTR; 192.0.2.26's PTR (old.example.net) resolves to
  another address; 192.0.2.27's PTR lookup fails (SERVFAIL);
- lame.example.net (192.0.2.98): zen.spamhaus.org never answers for it;
- a provider's range, 192.0.2.100/30: 192.0.2.101 is listed on SpamCop;
  networks.txt lists the range, mail.example.net and 192.0.2.99;
- lookups.example.net: an SPF record that needs 10 DNS lookups;
- broken.example.net (MX smtp.example.net) has postmaster, but no
  hostmaster, and abuse@ is greylisted for good; catchall.example.net (MX
  relay.example.net) accepts anything; parked.example.net has a null MX.
- DMARC: example.net rejects; broken.example.net has p=none and reports
  to a destination that does not authorise them; catchall.example.net has
  no record. esp.example, a newsletter service, sends example.net's
  newsletter from 198.51.100.20 (out.esp.example) under its own DKIM
  d= and bounce domain: it fails DMARC.
- Transport security: the nameserver answers for example.net as a
  validating resolver would (the AD bit), and smtp.example.net has TLSA
  records (DANE-EE and DANE-TA) at ``_<port>._tcp``. example.net publishes
  an MTA-STS policy in mode enforce, served over HTTPS by mta-sts.example.net
  (127.0.0.1, the HTTPS port) with a certificate of the test CA, and a
  TLS-RPT record. broken.example.net's policy still names an MX it no
  longer has, and it has no TLS-RPT record; catchall.example.net's MX
  offers no STARTTLS.
- The mail log: mail.log, beside the signed mail, is a day of
  mail.example.net's Postfix log ending when the domain started (see
  check_mail.simulation.postfixlog.demo_log: a stolen password, a busy web
  form, Microsoft blocking 192.0.2.25, Gmail and Yahoo deferring), and the
  postqueue script beside it shows the deferred mail that goes with it.

Other domains (example.com, example.org) are foreign to every server here.

Every default blocklist zone also answers its RFC 5782 test entries, so
``--selftest`` passes.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from check_mail import dnsbl
from check_mail.dns import reverse_labels
from check_mail.simulation import postfixlog
from check_mail.simulation.background import BackgroundServer
from check_mail.simulation.dnsserver import Fault, ScriptedNameserver
from check_mail.simulation.smtpserver import Behaviour, ScriptedSmtpServer

if TYPE_CHECKING:
    import ssl

DOMAIN = "example.net"
CLEAN_HOST = "mail.example.net"
LISTED_HOST = "mx2.example.net"
LISTED_ADDRESS = "192.0.2.99"
GENERIC_PTR = "99.2.0.192.dsl.isp.example"
SMTP_HOST = "smtp.example.net"
SMTP_ADDRESS = "127.0.0.1"
RELAY_HOST = "relay.example.net"
RELAY_ADDRESS = "127.0.0.3"  # not .2: that is every blocklist's RFC 5782 test entry
LAME_HOST, LAME_ADDRESS = "lame.example.net", "192.0.2.98"
NO_PTR, WRONG_PTR, FAILING_PTR = "192.0.2.24", "192.0.2.26", "192.0.2.27"
ESP, ESP_ADDRESS, ESP_HOST = "esp.example", "198.51.100.20", "out.esp.example"
ESP_SELECTOR, ESP_BOUNCE = "esp2026", "bounce@bounce.esp.example"
LISTINGS = {
    "bl.spamcop.net": ("127.0.0.2", "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.99"),
    "psbl.surriel.com": ("127.0.0.2", "Listed in PSBL, see https://psbl.org/listing?ip=192.0.2.99"),
}
# A customer's address in the provider range 192.0.2.100/30, listed on one zone.
CUSTOMER_LISTED, CUSTOMER_ZONE = "192.0.2.101", "bl.spamcop.net"
NETWORKS_FILE = """\
# networks.txt: what a provider watches, one address, network or host a line
192.0.2.100/30      # customers
mail.example.net    # our own relay
192.0.2.99          # the old relay
"""
HOSTS = {  # name -> addresses, each with a PTR back to the name unless listed below
    ESP_HOST: (ESP_ADDRESS,),
    CLEAN_HOST: ("192.0.2.25", "2001:db8::25"),
    LISTED_HOST: (LISTED_ADDRESS,),
    SMTP_HOST: (SMTP_ADDRESS,),
    RELAY_HOST: (RELAY_ADDRESS,),
    LAME_HOST: (LAME_ADDRESS,),
    "old.example.net": (LISTED_ADDRESS,),
}
PTRS = {LISTED_ADDRESS: GENERIC_PTR, WRONG_PTR: "old.example.net"}
BROKEN, CATCH_ALL = "broken.example.net", "catchall.example.net"
MX = {DOMAIN: SMTP_HOST, BROKEN: SMTP_HOST, CATCH_ALL: RELAY_HOST, "parked.example.net": "."}
RELAY_USER = "monitor@example.net"
# The mail leaves through the two relays; the MX sends its own bounces.
SPF = {
    DOMAIN: "v=spf1 mx include:_spf.example.net -all",
    "_spf.example.net": "v=spf1 a:mail.example.net ip4:192.0.2.99 ~all",
    "lookups.example.net": "v=spf1 " + " ".join(f"include:i{i}.example.net" for i in range(4))
                           + " -all",
    "bounce.esp.example": f"v=spf1 ip4:{ESP_ADDRESS} -all",
    **{f"i{i}.example.net": "v=spf1 " + "a " * i + "-all" for i in range(4)},
}
OUTSIDER = "203.0.113.5"  # an address the record does not authorise
STS_POLICIES = {  # MTA-STS: domain -> policy (RFC 8461 3.2)
    DOMAIN: f"version: STSv1\nmode: enforce\nmx: {SMTP_HOST}\nmax_age: 604800\n",
    BROKEN: "version: STSv1\nmode: enforce\nmx: mail.broken.example.net\nmax_age: 86400\n",
}
TLSRPT = {DOMAIN: "v=TLSRPTv1; rua=mailto:tlsrpt@example.net"}
DMARC = {
    DOMAIN: "v=DMARC1; p=reject; rua=mailto:dmarc@example.net",
    BROKEN: "v=DMARC1; p=none; rua=mailto:reports@dmarc.example.com",
}
DKIM_SELECTORS = ("rsa2026", "ed2026")
WEAK_SELECTOR = "weak2026"
MESSAGE = (b"From: Joe <joe@example.net>\r\nTo: Suzie <suzie@example.com>\r\n"
           b"Subject: Is dinner ready?\r\nDate: Fri, 27 Nov 2026 19:00:00 +0000\r\n"
           b"Message-ID: <demo@example.net>\r\n\r\nHi.\r\n\r\nWe lost the game.\r\n")
ROLE_MAILBOXES = ("postmaster", "hostmaster", "abuse")
OK = "250 2.1.5 Ok"


def smtp_behaviour(tls: ssl.SSLContext | None = None, password: str = "") -> Behaviour:
    """How smtp.example.net answers SMTP: every role mailbox of example.net;
    of broken.example.net postmaster only, with abuse greylisted for good;
    relaying only for RELAY_USER, logged in with ``password`` over TLS."""
    return Behaviour(name=SMTP_HOST,
                     mailboxes={**{f"{m}@{DOMAIN}": OK for m in ROLE_MAILBOXES},
                                f"postmaster@{BROKEN}": OK, f"abuse@{BROKEN}": OK},
                     greylist={f"abuse@{BROKEN}": 1_000_000}, tls=tls,
                     local_domains=(DOMAIN, BROKEN),
                     users={RELAY_USER: password} if password else {})


def relay_behaviour() -> Behaviour:
    """How relay.example.net answers SMTP: misnamed, and taking anything."""
    return Behaviour(name="localhost.localdomain", unknown_rcpt=OK)


@functools.cache
def dkim_keys() -> dict[str, Any]:
    """The domain's signing keys, made afresh for each run."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    return {"rsa2026": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ed2026": ed25519.Ed25519PrivateKey.generate(),
            WEAK_SELECTOR: rsa.generate_private_key(public_exponent=65537, key_size=1024),
            ESP_SELECTOR: ed25519.Ed25519PrivateKey.generate()}  # esp.example's


def signed_message() -> bytes:
    """Mail as smtp.example.net sends it: signed with both good selectors."""
    from check_mail.simulation.dkimsigner import sign

    message = MESSAGE
    for selector in DKIM_SELECTORS:
        message = sign(message, DOMAIN, selector, dkim_keys()[selector])
    return message


NEWSLETTER = (b"From: Example News <news@example.net>\r\nTo: Suzie <suzie@example.com>\r\n"
              b"Subject: Our November news\r\nDate: Sat, 28 Nov 2026 09:00:00 +0000\r\n"
              b"Message-ID: <news-2026-11@esp.example>\r\n"
              b"List-Unsubscribe: <https://esp.example/u/42>\r\n"
              b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n"
              b"Hello!\r\n")


def newsletter() -> bytes:
    """example.net's newsletter as esp.example sends it: its own DKIM d=,
    its own bounce address. Nothing aligns with example.net."""
    from check_mail.simulation.dkimsigner import sign

    signed = sign(NEWSLETTER, ESP, ESP_SELECTOR, dkim_keys()[ESP_SELECTOR],
                  ("from", "to", "subject", "date", "list-unsubscribe", "list-unsubscribe-post"))
    return f"Return-Path: <{ESP_BOUNCE}>\r\n".encode() + signed


def _key_record(key: Any) -> str:
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
    for domain, exchanger in MX.items():
        server.add(domain, "MX", "0 ." if exchanger == "." else f"10 {exchanger}.")
    for host, addresses in HOSTS.items():
        for address in addresses:
            rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
            server.add(host, rdtype, address)
            if host != "old.example.net":
                ptr = PTRS.get(address, host)
                server.add(ipaddress.ip_address(address).reverse_pointer, "PTR", f"{ptr}.")
                if ptr != host:
                    server.add(ptr, rdtype, address)
    server.add(ipaddress.ip_address(WRONG_PTR).reverse_pointer, "PTR", "old.example.net.")
    server.fault(ipaddress.ip_address(FAILING_PTR).reverse_pointer, Fault.SERVFAIL)
    server.fault(f"{reverse_labels(LAME_ADDRESS)}.zen.spamhaus.org", Fault.TIMEOUT)
    for name, record in SPF.items():
        server.add(name, "TXT", f'"{record}"', ttl=3600)
    for i in range(4):
        server.add(f"i{i}.example.net", "A", "198.51.100.7")
    for selector, key in dkim_keys().items():
        owner = ESP if selector == ESP_SELECTOR else DOMAIN
        server.add(f"{selector}._domainkey.{owner}", "TXT", _key_record(key), ttl=3600)
    for domain, record in DMARC.items():
        server.add(f"_dmarc.{domain}", "TXT", f'"{record}"', ttl=3600)
    server.validate(DOMAIN)
    for domain in STS_POLICIES:
        server.add(f"_mta-sts.{domain}", "TXT", '"v=STSv1; id=20261129"', ttl=3600)
        server.add(f"mta-sts.{domain}", "A", SMTP_ADDRESS)
    for domain, record in TLSRPT.items():
        server.add(f"_smtp._tls.{domain}", "TXT", f'"{record}"', ttl=3600)
    for zone in dnsbl.load_zones():
        if zone.key:
            continue
        listed, _ = zone.test_entries()
        server.add(zone.query_name(listed), "A", _listing_code(zone))
    for zone_name, (code, reason) in LISTINGS.items():
        name = f"{reverse_labels(LISTED_ADDRESS)}.{zone_name}"
        server.add(name, "A", code)
        server.add(name, "TXT", f'"{reason}"')
    server.add(f"{reverse_labels(CUSTOMER_LISTED)}.{CUSTOMER_ZONE}", "A", "127.0.0.2")


def _listing_code(zone: dnsbl.Zone) -> str:
    """The lowest code the zone uses for listings and not for errors."""
    for net in zone.listed:
        for address in net:
            if address.packed[-1] >= 2 and not any(address in err for err in zone.errors):
                return str(address)
    raise ValueError(f"zone {zone.name} has no listing code")


class SimulatedDomain:
    """The whole simulated domain, serving on loopback while the ``with`` lasts.

    ``dns_port``/``smtp_port``/``https_port`` 0 pick free ports. Both SMTP
    servers share the SMTP port (127.0.0.1 and 127.0.0.3), so one ``-p``
    reaches either; the MTA-STS policies are served on 127.0.0.1 at the
    HTTPS port.
    The files a user points plugins at (signed.eml, altered.eml,
    newsletter.eml, the private keys, the test CA's certificate ca.pem, the
    relay user's password relay.password, networks.txt) go into ``files`` (a temporary
    folder by default).
    """

    def __init__(self, dns_port: int = 0, smtp_port: int = 0,
                 files: Path | None = None, https_port: int = 0) -> None:
        self.dns = ScriptedNameserver(port=dns_port)
        self.smtp_port = smtp_port
        self.https_port = https_port
        self.files = files
        self.servers: list[BackgroundServer] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.password = secrets.token_urlsafe(12)  # RELAY_USER's, made afresh

    @functools.cached_property
    def ca(self) -> Any:
        """The test CA that signed smtp.example.net's certificate."""
        from check_mail.simulation.certificates import TestCA

        return TestCA("check-mail demo CA")

    @property
    def nameserver(self) -> str:
        """As given to ``-n``."""
        return self.dns.address

    def __enter__(self) -> SimulatedDomain:
        self.dns.start()
        try:
            populate(self.dns)
            issued = self.ca.issue(SMTP_HOST)
            first = ScriptedSmtpServer(smtp_behaviour(issued.server_context(), self.password),
                                       SMTP_ADDRESS, self.smtp_port).start()
            self.servers.append(first)
            self.smtp_port = first.port
            self.servers.append(ScriptedSmtpServer(relay_behaviour(), RELAY_ADDRESS,
                                                   first.port).start())
            self._serve_tls(issued)
            self._write_files()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _serve_tls(self, issued: Any) -> None:
        """TLSA records for the MX's certificate, and the MTA-STS policy host."""
        from check_mail import dane
        from check_mail.mtasts import PATH
        from check_mail.simulation.httpsserver import Page, ScriptedHttpsServer

        self.dns.add(f"_{self.smtp_port}._tcp.{SMTP_HOST}", "TLSA",
                     f"3 1 1 {dane.association(issued.der(), 1, 1).hex()}",
                     f"2 1 1 {dane.association(self.ca.der(), 1, 1).hex()}", ttl=3600)
        names = [f"mta-sts.{domain}" for domain in STS_POLICIES]
        web = ScriptedHttpsServer(self.ca.issue(*names).server_context(), SMTP_ADDRESS,
                                  self.https_port).start()
        self.servers.append(web)
        self.https_port = web.port
        for domain, policy in STS_POLICIES.items():
            web.pages[f"mta-sts.{domain}{PATH}"] = Page(policy.encode())

    def _write_files(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        if self.files is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="check-mail-demo-")
            self.files = Path(self._tmp.name)
        self.files.mkdir(parents=True, exist_ok=True)
        signed = signed_message()
        (self.files / "signed.eml").write_bytes(signed)
        (self.files / "altered.eml").write_bytes(signed.replace(b"We lost", b"We won"))
        (self.files / "newsletter.eml").write_bytes(newsletter())
        (self.files / "ca.pem").write_bytes(self.ca.pem())
        (self.files / "networks.txt").write_text(NETWORKS_FILE)
        now = time.time()
        (self.files / "mail.log").write_text(postfixlog.demo_log(now))
        postqueue = self.files / "postqueue"
        postqueue.write_text(postfixlog.postqueue_script(postfixlog.demo_queue(now)))
        os.chmod(postqueue, 0o755)
        secret = self.files / "relay.password"
        secret.write_text(self.password + "\n")
        os.chmod(secret, 0o600)
        older = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name, key in (("rsa2026.pem", dkim_keys()["rsa2026"]), ("old-rsa2026.pem", older)):
            path = self.files / name
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
            os.chmod(path, 0o600)

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop()
        self.dns.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
