"""The `tfkit` command (`tfkit.cli:main`): one entry point over the export, serving and clients packages."""
