"""check_tls: every MX speaks STARTTLS with a certificate that holds, and DANE
and MTA-STS never lock senders out.

Senders that validate refuse to deliver to an MX whose certificate no longer
matches its TLSA records (DANE, RFC 7672) or fails the domain's MTA-STS
policy (RFC 8461): an expired certificate on one MX, or a TLSA record
forgotten at a renewal, silently stops mail from exactly the best-run
senders. Every address of every MX is asked for STARTTLS as such a sender
asks, its certificate judged by each rule that applies, while the TLSA
records, the MTA-STS policy and the TLS reporting record are fetched.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import count

if TYPE_CHECKING:
    from check_mail.certificate import Certificate
    from check_mail.dane import Authentication
    from check_mail.mtasts import Mode
    from check_mail.tls import Handshake
    from check_mail.transport import Host, Survey

EPILOG = """\
states:
  CRITICAL  no STARTTLS (WARNING with --starttls optional, unless DANE or MTA-STS
            enforce needs it); a failed handshake; a certificate no trusted CA
            signed, or not for the MX name, unless DANE authenticates it; expiry
            within -c days; TLSA records that match no certificate (DANE senders
            defer); under an MTA-STS policy in enforce mode: an MX it does not list,
            or a certificate that fails it
  WARNING   TLS older than 1.2; an RSA key under 2048 bits; expiry within -w days;
            addresses of one MX with different certificates; TLSA records that are
            not DNSSEC-validated or not usable; an MTA-STS record without a
            fetchable policy or the reverse, a policy with errors, failures under
            mode testing (and mode testing itself with --strict); no TLS-RPT record
            while DANE or MTA-STS is in use
  UNKNOWN   a DNS lookup failed
  OK        a null MX: the domain receives no mail

DANE counts only when the resolver validates DNSSEC and says so (the AD bit):
point --nameserver at a validating resolver (Unbound, BIND, Knot Resolver).
DANE-EE records ignore names and expiry, as RFC 7672 says senders do.

-w and -c are days left before a certificate expires: -w 21 warns with fewer
than 21 days left (a plain number is a minimum; a range is taken as it is).

examples:
  check_tls -D example.org
  check_tls -H smtp.example.org -p 587
  check_tls -H smtp.example.org -p 465 --tls
  check_tls -D example.org --nameserver 127.0.0.1 -w 30 -c 10 --strict
