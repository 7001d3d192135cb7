"""Reading the files users point a plugin at (a message, a key, a zones file,
standard input): never more than a stated size, so ``/dev/zero`` or a huge
file ends in a plain error instead of eating memory."""

from __future__ import annotations

import sys
from collections.abc import Iterator

MiB = 1 << 20


class TooLarge(ValueError):
    """The file holds more than the limit allows."""


def read(path: str, limit: int) -> bytes:
    """The file's bytes (``-`` for standard input), at most ``limit`` of them.

    Raises OSError when the file cannot be read and TooLarge when it holds
    more; neither message quotes the content.
    """
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"larger than {size(limit)}")
    return data


def entries(text: str) -> Iterator[tuple[int, str]]:
    """The lines of a list file that say something, with their numbers:
    ``#`` comments (whole lines or after an entry) and blank lines skipped."""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            yield number, line


def size(octets: int) -> str:
    return f"{octets // MiB} MiB" if octets >= MiB and octets % MiB == 0 else f"{octets} bytes"
