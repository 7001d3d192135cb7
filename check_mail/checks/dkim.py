"""check_dkim: are a domain's DKIM keys published, well formed, strong, the ones the
server signs with, and does real signed mail verify?

DKIM breaks silently: a key rotated on the signer but not in DNS (or the
reverse), a selector left in testing mode, a 1024-bit key. The mail still
flows; it just no longer authenticates.
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from check_mail import plugin
from check_mail.deadline import Deadline
from check_mail.outcome import Finding, Level
from check_mail.text import count

if TYPE_CHECKING:
    from check_mail.dkim import KeyLookup, Message, SignatureCheck, Verification

MESSAGE_LIMIT = 32 << 20  # octets; Postfix's default message_size_limit is 10 MB

EPILOG = """\
states, per selector:
  CRITICAL  no key record; a revoked key (unless --allow-revoked); a malformed record
            (the tag is named); h= without sha256; an RSA key outside -c (default
            1024:); a --private-key that does not match DNS
  WARNING   t=y (testing); an RSA key outside -w (default 2048:); a private key
            file readable by group or others
per signature in --message:
  CRITICAL  it fails (body hash or signature mismatch, expired, key problems)
  WARNING   it passes with the weak rsa-sha1
  UNKNOWN   its key could not be looked up

examples:
  check_dkim -D example.org -s s2025 -s ed1
  check_dkim -D example.org -s s2025 --private-key /etc/opendkim/keys/s2025.private
  check_dkim -D example.org --message /var/lib/monitoring/last-roundtrip.eml
