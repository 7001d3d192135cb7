"""OpenSSL's DANE test vectors (../shared/conformance/dane/danetest.in): our
TLSA matching gives OpenSSL's verdict and match depth on every block that
applies to SMTP, and calls the PKIX-only blocks unusable.

As OpenSSL's driver does, each block is checked against the name
example.com, with name checks for DANE-EE only when the block asks for them.
"""

from __future__ import annotations

import re

import pytest

from check_mail import dane
from tests.helpers.plugins import SHARED, need

VECTORS = SHARED / "conformance/dane/danetest.in"
# OpenSSL's verify results in the file (x509_vfy.h): what each means here.
EXPECTED = {0: dane.Verdict.MATCH, 62: dane.Verdict.NAME_MISMATCH, 65: dane.Verdict.NO_MATCH}


def blocks() -> list[tuple[int, list[str], list[str], list[bytes]]]:
    """(number, header, TLSA lines, certificates in DER) for every block."""
    import base64

    text = VECTORS.read_text()
    found = []
    for number, body in re.findall(r"^# (\d+)\n(.*?)(?=^# \d+\n|\Z)", text, re.M | re.S):
        lines = [line for line in body.splitlines() if line and not line.startswith("#")]
        header = lines[0].split()
        records = lines[1:1 + int(header[0])]
        pems = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                          body, re.S)
        chain = [base64.b64decode("".join(p.split())) for p in pems]
        assert len(chain) == int(header[1]), number
        found.append((int(number), header, records, chain))
    return found


BLOCKS = blocks() if VECTORS.exists() else []


def test_the_vectors_are_there():
    need(VECTORS.exists(), f"OpenSSL's DANE vectors are not at {VECTORS}")
    assert [b[0] for b in BLOCKS] == list(range(1, 51))


@pytest.mark.parametrize("number,header,records,chain", BLOCKS,
                         ids=[f"block{b[0]}" for b in BLOCKS])
def test_block(number, header, records, chain):
    tlsa = [dane.parse(line) for line in records]
    assert all(tlsa)
    result = dane.authenticate(chain, tlsa, ["example.com"], ee_name_checks=header[2] == "0")
    if not any(r.usage in (dane.DANE_TA, dane.DANE_EE) for r in tlsa):
        # PKIX-TA and PKIX-EE: OpenSSL's business, not an SMTP client's (RFC 7672 3.1.3).
        assert result.verdict is dane.Verdict.NO_USABLE
        return
    assert (result.verdict, result.depth) == (EXPECTED[int(header[3])], int(header[4])), \
        result.detail


def test_the_blocks_that_apply_to_smtp_are_most():
    usable = [b for b in BLOCKS
              if any(line.split()[0] in ("2", "3") for line in b[2])]
    assert len(usable) == 32 or not BLOCKS
