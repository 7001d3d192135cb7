"""One module per plugin: its options, its Resource, contexts and Summary, its wording.

Each module has ``parser()``, ``build(args, deadline)`` and ``main()``; the
executable in ``plugins/`` only calls ``main()``. A check asks the library
(``check_mail/*.py``) for plain data and judges it through the scaffolding
(``check_mail/plugin.py``); it never imports nagiosplugin itself.
"""
