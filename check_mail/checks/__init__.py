"""One module per plugin: its options, its Resource, contexts and Summary, its wording.

Each module has ``parser()``, ``build(args, deadline)`` and ``main()``; the
executable in ``plugins/`` only calls :func:`run`, which calls ``main()``. A check asks the library
(``check_mail/*.py``) for plain data and judges it through the scaffolding
(``check_mail/plugin.py``); it never imports nagiosplugin itself.
"""


def run(name: str) -> None:
    """The executable's entry: ``check_<name>`` runs this package's <name>.

    A lone ``--version`` is answered before the check is imported (with
    nagiosplugin, argparse and the rest, some 35 ms), as argparse would
    answer it: the same line, exit 3.
    """
    import sys

    if sys.argv[1:] in (["--version"], ["-V"]):
        from check_mail import version_line

        sys.stdout.write(version_line(f"check_{name}") + "\n")
        sys.stdout.flush()
        raise SystemExit(3)
    import importlib

    importlib.import_module(f"check_mail.checks.{name}").main()
