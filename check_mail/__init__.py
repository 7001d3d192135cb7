"""check-mail: the library behind the check_* monitoring plugins.

Kept empty on purpose: a plugin's ``--version`` and ``--help`` import this
package, so nothing heavy may be imported here.
"""

__version__ = "0.1.0"


def version_line(prog: str) -> str:
    """What ``--version`` prints: "check_rbl (check-mail) 0.1.0"."""
    return f"{prog} (check-mail) {__version__}"
