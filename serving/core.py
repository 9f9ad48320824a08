"""`start_core(settings)`: everything behind the ports — metrics, model manager, batcher, DataPlane.

It returns only once every initial model's aspired versions are AVAILABLE (upstream opens its ports
after that), else raises `StartupError("Failed to start server. Error: ...")`. With
`--model_config_file_poll_wait_seconds > 0` a watcher re-reads `--model_config_file` and reloads the
model list (a file that fails to parse or load is logged and the old config kept, as upstream).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from serving.batching import BatchScheduler
from serving.dataplane import DataPlane
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.settings import ServerSettings
from serving.status import ServingError
from serving.types import ModelConfig

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The initial load failed; the message is upstream's `Failed to start server. Error: ...`."""


class Core:
    """The running core: adapters use `dataplane`, `metrics` and `settings`; `shutdown()` stops it."""

    def __init__(
        self,
        settings: ServerSettings,
        metrics: Metrics,
        manager: ModelManager,
        executor: ThreadPoolExecutor,
        scheduler: BatchScheduler | None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.manager = manager
        self.dataplane = DataPlane(manager, executor, scheduler, metrics)
        self._executor = executor
        self._scheduler = scheduler
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def watch_config_file(self) -> None:
        """Poll `--model_config_file` every `--model_config_file_poll_wait_seconds` (if both are set)."""
        interval = self.settings.model_config_file_poll_wait_seconds
        if not self.settings.model_config_file or interval <= 0 or self._watcher is not None:
            return
        self._watcher = threading.Thread(
            target=self._watch, args=(float(interval),), daemon=True, name="tfkit-config-poll"
        )
        self._watcher.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.reload_config_file()

    def reload_config_file(self) -> bool:
        """Re-read `--model_config_file` and apply it if it changed; False (old config kept, error logged)
        when it does not parse or the reload fails."""
        from serving.config import read_model_config_file

        path = self.settings.model_config_file
        try:
            configs = read_model_config_file(path, self.settings.path_map)
            if not _same(configs, self.manager.configs()):
                log.info("Model config file %s changed; reloading", path)
                self.manager.reload(configs)
        except ServingError as err:
            log.error("Keeping the current model config: %s: %s", path, err.message)
            return False
        return True

    async def shutdown(self) -> None:
        """Stop the config watcher, the poller and the thread pools (in-flight calls finish)."""
        self._stop.set()
        await self.dataplane.close()
        if self._scheduler is not None:
            self._scheduler.shutdown()
        await asyncio.to_thread(self.manager.close)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _same(a: list[ModelConfig], b: list[ModelConfig]) -> bool:
    return sorted(a, key=lambda c: c.name) == sorted(b, key=lambda c: c.name)


def _initial_models(settings: ServerSettings) -> list[ModelConfig]:
    if settings.models:
        return list(settings.models)
    if settings.model_config_file:
        from serving.config import read_model_config_file

        return read_model_config_file(settings.model_config_file, settings.path_map)
    if settings.model_base_path:
        from serving.config import single_model_config

        return single_model_config(settings.model_name, settings.model_base_path, settings.path_map)
    return []


def _make_scheduler(settings: ServerSettings, metrics: Metrics) -> BatchScheduler | None:
    if settings.batching is None:
        return None
    return BatchScheduler(settings.batching, metrics)


async def start_core(settings: ServerSettings) -> Core:
    """Load every initial model and return the running core, or raise StartupError."""
    metrics = Metrics(
        settings.batching.thread_pool_name if settings.batching else "model_server_batch_threads"
    )
    manager = ModelManager(settings, metrics)
    executor = ThreadPoolExecutor(
        max_workers=max(4, 2 * (os.cpu_count() or 1)), thread_name_prefix="tfkit-run"
    )
    try:
        configs = _initial_models(settings)
        await asyncio.to_thread(manager.start, configs)
        scheduler = _make_scheduler(settings, metrics)
    except ServingError as err:
        manager.close()
        executor.shutdown(wait=False)
        raise StartupError(f"Failed to start server. Error: {err.code.name}: {err.message}") from err
    core = Core(settings, metrics, manager, executor, scheduler)
    core.watch_config_file()
    return core
