"""The words outcomes are given in, shared by the library and the checks.

Library modules say what they found as string enums (a DNS :class:`Status`,
a blocklist :class:`Verdict`, an SPF result...) built on :class:`Word`, so an
outcome prints as itself and compares with the plain string. Where the
library already knows how bad something is (a failed MX lookup means we do
not know; a null MX means the domain takes no mail), it says so with a
:class:`Finding` at a :class:`Level`; the scaffolding turns levels into
plugin states. Nothing here knows Nagios.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Word(str, enum.Enum):
    """A string enum whose str() is its value, on every Python we support."""

    def __str__(self) -> str:
        return str(self.value)


class Level(Word):
    """How bad a finding is; ordered, so max() gives the worst."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Level.OK: 0, Level.WARNING: 1, Level.CRITICAL: 2, Level.UNKNOWN: 3}


class Finding(NamedTuple):
    """One thing found about the checked object, in words, with how bad it is.

    (A NamedTuple, not a dataclass: the checks import it for --help, and
    dataclasses costs milliseconds of start-up.)"""

    level: Level
    text: str


def worst(findings: list[Finding]) -> Level:
    """The worst level among the findings; OK when there are none.

    UNKNOWN ranks above CRITICAL, as in the plugin API's exit codes: a
    check that cannot tell must not be read as a lesser problem.
    """
    return max((f.level for f in findings), key=lambda level: level.rank, default=Level.OK)
