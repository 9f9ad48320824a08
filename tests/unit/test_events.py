"""serving/events.py: one structured line per lifecycle event (JSON off a terminal, text on one), the
access log only when asked for, one line per request the metrics count, and a rollout followed in the
events of a real ModelManager (v1 AVAILABLE, a corrupt v2 END with its error, v3 replacing v1)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from serving import events
from serving.dataplane import DataPlane
from serving.flags import parse_flags
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.settings import ServerSettings
from serving.status import InvalidArgument, Unavailable
from serving.types import CallContext, ModelConfig, State
from tests.unit.core_savedmodels import add_corrupt_version, add_version


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in (events.EVENTS, events.ACCESS)]
    yield
    for logger, handlers, propagate, level in saved:
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lifecycle_events_are_json_lines_off_a_terminal() -> None:
    out = io.StringIO()
    events.configure(stream=out)
    events.config_reload(["ctr", "linear"])
    events.version_state("linear", 2, State.AVAILABLE)
    events.version_state("linear", 3, State.END, Unavailable("bad SavedModel"))
    events.drain(10.0)
    events.stopped()
    got = lines(out)
    assert [{k: v for k, v in line.items() if k != "ts"} for line in got] == [
        {"level": "INFO", "event": "config_reload", "models": ["ctr", "linear"]},
        {"level": "INFO", "event": "model_version", "model": "linear", "version": 2, "state": "AVAILABLE"},
        {
            "level": "WARNING",
            "event": "model_version",
            "model": "linear",
            "version": 3,
            "state": "END",
            "error_code": "UNAVAILABLE",
            "error": "bad SavedModel",
        },
        {"level": "INFO", "event": "drain", "seconds": 10.0},
        {"level": "INFO", "event": "stopped"},
    ]
    assert all(line["ts"].endswith("Z") and "T" in line["ts"] for line in got)


def test_text_on_a_terminal() -> None:
    out = Terminal()
    events.configure(stream=out)
    events.version_state("ctr", 1, State.LOADING)
    (line,) = out.getvalue().splitlines()
    assert line.endswith(' INFO model_version model="ctr" version=1 state="LOADING"')


def test_access_log_is_off_unless_asked_for() -> None:
    out = io.StringIO()
    events.configure(stream=out)
    events.request("linear", "predict", "REST", "OK", 0.0015)
    assert out.getvalue() == ""
    events.configure(access_log=True, stream=out)
    events.request("linear", "predict", "REST", "OK", 0.0015)
    (line,) = lines(out)
    assert line | {"ts": ""} == {
        "ts": "",
        "level": "INFO",
        "event": "request",
        "model": "linear",
        "api": "predict",
        "entrypoint": "REST",
        "status": "OK",
        "latency_ms": 1.5,
    }


def test_one_access_line_per_request_the_metrics_count() -> None:
    """DataPlane.serve writes the access line where it counts the request: REST and gRPC Predict /
    Classify / Regress, every status; gRPC calls upstream does not count (GetModelMetadata) log nothing."""
    out = io.StringIO()
    events.configure(access_log=True, stream=out)
    metrics = Metrics()
    with ThreadPoolExecutor(1) as executor:
        plane = DataPlane(ModelManager(ServerSettings(), metrics), executor, metrics=metrics)

        async def ok(ctx: CallContext) -> str:
            return "ok"

        async def bad(ctx: CallContext) -> str:
            raise InvalidArgument("bad input")

        async def calls() -> None:
            assert await plane.serve(CallContext("GRPC", "Predict", "ctr"), ok) == "ok"
            with pytest.raises(InvalidArgument):
                await plane.serve(CallContext("GRPC", "Predict", "ctr"), bad)
            await plane.serve(CallContext("REST", "", "ctr"), ok)  # REST GET (status, metadata)
            await plane.serve(CallContext("GRPC", "GetModelMetadata", "ctr"), ok)  # not counted

        asyncio.run(calls())
    logged = Counter((e["model"], e["status"]) for e in lines(out))
    assert [(e["api"], e["entrypoint"], e["status"]) for e in lines(out)] == [
        ("Predict", "GRPC", "OK"),
        ("Predict", "GRPC", "INVALID_ARGUMENT"),
        ("", "REST", "OK"),
    ]
    counted = re.findall(
        r'^:tensorflow:serving:request_count\{model_name="([^"]*)",status="([^"]*)"\} (\d+)$',
        metrics.render().decode(),
        re.MULTILINE,
    )
    assert logged == {("ctr", "OK"): 2, ("ctr", "INVALID_ARGUMENT"): 1}
    assert {(model, status): int(n) for model, status, n in counted} == logged


def test_access_log_off_writes_nothing_for_counted_requests() -> None:
    out = io.StringIO()
    events.configure(stream=out)
    metrics = Metrics()
    with ThreadPoolExecutor(1) as executor:
        plane = DataPlane(ModelManager(ServerSettings(), metrics), executor, metrics=metrics)

        async def ok(ctx: CallContext) -> None:
            return None

        asyncio.run(plane.serve(CallContext("REST", "predict", "linear"), ok))
    assert out.getvalue() == ""
    page = metrics.render().decode()
    assert ':tensorflow:serving:request_count{model_name="linear",status="OK"} 1\n' in page


def test_flag_sets_the_setting(tmp_path: Path) -> None:
    base = f"--model_base_path={tmp_path}"
    assert parse_flags([base]).tfkit_access_log is False
    assert parse_flags([base, "--tfkit_access_log"]).tfkit_access_log is True
    assert parse_flags([base, "--tfkit_access_log=false"]).tfkit_access_log is False


def test_a_rollout_can_be_followed_in_the_events(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = tmp_path / "half"
    add_version(base, 1)
    manager = ModelManager(ServerSettings(file_system_poll_wait_seconds=1, max_num_load_retries=0), Metrics())
    caplog.set_level(logging.INFO, logger=events.EVENTS.name)

    def seen() -> list[tuple[Any, ...]]:
        found = []
        for record in caplog.records:
            fields = getattr(record, "tfkit_fields", {})
            if record.msg == "model_version":
                found.append((fields["version"], fields["state"], "error" in fields))
            elif record.msg == "config_reload":
                found.append(("reload", tuple(fields["models"])))
        return found

    def wait_for(entry: tuple[Any, ...]) -> None:
        deadline = time.monotonic() + 60
        while entry not in seen():
            assert time.monotonic() < deadline, seen()
            time.sleep(0.02)

    try:
        manager.start([ModelConfig(name="half", base_path=str(base))])
        add_corrupt_version(base, 2)
        wait_for((2, "END", True))
        add_version(base, 3)
        wait_for((1, "END", False))
    finally:
        manager.close()
    log = seen()
    assert log[:4] == [
        ("reload", ("half",)),
        (1, "START", False),
        (1, "LOADING", False),
        (1, "AVAILABLE", False),
    ]
    assert log[4:] == [
        (2, "START", False),
        (2, "LOADING", False),
        (2, "END", True),
        (3, "START", False),
        (3, "LOADING", False),
        (3, "AVAILABLE", False),
        (1, "UNLOADING", False),
        (1, "END", False),
    ]