"""


def selector(text: str) -> str:
    """A selector: one or more DNS labels, without a final dot."""
    from check_mail.dns import valid_name

    if not valid_name(text) or text.endswith("."):
        raise ValueError(f"{text!r} is not a valid selector")
    return text


def parser() -> plugin.Parser:
    p = plugin.Parser("DKIM", "check_dkim",
                      __doc__, EPILOG,
                      verbose="one line per selector (key, flags, TTL) and per signature "
                              "(algorithm, canonicalisation, verdict and why)")
    p.add_domain_option("the signing domain (d=)")
    p.add_argument("-s", "--selector", action="append", default=[],
                   type=plugin.option_type(selector), metavar="NAME",
                   help="a selector whose key is checked (repeatable)")
    p.add_thresholds("RSA key bits", warning="2048:", critical="1024:")
    p.add_argument("--allow-revoked", action="store_true",
                   help="a revoked key (empty p=) is fine: retired on purpose")
    p.add_argument("--private-key", action="append", default=[], metavar="FILE",
                   help="the signer's private key (PEM, RSA or ed25519), one per selector in "
                        "the same order; its public half must be the key in DNS")
    p.add_argument("--message", metavar="FILE",
                   help="an RFC 5322 message (- for stdin) whose DKIM signatures must verify")
    p.add_dns_options()
    return p


class PrivateKey(NamedTuple):
    """A --private-key file: where it is, its mode, and the key (never printed)."""

    path: str
    mode: int
    key: Any


class Keys(plugin.Resource):
    def __init__(self, args: argparse.Namespace, deadline: Deadline,
                 private: list[PrivateKey], message: Message | None) -> None:
        super().__init__(args, deadline)
        self.private = private  # one per selector, or none
        self.message = message
        self.lookups: list[KeyLookup] = []
        self.signatures: list[SignatureCheck] = []

    def probe(self) -> Iterator[plugin.Metric]:
        from check_mail import dkim

        args = self.args
        if args.selector:
            self.lookups = dkim.lookup_keys(self.resolver, args.domain, args.selector)
        for i, found in enumerate(self.lookups):
            private = self.private[i] if self.private else None
            yield plugin.Metric(found.selector, selector_findings(found, private, args),
                                context="selector")
            record = found.record
            if record is not None and not record.revoked:
                context = "rsa_bits" if record.key_type == "rsa" else "bits"
                yield plugin.Metric(f"{found.selector}_bits", record.bits, min=0,
                                    context=context)
            if found.answer.ttl is not None:
                yield plugin.Metric(f"{found.selector}_ttl", found.answer.ttl, "s",
                                    min=0, context="ttl")
        if self.message is not None:
            verification = dkim.verify(self.resolver, self.message)
            self.signatures = verification.checks
            yield plugin.Metric("signatures", signature_findings(verification),
                                context="signatures")
        yield from self.finish()


def selector_findings(found: KeyLookup, private: PrivateKey | None,
                      args: argparse.Namespace) -> list[Finding]:
    from check_mail import dkim

    crit, warn = Level.CRITICAL, Level.WARNING
    where = found.selector
    if found.error or found.record is None:
        if not found.answer.answered:
            return [Finding(Level.UNKNOWN, f"{where}: {found.error}")]
        if found.missing:
            return [Finding(crit, f"{where}: no key record at {found.name.rstrip('.')}")]
        tag = f" (tag {found.tag}=)" if found.tag else ""
        return [Finding(crit, f"{where}: malformed key record: {found.error}{tag}")]
    record = found.record
    out = []
    if record.revoked and not args.allow_revoked:
        out.append(Finding(crit, f"{where}: the key is revoked (empty p=)"))
    if record.testing:
        out.append(Finding(warn, f"{where}: in testing mode (t=y): receivers may ignore "
                                 "failures"))
    if not record.allows("sha256"):
        out.append(Finding(crit, f"{where}: h={record.tags['h']} does not allow sha256"))
    if private is not None:
        if private.mode & (stat.S_IRWXG | stat.S_IRWXO):
            out.append(Finding(warn, f"{where}: private key file {private.path} is readable "
                                     f"by group or others (mode "
                                     f"{stat.S_IMODE(private.mode):04o})"))
        if not record.revoked and not dkim.same_key(private.key.public_key(),
                                                    record.public_key):
            out.append(Finding(crit, f"{where}: the private key in {private.path} does not "
                                     "match the key in DNS (rotated on one side only?)"))
    return out


def signature_findings(verification: Verification) -> list[Finding]:
    from check_mail.dkim import MAX_SIGNATURES, Verdict

    out = []
    for check in verification.checks:
        label = check.label
        if check.verdict is Verdict.PASS:
            if check.weak:
                out.append(Finding(Level.WARNING, f"{label}: passes, but rsa-sha1 is weak"))
        elif check.verdict is Verdict.TEMPERROR:
            out.append(Finding(Level.UNKNOWN, f"{label}: {check.reason}"))
        else:
            out.append(Finding(Level.CRITICAL, f"{label}: {check.verdict}, {check.reason}"))
    if not verification.checks:
        out.append(Finding(Level.CRITICAL, "the message carries no DKIM-Signature"))
    if verification.unverified:
        out.append(Finding(Level.WARNING, f"{verification.unverified} more DKIM-Signatures "
                                          f"not verified (at most {MAX_SIGNATURES} are)"))
    return out


def rsa_bits(metric: plugin.Metric, context: plugin.Threshold) -> str:
    selector = metric.name[:-len("_bits")]
    return f"{selector}: RSA key of {metric.value} bits ({context.violation(metric)})"


class Wording(plugin.Summary):
    resource: Keys

    def ok(self, results: plugin.Results) -> str:
        parts = []
        lookups = self.resource.lookups
        if lookups:
            keys = ", ".join(f"{f.selector} ({f.record.description})"
                             if f.record is not None and not f.record.revoked
                             else f"{f.selector} (revoked)" for f in lookups)
            parts.append(f"{count(len(lookups), 'selector')}: {keys}")
        signatures = self.resource.signatures
        if self.resource.message is not None:
            parts.append(f"{count(len(signatures), 'signature')} verified")
        return "; ".join(parts)

    def verbose(self, results: plugin.Results) -> list[str]:
        lines = []
        for found in self.resource.lookups:
            if found.record is None:
                lines.append(f"{found.selector}: {found.name.rstrip('.')}: {found.error}")
                continue
            record = found.record
            flags = f", t={':'.join(sorted(record.flags))}" if record.flags else ""
            key = "revoked" if record.revoked else record.description
            lines.append(f"{found.selector}: {found.name.rstrip('.')}: {key}{flags}, "
                         f"TTL {found.answer.ttl} s")
        for check in self.resource.signatures:
            why = f" ({check.reason})" if check.reason else ""
            lines.append(f"{check.label} a={check.algorithm or '?'} "
                         f"c={check.canonicalization or '?'}: {check.verdict}{why}")
        return lines


def load_private_keys(paths: list[str]) -> list[PrivateKey]:
    """Each --private-key, loaded; a bad file is bad input."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    keys = []
    for path in paths:
        pem = plugin.read_input(path, "--private-key", plugin.SECRET_FILE_LIMIT)
        try:
            mode = os.stat(path).st_mode
            key = load_pem_private_key(pem, password=None)
        except OSError as exc:
            raise plugin.UsageError(f"--private-key {path}: {exc.strerror}") from None
        except Exception:  # the reason could quote the key: never show it
            raise plugin.UsageError(f"--private-key {path}: not an unencrypted PEM private "
                                    "key") from None
        if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
            raise plugin.UsageError(f"--private-key {path}: neither an RSA nor an ed25519 key")
        keys.append(PrivateKey(path, mode, key))
    return keys


def build(args: argparse.Namespace, deadline: Deadline) -> plugin.Check:
    from check_mail import dkim

    if not args.selector and not args.message:
        raise plugin.UsageError("give -s SELECTOR, --message FILE or both")
    if args.private_key and len(args.private_key) != len(args.selector):
        raise plugin.UsageError(f"{len(args.private_key)} --private-key for "
                                f"{len(args.selector)} selectors: give one per selector")
    private = load_private_keys(args.private_key)
    message = None
    if args.message:
        try:
            message = dkim.parse_message(plugin.read_input(args.message, "--message",
                                                           MESSAGE_LIMIT))
        except dkim.DkimError as exc:
            raise plugin.UsageError(f"--message {args.message}: {exc}") from None
    resource = Keys(args, deadline, private, message)
    return plugin.check(
        resource,
        plugin.Findings("selector"),
        plugin.Findings("signatures"),
        plugin.Threshold("rsa_bits", args.warning, args.critical, fmt_metric=rsa_bits),
        plugin.Measure("bits"),
        plugin.Measure("ttl"),
        Wording(resource),
    )


def main(argv: list[str] | None = None) -> NoReturn:
    plugin.main(parser(), build, argv)