"""


def days(text: str) -> Any:
    """Days left: a plain number N means "at least N" (N:), else a range."""
    return plugin.threshold(f"{text}:" if text.isascii() and text.isdigit() else text)


def parser() -> plugin.Parser:
    p = plugin.Parser("TLS", "check_tls", __doc__,
                      EPILOG,
                      verbose="one line per address (TLS version, cipher, certificate, "
                              "DANE), the TLSA records of each MX, the MTA-STS policy and "
                              "the TLS-RPT record")
    p.add_domain_option("the mail domain: every MX, its MTA-STS policy and TLS-RPT record",
                        required=False)
    p.add_host_option("check this host instead of the MX set (a smarthost, a submission "
                      "server); with -D, judged by the domain's MTA-STS policy")
    p.add_argument("--name", type=plugin.option_type(plugin.hostname), metavar="NAME",
                   help="the name the certificate must carry (default -H itself; give it "
                        "when -H is an address, else the name is not checked); also the "
                        "name sent in SNI and looked up for TLSA")
    p.add_family_options()
    for flags, kind, default in ((("-w", "--warning"), "warning", "21"),
                                 (("-c", "--critical"), "critical", "7")):
        p.add_argument(*flags, type=plugin.option_type(days), default=days(default),
                       metavar="DAYS",
                       help=f"{kind} when a certificate expires within DAYS days, or a range "
                            f"of days left (default {default})")
    p.add_argument("--strict", action="store_true",
                   help="warn about an MTA-STS policy in mode testing")
    p.add_argument("--ca-file", metavar="FILE",
                   help="also trust the CA certificates in this PEM file")
    smtp = p.add_smtp_options()
    smtp.add_argument("--tls", action="store_true",
                      help="TLS from the first byte (implicit TLS, as on port 465)")
    smtp.add_argument("--starttls", choices=("required", "optional"), default="required",
                      help="a server without STARTTLS is critical, or with optional a "
                           "warning (default %(default)s)")
    p.add_argument("--mta-sts-port", type=plugin.option_type(plugin.port), default=443,
                   metavar="PORT",
                   help="fetch the MTA-STS policy from this port (default %(default)s; "
                        "another only for tests)")
    p.add_dns_options()
    return p


class Address(NamedTuple):
    """One address as judged: its handshake, its certificate, and what DANE says.
    (A NamedTuple: dataclasses would cost --help its start-up time.)"""

    host: Host
    shake: Handshake
    certificate: Certificate | None
    dane_applies: bool  # usable TLSA records that senders believe
    dane: Authentication | None  # how the chain matched them (None: no chain, or no DANE)

    @property
    def where(self) -> str:
        name, address = self.host.name, self.shake.address
        return address if name == address else f"{name} {address}"

    @property
    def dane_ee(self) -> bool:
        """A DANE-EE record authenticates the certificate: names and dates do
        not matter (RFC 7672 3.1.1)."""
        from check_mail.dane import DANE_EE

        return bool(self.dane and self.dane.ok and self.dane.record
                    and self.dane.record.usage == DANE_EE)


class Tls(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        super().__init__(args, deadline)
        self.survey: Survey | None = None
        self.addresses: list[Address] = []
        self.now = datetime.datetime.now(datetime.timezone.utc)

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import mx, transport

        args = self.args
        trusting, seeing = contexts(args.ca_file)
        hosts = []
        if args.host:
            hosts = [((args.name or args.host).rstrip(".").lower(),
                      self.host_addresses(args.host, args.family))]
        settings = transport.Settings(args.port, args.tls, args.helo, args.family,
                                      args.mta_sts_port)
        self.survey = survey = self.resolver.run(transport.survey(
            self.resolver, deadline=self.deadline, trusting=trusting, seeing=seeing,
            settings=settings, domain=args.domain or "", hosts=hosts))
        if survey.exchangers is not None:
            yield plugin.Metric("mx", mx.problems(survey.exchangers, args.family,
                                                  null_mx=Level.OK), context="mx")
        if survey.sts is not None:
            yield plugin.Metric("policy", policy_findings(survey, args), context="policy")
        for host in survey.hosts:
            dane_applies = not host_dane_problems(host, survey)
            seen = [Address(host, shake, read_certificate(shake), dane_applies,
                            authenticate(host, shake, args) if dane_applies else None)
                    for shake in host.handshakes]
            self.addresses += seen
            yield plugin.Metric(host.name, host_findings(host, seen, survey, args),
                                context="host")
            for address in seen:
                yield plugin.Metric(address.where, address_findings(address, survey, args,
                                                                    self.now),
                                    context="address")
            left = [a.certificate.days_left(self.now) for a in seen if a.certificate]
            if left:
                # A certificate that only DANE-EE vouches for: its dates matter to
                # no sender (RFC 7672 3.1.1), so they are shown, not judged.
                only_dane = all(a.dane_ee and a.shake.untrusted for a in seen)
                yield plugin.Metric(f"{host.name}_days", whole_days(min(left)),
                                    context="days-shown" if only_dane else "days")
        left = [a.certificate.days_left(self.now) for a in self.addresses if a.certificate]
        if left:
            yield plugin.Metric("days", whole_days(min(left)), context="days-shown")
        passing = sum(1 for a in self.addresses
                      if not address_findings(a, survey, args, self.now))
        yield plugin.Metric("addresses", len(self.addresses), min=0, context="counts")
        yield plugin.Metric("passing", passing, min=0, max=len(self.addresses),
                            context="counts")
        yield from self.finish()


def contexts(ca_file: str | None) -> tuple[Any, Any]:
    """The handshake contexts (the trusting one also fetches the MTA-STS
    policy); a --ca-file that cannot be read is bad input."""
    import ssl

    from check_mail import tls

    try:
        return tls.contexts(ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise plugin.UsageError(f"--ca-file {ca_file}: {reason}") from None


def read_certificate(shake: Handshake) -> Certificate | None:
    from check_mail.certificate import parse

    return parse(shake.chain[0]) if shake.chain else None


def authenticate(host: Host, shake: Handshake, args: argparse.Namespace) -> Authentication | None:
    from check_mail import dane

    if not shake.chain:
        return None
    names = [host.name] + ([args.domain] if args.domain else [])
    return dane.authenticate(shake.chain, host.usable, names)


def host_dane_problems(host: Host, survey: Survey) -> list[Finding]:
    """Why DANE does not apply to this host although TLSA records are
    published; [] when it applies or nothing is published."""
    from check_mail.dns import Status, failed_lookups

    answer = host.tlsa
    if answer is None or answer.status in (Status.NXDOMAIN, Status.NODATA):
        return [Finding(Level.OK, "no TLSA")]
    name = answer.name.rstrip(".")
    if not answer.answered:
        return [Finding(Level.UNKNOWN, f"TLSA lookup failed: {failed_lookups([answer])} (a "
                                       "DANE sender defers mail while it fails)")]
    if not answer.secure:
        return [Finding(Level.WARNING, f"TLSA records at {name} are not DNSSEC-validated "
                                       "(an unsigned zone, or the resolver does not "
                                       "validate): senders ignore them")]
    found = survey.exchangers
    if found is not None and not found.mx.secure:
        return [Finding(Level.WARNING, f"the MX records of {found.domain.rstrip('.')} are not "
                                       f"DNSSEC-validated: senders ignore the TLSA records "
                                       f"at {name} (RFC 7672 2.2.1)")]
    if not host.usable:
        why = "; ".join(sorted({r.unusable for r in host.records})) or "malformed"
        return [Finding(Level.WARNING, f"no usable TLSA record at {name} ({why}): DANE "
                                       "senders fall back to unauthenticated TLS")]
    return []


def host_findings(host: Host, seen: list[Address], survey: Survey,
                  args: argparse.Namespace) -> list[Finding]:
    """What is wrong with one MX as a whole: its DANE records, its policy
    coverage, certificates that differ between its addresses."""
    from check_mail.mtasts import Mode

    out = [f for f in host_dane_problems(host, survey) if f.level is not Level.OK]
    mode = sts_mode(survey)
    if mode in (Mode.ENFORCE, Mode.TESTING) and survey.sts and survey.sts.policy \
            and not survey.sts.policy.covers(host.name):
        level, effect = ((Level.CRITICAL, "will not deliver") if mode is Mode.ENFORCE
                         else (Level.WARNING, "report failures"))
        out.append(Finding(level, f"{host.name} is not in the MTA-STS policy (mode {mode}, mx "
                                  f"{', '.join(survey.sts.policy.mx)}): senders that "
                                  f"validate {effect}"))
    prints = {a.certificate.sha256 for a in seen if a.certificate}
    if len(prints) > 1:
        out.append(Finding(Level.WARNING, f"{host.name}: its {len(seen)} addresses present "
                                          f"{len(prints)} different certificates"))
    return out


def sts_mode(survey: Survey) -> Mode | None:
    return survey.sts.mode if survey.sts else None


def covered_mode(address: Address, survey: Survey) -> Mode | None:
    """The MTA-STS mode that applies to this address's MX, if the policy lists it."""
    from check_mail.mtasts import Mode

    mode = sts_mode(survey)
    sts = survey.sts
    if mode in (Mode.ENFORCE, Mode.TESTING) and sts and sts.policy \
            and sts.policy.covers(address.host.name):
        return mode
    return None


