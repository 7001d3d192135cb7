"""A small DKIM signer for the demo: the simulated domain signs a message so
that check_dkim --message has real mail to verify. It reuses the verifier's
canonicalisation, so it proves nothing about it; the tests use dkimpy for that.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

from check_mail.dkim import canonical_body, parse_message, parse_tags, signed_data


def sign(data: bytes, domain: str, selector: str, key, signed_headers=("from", "to", "subject",
                                                                       "date")) -> bytes:
    """The message with a relaxed/relaxed DKIM-Signature on top."""
    algorithm = "ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa-sha256"
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    message = parse_message(data)
    body_hash = base64.b64encode(hashlib.sha256(canonical_body(message.body, True)).digest())
    header = (f"DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d={domain}; "
              f"s={selector}; h={':'.join(signed_headers)}; bh={body_hash.decode()}; b=")
    unsigned = parse_message(header.encode() + b"\r\n" + data)
    digest_input = signed_data(unsigned, 0, parse_tags(header.partition(":")[2]), True)
    if algorithm == "ed25519-sha256":
        signature = key.sign(hashlib.sha256(digest_input).digest())
    else:
        signature = key.sign(digest_input, padding.PKCS1v15(), hashes.SHA256())
    return (header + base64.b64encode(signature).decode()).encode() + b"\r\n" + data
