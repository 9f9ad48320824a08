"""`tfkit convert` in-process through its own parser (the convert tests' entry point)."""

from __future__ import annotations

import argparse

from export.convert.cli import register


def run_convert(*argv: str) -> int:
    """Parse `tfkit convert ARGV` and run it; the exit code."""
    parser = argparse.ArgumentParser(prog="tfkit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["convert", *argv])
    code: int = args.run(args)
    return code
