"""The ``gilt`` subcommands. Each module exposes ``add_arguments(parser)`` and
``run(args) -> int`` and is imported only when its subcommand is chosen (``gilt/cli.py``)."""
