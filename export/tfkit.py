"""Kept for `python -m export.tfkit` callers (serving/launcher.py); the entry point is tfkit/cli.py."""

from tfkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