def address_findings(address: Address, survey: Survey, args: argparse.Namespace,
                     now: datetime.datetime) -> list[Finding]:
    """Everything wrong with one address, by the rules in EPILOG."""
    from check_mail.certificate import MIN_RSA_BITS
    from check_mail.mtasts import Mode

    shake, where, cert = address.shake, address.where, address.certificate
    mode = covered_mode(address, survey)
    dane = address.dane
    needed = ("DANE senders defer all mail" if address.dane_applies else
              "MTA-STS senders will not deliver" if mode is Mode.ENFORCE else "")
    if shake.session.greeting is None or (not shake.offered and shake.error):
        return [Finding(Level.CRITICAL, f"{where}: {shake.error}")]
    if not shake.offered:
        level = Level.WARNING if args.starttls == "optional" and not needed else Level.CRITICAL
        return [Finding(level, f"{where}: no STARTTLS: mail arrives in clear"
                               + (f" ({needed})" if needed else ""))]
    if shake.error:
        return [Finding(Level.CRITICAL, f"{where}: STARTTLS fails: {shake.error}")]
    out = []
    if shake.version in ("SSLv3", "TLSv1", "TLSv1.1"):
        out.append(Finding(Level.WARNING, f"{where}: {shake.version} (below TLS 1.2)"))
    if cert is None:
        return [*out, Finding(Level.CRITICAL, f"{where}: the certificate cannot be read")]
    if dane is not None and not dane.ok:
        out.append(dane_finding(address))
    authenticated = dane is not None and dane.ok
    problems = pkix_problems(address, now)
    for problem in problems:
        if mode is Mode.ENFORCE:
            out.append(Finding(Level.CRITICAL, f"{where}: {problem} (MTA-STS enforce: "
                                               "senders will not deliver)"))
        elif not authenticated:
            out.append(Finding(Level.CRITICAL, f"{where}: {problem}"))
        elif mode is Mode.TESTING:
            out.append(Finding(Level.WARNING, f"{where}: {problem} (MTA-STS testing: "
                                              "senders report it)"))
    if cert.rsa_bits and cert.rsa_bits < MIN_RSA_BITS:
        out.append(Finding(Level.WARNING, f"{where}: a weak {cert.key} key (under "
                                          f"{MIN_RSA_BITS} bits)"))
    return out


