"""`python -m tfkit ...` runs the `tfkit` command."""

from tfkit.cli import main

raise SystemExit(main())
