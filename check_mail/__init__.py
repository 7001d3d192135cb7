"""check-mail: the library behind the check_* monitoring plugins.

Kept empty on purpose: a plugin's ``--version`` and ``--help`` import this
package, so nothing heavy may be imported here.
"""

__version__ = "0.1.0"
