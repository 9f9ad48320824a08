"""Peers measured side by side with `tfkit serve` (`make bench-peers`); each peer runs in its own venv."""
