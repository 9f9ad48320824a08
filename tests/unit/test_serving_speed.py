"""Issue 12 behaviours that are not timing: cheap runs stay on the event loop, `--tfkit_workers` parsing,
the bare ASGI REST app (no framework in between)."""

from __future__ import annotations

import asyncio
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.execution import Execution
from serving.flags import FlagError, parse_flags
from serving.settings import WorkerSlot

BASE = "--model_base_path=/models/m"


def test_cheap_runs_move_inline_after_the_first_pool_run() -> None:
    seen: list[str] = []

    def run() -> str:
        seen.append(threading.current_thread().name)
        return "ok"

    async def main() -> list[str]:
        with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
            execution = Execution(pool)
            return [await execution.direct("m", "Predict", run) for _ in range(3)]

    assert asyncio.run(main()) == ["ok", "ok", "ok"]
    assert seen[0].startswith("pool")  # nothing known yet: the first run goes to the pool
    assert seen[1:] == [threading.main_thread().name] * 2  # then it runs on the loop's thread


def test_a_slow_model_keeps_running_on_the_pool() -> None:
    seen: list[str] = []
    release = threading.Event()

    def slow() -> None:
        seen.append(threading.current_thread().name)
        release.wait(0.01)  # blocks for 10 ms: above the inline bound, so never on the loop

    async def main() -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
            execution = Execution(pool)
            for _ in range(3):
                await execution.direct("m", "Predict", slow)

    asyncio.run(main())
    assert all(name.startswith("pool") for name in seen)


def test_tfkit_workers_flag() -> None:
    assert parse_flags([BASE]).tfkit_workers == 1
    settings = parse_flags([BASE, "--tfkit_workers=2"])
    assert settings.tfkit_workers == 2 and settings.worker is None
    with pytest.raises(FlagError, match="--tfkit_workers"):
        parse_flags([BASE, "--tfkit_workers=0"])


def test_settings_reach_spawned_workers() -> None:
    """The supervisor hands each worker its settings by pickling (multiprocessing spawn)."""
    import dataclasses

    settings = parse_flags([BASE, "--tfkit_workers=2", "--rest_api_port=8501"])
    slot = WorkerSlot(index=1, control_sockets=("/tmp/a.sock", "/tmp/b.sock"))
    worker = dataclasses.replace(settings, worker=slot)
    assert pickle.loads(pickle.dumps(worker)) == worker


def test_rest_app_is_bare_asgi() -> None:
    from serving.rest.app import RestApp, create_app

    class Plane:
        def render_metrics(self) -> bytes:
            return b""

    app = create_app(Plane(), parse_flags([BASE]))  # type: ignore[arg-type]
    assert type(app) is RestApp
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "raw_path": b"/x", "query_string": b"",
             "headers": []}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 404 and sent[1]["body"].startswith(b"<HTML>")  # type: ignore[union-attr]
    asyncio.run(app({"type": "lifespan"}, receive, send))  # ignored, no error
    assert len(sent) == 2


def test_bench_only_replaces_its_own_section() -> None:
    from bench.run import replace_section

    document = "# results\n\n## Export\n\na\n\n## Serving (old)\n\nold\n\n## Clients\n\nc\n"
    new = replace_section(document, "## Serving (tfkit serve)\n\nnew\n")
    assert new == "# results\n\n## Export\n\na\n\n## Serving (tfkit serve)\n\nnew\n\n## Clients\n\nc\n"
    assert replace_section("# r\n", "## Lite\n\nx\n") == "# r\n\n## Lite\n\nx\n"
