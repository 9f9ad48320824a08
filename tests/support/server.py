"""The live-server launcher the tests use: `serving.launcher`, re-exported under the name tests know."""

from serving.launcher import REPO, TFKIT, LiveServer, free_port, running_server, start_server

__all__ = ["REPO", "TFKIT", "LiveServer", "free_port", "running_server", "start_server"]
