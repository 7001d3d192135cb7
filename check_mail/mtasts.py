"""MTA-STS (RFC 8461): the policy a domain publishes for senders that
validate, and the HTTPS fetch that gets it.

A sender looks for a ``v=STSv1`` TXT record at ``_mta-sts.<domain>``, then
fetches ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` with a valid
certificate for that name, taking only a 200 reply of type text/plain and
following no redirect (RFC 8461 3.3). In ``enforce`` mode it then delivers
only to MX hosts the policy names, over TLS with a certificate that a CA
vouches for and that carries the MX host name (RFC 8461 4).

The fetch goes to the addresses our DNS layer found, under the plugin's
deadline; nothing escapes as an exception.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from check_mail.deadline import Deadline
from check_mail.outcome import Word
from check_mail.text import integer

if TYPE_CHECKING:
    import asyncio

PATH = "/.well-known/mta-sts.txt"
# Policies are a few hundred octets; a bound of our own keeps a hostile host
# from feeding us without end.
MAX_POLICY = 64 * 1024
MAX_HEADER_LINE = 8 * 1024
MAX_HEADERS = 100
MAX_AGE = 31557600  # seconds, one year (RFC 8461 3.2)

_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_FIELD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
# RFC 8461 3.1 sts-ext-value, RFC 8460 3 tlsrpt-ext-value: printable ASCII
# but for "=", ";" and the space.
_FIELD_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
# RFC 5321 Domain (RFC 8461 3.2 sts-policy-mx-value): labels of letters,
# digits and inner hyphens; one label, and labels of digits alone, are valid.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")


@dataclass(frozen=True)
class Record:
    """The ``_mta-sts`` TXT record (RFC 8461 3.1)."""

    id: str
    text: str


def versioned_record(texts: Sequence[str], version: str) -> tuple[str, dict[str, str], str]:
    """The one ``v=<version>`` record among a name's TXT records and its
    fields, or "" and why it is unusable ("" too when there is none).

    MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3) share the grammar:
    ``name=value`` fields split by ``;`` with blanks (spaces and tabs, WSP)
    around it, names of 1 to 32 letters, digits, ``_``, ``-`` and ``.``,
    values of printable ASCII but ``=``, ``;`` and the space; more than one
    record, or one malformed, means none.
    """
    found = [t for t in texts if re.match(rf"v={version}[ \t]*(;|\Z)", t)]
    if not found:
        return "", {}, ""
    if len(found) > 1:
        return "", {}, f"{len(found)} v={version} records (senders take none)"
    fields: dict[str, str] = {}
    for part in found[0].split(";"):
        part = part.strip(" \t")
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or not _FIELD_NAME.match(name) or not _FIELD_VALUE.match(value):
            return "", {}, f"malformed field {part!r}"
        fields.setdefault(name, value)
    return found[0], fields, ""


def parse_record(texts: Sequence[str]) -> tuple[Record | None, str]:
    """The one STSv1 record among a name's TXT records, or None and why
    ("" when there is none at all)."""
    text, fields, problem = versioned_record(texts, "STSv1")
    if not text:
        return None, problem
    if "id" not in fields:
        return None, "no id= field"
    if not _ID.match(fields["id"]):
        return None, f"id={fields['id']} is not 1 to 32 letters and digits"
    return Record(fields["id"], text), ""


class Mode(Word):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


@dataclass(frozen=True)
class Policy:
    """A policy file (RFC 8461 3.2). ``problems`` make senders ignore it;
    ``remarks`` break the RFC's grammar in ways lenient senders skip over
    (a line that is not "key: value", a repeated key, a malformed mx)."""

    mode: Mode | None
    max_age: int
    mx: tuple[str, ...]
    problems: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return not self.problems

    def covers(self, host: str) -> bool:
        """Whether an MX host matches one of the policy's mx patterns
        (RFC 8461 4.1: "*.example.com" stands for exactly one label)."""
        host = host.rstrip(".").lower()
        for pattern in self.mx:
            if pattern.startswith("*."):
                first, _, parent = host.partition(".")
                if first and parent == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def parse_policy(text: str) -> Policy:
    """Read a policy file: ``key: value`` lines, LF or CRLF."""
    problems: list[str] = []
    remarks: list[str] = []
    fields: dict[str, str] = {}
    patterns: list[str] = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        value = value.strip(" \t")
        if not colon or not key or key != key.strip():
            remarks.append(f"line {number} is not 'key: value'")
        elif key == "mx":
            name = value[2:] if value.startswith("*.") else value
            if not _DOMAIN.match(name) or len(name.rstrip(".")) > 253:
                remarks.append(f"mx {value!r} is not a domain or *.domain")
            else:
                patterns.append(value.rstrip(".").lower())
        elif key in fields:
            remarks.append(f"{key} given twice")
        else:
            fields[key] = value
    version = fields.get("version")
    if version != "STSv1":
        problems.append("no 'version: STSv1'" if version is None
                        else f"version {version!r} is not STSv1")
    mode = {m.value: m for m in Mode}.get(fields.get("mode", ""))
    if mode is None:
        problems.append(f"mode {fields['mode']!r} is not enforce, testing or none"
                        if "mode" in fields else "no mode")
    age_text = fields.get("max_age", "")
    max_age = int(age_text) if age_text.isascii() and age_text.isdigit() \
        and len(age_text) <= 10 else -1
    if max_age < 0:
        problems.append(f"max_age {age_text!r} is not a number of seconds"
                        if age_text else "no max_age")
    elif max_age > MAX_AGE:
        problems.append(f"max_age {max_age} is over a year ({MAX_AGE})")
    if not patterns and mode is not Mode.NONE:
        problems.append("no mx pattern")
    return Policy(mode, max_age, tuple(patterns), tuple(problems), tuple(remarks))


@dataclass(frozen=True)
class Fetch:
    """The HTTPS GET of a policy."""

    url: str
    address: str = ""  # the address that answered, or the last one tried
    status: int = 0  # the HTTP status, 0 when none came
    content_type: str = ""
    body: str = ""
    error: str = ""  # "" when a policy came: 200, text/plain, within MAX_POLICY

    @property
    def ok(self) -> bool:
        return not self.error


class _HttpError(Exception):
    pass


async def fetch(host: str, addresses: Sequence[str], *, deadline: Deadline,
                context: ssl.SSLContext, port: int = 443) -> Fetch:
    """GET the policy from ``host`` at the first address that answers.

    ``context`` must verify the certificate chain (check_mail.tls's trusting
    context); the name is matched here, by RFC 6125 as senders do (RFC 8461
    3.3), so that one trust store serves the SMTP handshakes and this fetch.
    """
    where = host if port == 443 else f"{host}:{port}"
    url = f"https://{where}{PATH}"
    if not addresses:
        return Fetch(url, error=f"{host} has no address")
    outcome = Fetch(url)
    for address in addresses:
        outcome = await _get(url, host, address, port, deadline, context)
        if outcome.status or deadline.expired:  # an HTTP reply is the host's answer
            break
    return outcome


async def _get(url: str, host: str, address: str, port: int, deadline: Deadline,
               context: ssl.SSLContext) -> Fetch:
    import asyncio

    writer = None
    status, content_type = 0, ""
    try:
        try:
            reader, writer = await asyncio.wait_for(
                # The stream buffers a whole policy before it pauses reading: on
                # Python 3.9, resuming a TLS stream the server has closed fails
                # (AttributeError in sslproto), so it must never need to resume.
                asyncio.open_connection(address, port, ssl=context, server_hostname=host,
                                        limit=MAX_POLICY + MAX_HEADER_LINE),
                max(deadline.remaining(), 0.001))
        except ssl.SSLCertVerificationError as exc:
            raise _HttpError(f"certificate not valid for {host}: "
                             f"{exc.verify_message or exc.reason}") from None
        except ssl.SSLError as exc:
            raise _HttpError(f"TLS handshake failed: {exc.reason or exc}") from None
        _check_peer(writer.get_extra_info("ssl_object"), host)
        authority = host if port == 443 else f"{host}:{port}"
        request = (f"GET {PATH} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: check-mail\r\n"
                   "Accept: text/plain\r\nConnection: close\r\n\r\n")
        writer.write(request.encode("ascii"))
        status, headers = await _head(reader, deadline)
        content_type = headers.get("content-type", "")
        if 300 <= status < 400:
            target = headers.get("location", "?")
            raise _HttpError(f"HTTP {status} redirect to {target[:100]} (senders follow "
                             "no redirect, RFC 8461 3.3)")
        if status != 200:
            raise _HttpError(f"HTTP {status}")
        body = await _body(reader, headers, deadline)
        media = content_type.split(";")[0].strip().lower()
        if media != "text/plain":
            raise _HttpError(f"Content-Type {content_type or 'missing'}, not text/plain "
                             "(RFC 8461 3.2)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _HttpError("the policy is not UTF-8 text") from None
        return Fetch(url, address, status, content_type, text)
    except _HttpError as exc:
        return Fetch(url, address, status, content_type, error=str(exc))
    except asyncio.TimeoutError:
        return Fetch(url, address, status, content_type, error="timed out")
    except (OSError, EOFError) as exc:
        from check_mail.text import os_error

        return Fetch(url, address, status, content_type, error=f"cannot fetch: {os_error(exc)}")
    finally:
        if writer is not None:
            writer.close()


def _check_peer(tls: ssl.SSLObject, host: str) -> None:
    """The certificate is for the policy host, over TLS 1.2 or later, as
    senders require."""
    from check_mail.certificate import parse

    if tls.version() in ("SSLv3", "TLSv1", "TLSv1.1"):
        raise _HttpError(f"{tls.version()}: senders require TLS 1.2 or later")
    der = tls.getpeercert(binary_form=True)
    cert = parse(der) if der else None
    if cert is None or not cert.matches(host):
        names = ", ".join(cert.names[:3]) if cert and cert.names else "no name"
        raise _HttpError(f"certificate not valid for {host}: it is for {names}")


async def _line(reader: asyncio.StreamReader, deadline: Deadline) -> bytes:
    import asyncio

    try:
        line = await asyncio.wait_for(reader.readline(), max(deadline.remaining(), 0.001))
    except ValueError:  # the StreamReader limit
        raise _HttpError("an overlong line in the reply") from None
    if len(line) > MAX_HEADER_LINE:
        raise _HttpError("an overlong line in the reply")
    if not line.endswith(b"\n"):
        raise _HttpError("the connection closed in the middle of the reply")
    return line.rstrip(b"\r\n")


async def _head(reader: asyncio.StreamReader, deadline: Deadline) -> tuple[int, dict[str, str]]:
    """The status and the header fields (names in lower case)."""
    status_line = (await _line(reader, deadline)).decode("latin-1")
    match = re.match(r"HTTP/1\.[01] ([1-5][0-9][0-9])(?: |\Z)", status_line)
    if not match:
        raise _HttpError(f"not an HTTP reply: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = (await _line(reader, deadline)).decode("latin-1")
        if not line:
            return int(match.group(1)), headers
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    raise _HttpError(f"more than {MAX_HEADERS} header fields")


def _content_length(text: str) -> int:
    """Content-Length as a number: -1 when absent or not a number, and more
    than any policy may be when it has too many digits to read."""
    if text.isascii() and text.isdigit() and len(text) > 18:
        return MAX_POLICY + 1
    try:
        return integer(text)
    except ValueError:
        return -1


async def _body(reader: asyncio.StreamReader, headers: dict[str, str],
                deadline: Deadline) -> bytes:
    """The body by Content-Length, chunked, or up to the close; at most MAX_POLICY."""
    import asyncio

    async def read(n: int) -> bytes:
        return await asyncio.wait_for(reader.read(n), max(deadline.remaining(), 0.001))

    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size_text = (await _line(reader, deadline)).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _HttpError("a malformed chunk") from None
            if size == 0:
                return body
            if len(body) + size > MAX_POLICY:
                raise _HttpError(f"the policy is larger than {MAX_POLICY} octets")
            chunk = b""
            while len(chunk) < size + 2:  # the chunk and its CRLF
                part = await read(size + 2 - len(chunk))
                if not part:
                    raise _HttpError("the connection closed in the middle of the reply")
                chunk += part
            body += chunk[:size]
    length = _content_length(headers.get("content-length", ""))
    if length > MAX_POLICY:
        raise _HttpError(f"the policy is larger than {MAX_POLICY} octets")
    body = b""
    while len(body) <= MAX_POLICY:
        part = await read(MAX_POLICY + 1 - len(body))
        if not part:
            break
        body += part
        if 0 <= length <= len(body):
            return body[:length]
    if len(body) > MAX_POLICY:
        raise _HttpError(f"the policy is larger than {MAX_POLICY} octets")
    if len(body) < length:
        raise _HttpError("the connection closed in the middle of the reply")
    return body