def pkix_problems(address: Address, now: datetime.datetime) -> list[str]:
    """What a sender that validates like a browser (MTA-STS) refuses."""
    shake, cert = address.shake, address.certificate
    assert cert is not None
    out = []
    if shake.untrusted:
        out.append(f"certificate not trusted: {shake.untrusted}")
    from check_mail.dns import is_address

    name = address.host.name
    if not is_address(name) and not cert.matches(name):
        shown = ", ".join(cert.names[:3]) + (", ..." if len(cert.names) > 3 else "")
        out.append(f"certificate is for {shown or 'no name'}, not {name}")
    if now < cert.not_before:
        out.append(f"certificate not valid before {cert.not_before:%Y-%m-%d}")
    return out


def dane_finding(address: Address) -> Finding:
    from check_mail.dane import Verdict

    dane, where = address.dane, address.where
    assert dane is not None
    if dane.verdict is Verdict.NO_MATCH and not address.shake.whole_chain and any(
            r.usage == 2 for r in address.host.usable):
        return Finding(Level.UNKNOWN, f"{where}: cannot check DANE-TA records: this Python "
                                      "shows only the server's own certificate (3.10 or "
                                      "later shows the chain)")
    if dane.verdict is Verdict.NO_MATCH:
        text = "certificate matches no TLSA record (DANE senders will defer)"
    else:
        text = f"DANE-TA matched at depth {dane.depth}, but {dane.detail} (DANE senders " \
               "will defer)"
    return Finding(Level.CRITICAL, f"{where}: {text}")


def policy_findings(survey: Survey, args: argparse.Namespace) -> list[Finding]:
    """The domain's MTA-STS and TLS-RPT records."""
    from check_mail.mtasts import Mode

    sts, report = survey.sts, survey.report
    assert sts is not None and report is not None
    domain = args.domain
    out = []
    if not sts.txt.answered:
        from check_mail.dns import failed_lookups

        out.append(Finding(Level.UNKNOWN, f"lookup failed: {failed_lookups([sts.txt])}"))
    elif sts.record_problem:
        out.append(Finding(Level.WARNING, f"_mta-sts.{domain}: {sts.record_problem}: senders "
                                          "ignore MTA-STS"))
    elif sts.record and not sts.fetch.ok:
        out.append(Finding(Level.WARNING, f"MTA-STS record published, but the policy cannot "
                                          f"be fetched from {sts.fetch.url}: {sts.fetch.error}"))
    elif not sts.record and sts.fetch.ok:
        out.append(Finding(Level.WARNING, f"an MTA-STS policy at {sts.fetch.url}, but no "
                                          f"_mta-sts.{domain} TXT record: senders never "
                                          "fetch it"))
    if sts.record and sts.policy and not sts.policy.usable:
        out.append(Finding(Level.WARNING, f"the MTA-STS policy is unusable: "
                                          f"{'; '.join(sts.policy.problems)}"))
    elif sts.record and sts.policy and sts.policy.remarks:
        out.append(Finding(Level.WARNING, f"the MTA-STS policy breaks RFC 8461's grammar "
                                          f"(strict senders may ignore it): "
                                          f"{'; '.join(sts.policy.remarks)}"))
    if sts.mode is Mode.TESTING and args.strict:
        out.append(Finding(Level.WARNING, "MTA-STS policy in mode testing: senders deliver "
                                          "even when it fails (--strict)"))
    dane = any(not host_dane_problems(h, survey) for h in survey.hosts)
    if not report.txt.answered:
        from check_mail.dns import failed_lookups

        out.append(Finding(Level.UNKNOWN, f"lookup failed: {failed_lookups([report.txt])}"))
    elif report.problem:
        out.append(Finding(Level.WARNING, f"_smtp._tls.{domain}: {report.problem}"))
    elif report.record is None and (dane or sts.mode in (Mode.ENFORCE, Mode.TESTING)):
        # RFC 8461 5: a policy in mode none is not in use (Mode.NONE is a
        # non-empty string, so it is tested against the modes, never for truth)
        sts_used = sts.mode in (Mode.ENFORCE, Mode.TESTING)
        using = [w for w, used in (("DANE", dane), ("MTA-STS", sts_used)) if used]
        verb = "are" if len(using) > 1 else "is"
        out.append(Finding(Level.WARNING, f"no TLS-RPT record (_smtp._tls.{domain}) while "
                                          f"{' and '.join(using)} {verb} in use: nobody "
                                          "learns of failures"))
    return out


