"""`tfkit` subcommands of the clients package (placeholder: filled in by its issue)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this package's subcommands to the `tfkit` parser."""
    del sub
