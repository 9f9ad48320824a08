"""The `tfkit` command: one entry point; each package registers its own subcommands.

Registration imports only argparse-level code: TensorFlow and friends load inside the chosen command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from clients import cli as clients_cli
    from export import cli as export_cli
    from serving import cli as serving_cli

    parser = argparse.ArgumentParser(
        prog="tfkit",
        description="TensorFlow model-deployment kit: train, export, convert, serve, predict, bench.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export_cli.register(sub)
    serving_cli.register(sub)
    clients_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse argv, run the chosen subcommand (each sets `run`), return its exit code."""
    # TensorFlow's C++ INFO/WARNING lines drown the kit's own output; users can still set their own level.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