def whole_days(left: float) -> int:
    """Days left, rounded down: an expired certificate is negative at once."""
    import math

    return math.floor(left)


def expiry(days: int) -> str:
    return f"expires in {count(days, 'day')}" if days >= 0 else "has expired"


def days_wording(metric: plugin.Metric, context: plugin.Threshold) -> str:
    host = metric.name.removesuffix("_days")
    return f"{host}: certificate {expiry(metric.value)} ({context.violation(metric)})"


class Wording(plugin.Summary):
    resource: Tls

    def ok(self, results: plugin.Results) -> str:
        from check_mail.mtasts import Mode

        survey, args = self.resource.survey, self.resource.args
        assert survey is not None
        found = survey.exchangers
        if found is not None and found.null:
            return f"{args.domain} has a null MX (RFC 7505): it receives no mail"
        seen = self.resource.addresses
        hosts = survey.hosts
        where = (f"{count(len(hosts), 'MX', 'MX')}" if found is not None
                 else hosts[0].name if hosts else args.host)
        parts = [f"{where}, {count(len(seen), 'address', 'addresses')}"]
        shown = sorted({a.shake.version.replace("TLSv", "TLS ") for a in seen})
        words = ["STARTTLS" if not args.tls else "TLS", *shown]
        if any(a.certificate for a in seen):
            words.append(certificate_words(seen, self.resource.now))
        with_dane = [h for h in hosts if not host_dane_problems(h, survey)]
        if with_dane:
            words.append("DANE matches" if len(with_dane) == len(hosts)
                         else f"DANE on {len(with_dane)} of {len(hosts)} MX")
        mode = sts_mode(survey)
        if mode in (Mode.ENFORCE, Mode.TESTING):
            words.append(f"MTA-STS {mode}")
        return f"{parts[0]}: {', '.join(words)}"

    def verbose(self, results: plugin.Results) -> list[str]:
        survey = self.resource.survey
        if survey is None:
            return []
        lines = []
        for host in survey.hosts:
            lines += tlsa_lines(host)
            for address in self.resource.addresses:
                if address.host is host:
                    lines.append(address_line(address, self.resource.now))
        if survey.sts is not None:
            lines += sts_lines(survey)
        return lines + plugin.finding_lines(results)


