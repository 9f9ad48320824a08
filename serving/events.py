"""Structured events of `tfkit serve`: one log line per lifecycle event, and with `--tfkit_access_log` one
per request, so an operator can follow a rollout in the logs and join it with the metrics.

    event          fields                                         written by
    model_version  model, version, state[, error_code, error]     every version state change (manager)
    config_reload  models                                         a model list replaces the current one
    drain          seconds                                        SIGTERM / SIGINT: stop accepting, drain
    stopped        -                                              the server exits
    request        model, api, entrypoint, status, latency_ms     each counted request (DataPlane.serve)

`state` is TF Serving's ModelVersionStatus state (START, LOADING, AVAILABLE, UNLOADING, END); a failed
load is `END` with `error_code` and `error`. Field values equal the metric labels they join with:
`model` = `model_name`, `api` = `API`, `entrypoint`, `status` = `status` (serving/metrics.py).

Lines go to stderr: one JSON object per line when stderr is not a terminal (a container, a pipe, a log
collector), `<time> <event> key=value ...` text on a terminal. Without `configure()` (in-process use,
tests) the events are ordinary records of the `tfkit.events` logger.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from serving.status import ServingError
from serving.types import State

EVENTS = logging.getLogger("tfkit.events")
ACCESS = logging.getLogger("tfkit.access")
_FIELDS = "tfkit_fields"


def _timestamp(record: logging.LogRecord) -> str:
    return (
        datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(getattr(record, _FIELDS, {}))


class JsonFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "event": ..., <fields>}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": _timestamp(record), "level": record.levelname, "event": record.msg, **_fields(record)}
        return json.dumps(line, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """`<ts> <LEVEL> <event> key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{key}={json.dumps(value, default=str)}" for key, value in _fields(record).items())
        return f"{_timestamp(record)} {record.levelname} {record.msg} {pairs}".rstrip()


def configure(access_log: bool = False, stream: TextIO | None = None) -> None:
    """Send events (and, with `access_log`, request lines) to `stream` (stderr): JSON unless a terminal."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter() if out.isatty() else JsonFormatter())
    for logger, enabled in ((EVENTS, True), (ACCESS, access_log)):
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO if enabled else logging.CRITICAL + 1)


def emit(event: str, level: int = logging.INFO, logger: logging.Logger = EVENTS, **fields: Any) -> None:
    """One event line (fields with value None are left out)."""
    if logger.isEnabledFor(level):
        kept = {key: value for key, value in fields.items() if value is not None}
        logger.log(level, event, extra={_FIELDS: kept})


def version_state(model: str, version: int, state: State, error: ServingError | None = None) -> None:
    """A version entered `state`; END with an error is a failed load (WARNING)."""
    emit(
        "model_version",
        logging.WARNING if error is not None else logging.INFO,
        model=model,
        version=version,
        state=state.name,
        error_code=error.code.name if error is not None else None,
        error=error.message if error is not None else None,
    )


def config_reload(models: list[str]) -> None:
    emit("config_reload", models=models)


def drain(seconds: float) -> None:
    emit("drain", seconds=seconds)


def stopped() -> None:
    emit("stopped")


def request(model: str, api: str, entrypoint: str, status: str, seconds: float) -> None:
    """One finished request (only when the access log is on). DataPlane.serve calls it right where it
    counts the request in `:tensorflow:serving:request_count`, so the two agree line for line."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    emit(
        "request",
        logger=ACCESS,
        model=model,
        api=api,
        entrypoint=entrypoint,
        status=status,
        latency_ms=round(seconds * 1000, 3),
    )