def certificate_words(seen: list[Address], now: datetime.datetime) -> str:
    """What the OK line may say of the certificates: "valid" only when their
    chain, name and dates were all checked and hold. A certificate that only
    DANE-EE vouches for is said to be so, with what is wrong with it (RFC
    7672 3.1.1: senders check neither its name nor its dates); one whose name
    could not be checked (-H an address, no --name) says so."""
    from check_mail.dns import is_address

    kind = "certificates" if len(seen) > 1 else "certificate"
    certified = [a for a in seen if a.certificate]
    left = expiry(whole_days(min(a.certificate.days_left(now) for a in certified
                                 if a.certificate)))
    flawed = [a for a in certified if pkix_problems(a, now)]
    if any(a.dane_ee for a in flawed):
        address = next(a for a in flawed if a.dane_ee)
        cert = address.certificate
        assert cert is not None
        facts = []
        if is_address(address.host.name):
            facts.append("name not checked (give --name)")
        elif cert.matches(address.host.name):
            facts.append("name matches")
        else:
            facts.append(f"for {', '.join(cert.names[:3]) or 'no name'}")
        facts.append(f"expired since {cert.not_after:%Y-%m-%d}" if cert.days_left(now) < 0
                     else expiry(whole_days(cert.days_left(now))))
        if address.shake.untrusted:
            facts.append(f"not trusted ({address.shake.untrusted})")
        return (f"{kind} vouched for by DANE-EE only (senders check neither name nor dates "
                f"under DANE-EE): {', '.join(facts)}")
    if flawed:  # no CA vouches, a DANE-TA record does (and the name was checked)
        return f"{kind} DANE-authenticated ({left})"
    if any(is_address(a.host.name) for a in certified):
        return f"{kind} trusted, name not checked (-H is an address: give --name) ({left})"
    return f"{kind} valid ({left})"


def tlsa_lines(host: Host) -> list[str]:
    answer = host.tlsa
    if answer is None:
        return []
    name = answer.name.rstrip(".")
    if not host.records:
        return [f"{name}: no TLSA record" if answer.answered
                else f"{name} TLSA: {answer.describe()}"]
    state = "DNSSEC-validated" if answer.secure else "not validated"
    lines = [f"{name} TLSA ({state}):"]
    for record in host.records:
        why = f" (unusable: {record.unusable})" if record.unusable else ""
        lines.append(f"  {record} {record.kind}{why}")
    return lines


def address_line(address: Address, now: datetime.datetime) -> str:
    shake, cert = address.shake, address.certificate
    where = address.where
    if not shake.version:
        return f"{where}: {shake.error or 'no STARTTLS'}"
    text = f"{where}: {shake.version} {shake.cipher}"
    if cert is not None:
        text += (f", {cert.key} certificate {cert.subject or '(no subject)'} for "
                 f"{', '.join(cert.names) or 'no name'}, issued by {cert.issuer}, expires "
                 f"{cert.not_after:%Y-%m-%d} ({count(whole_days(cert.days_left(now)), 'day')})")
        text += ", trusted" if not shake.untrusted else f", not trusted ({shake.untrusted})"
    if not shake.whole_chain:
        text += ", chain not shown by this Python"
    dane = address.dane
    if dane is not None:
        text += (f", {dane.record.kind} matched at depth {dane.depth}"
                 if dane.ok and dane.record else f", DANE: {dane.verdict}")
    return text


def sts_lines(survey: Survey) -> list[str]:
    sts, report = survey.sts, survey.report
    assert sts is not None and report is not None
    lines = []
    name = sts.txt.name.rstrip(".")
    if sts.record:
        lines.append(f"{name} TXT: {sts.record.text}")
    elif sts.txt.answered:
        lines.append(f"{name}: no MTA-STS record")
    if sts.fetch.ok and sts.policy is not None:
        policy = sts.policy
        lines.append(f"MTA-STS policy {sts.fetch.url} ({sts.fetch.address}): mode "
                     f"{policy.mode or '?'}, max_age {policy.max_age}, mx "
                     f"{', '.join(policy.mx) or '(none)'}")
    elif sts.published:
        lines.append(f"MTA-STS policy {sts.fetch.url}: {sts.fetch.error}")
    report_name = report.txt.name.rstrip(".")
    lines.append(f"{report_name} TXT: {report.record.text}" if report.record
                 else f"{report_name}: no TLS-RPT record" if report.txt.answered
                 else f"{report_name}: {report.txt.describe()}")
    return lines


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    if not args.domain and not args.host:
        raise plugin.UsageError("give -D DOMAIN (every MX) or -H HOST")
    if args.name and not args.host:
        raise plugin.UsageError("--name goes with -H: the MX names are the names to check")
    resource = Tls(args, deadline)
    return plugin.check(
        resource,
        plugin.Findings("mx"),
        plugin.Findings("policy"),
        plugin.Findings("host"),
        plugin.Findings("address"),
        plugin.Threshold("days", args.warning, args.critical, fmt_metric=days_wording),
        plugin.Measure("days-shown"),
        plugin.Measure("counts"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
