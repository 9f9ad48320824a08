"""`start_core(settings)`: everything behind the ports — metrics, model manager, batcher, DataPlane.

It returns once the first version of every initial model settled AVAILABLE (upstream opens its ports
after that), else raises `StartupError("Failed to start server. Error: ...")`. With
`--model_config_file_poll_wait_seconds > 0` a watcher re-reads `--model_config_file` and reloads the
model list on every poll (a file that fails to read or to reload is logged, as upstream).
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
from serving.status import FailedPrecondition, ServingError
from serving.types import ModelConfig

log = logging.getLogger(__name__)
CANNOT_TRANSITION = (
    "Cannot transition to requested config. It is only legal to transition from one ModelConfigList to "
    "another."
)


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
        self.dataplane = DataPlane(
            manager, executor, scheduler, metrics, settings.enable_per_model_batching_parameters
        )
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
        """server.cc PollFilesystemAndReloadConfig: re-read `--model_config_file` and hand it to the
        manager on every poll, as upstream (labels are re-validated each time). A file that does not
        read, or a reload that fails, is logged and the current models stay; returns False then."""
        from serving.config import model_configs_from_proto, parse_model_server_config, read_text_file

        path = self.settings.model_config_file
        try:
            message = parse_model_server_config(read_text_file(path), path)
        except ServingError as err:
            log.error("Failed to read ModelServerConfig file: %s", err.message)
            return False
        try:
            if message.WhichOneof("config") != "model_config_list":
                raise FailedPrecondition(CANNOT_TRANSITION)
            self.manager.reload(model_configs_from_proto(message, self.settings.path_map))
        except ServingError as err:
            log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", err.message)
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


def apply_tensorflow_threads(settings: ServerSettings) -> None:
    """TF's intra/inter-op thread pools from the --tensorflow_*_parallelism flags (server.cc rules),
    set once before any model loads; 0 leaves TensorFlow's own choice."""
    intra, inter = settings.intra_op_threads, settings.inter_op_threads
    if not (intra or inter):
        return
    import tensorflow as tf

    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError as err:  # the TF runtime was already initialized in this process
        log.warning("TensorFlow thread pools not changed: %s", err)
        return
    log.info("TensorFlow threads: intra-op %s, inter-op %s", intra or "auto", inter or "auto")


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
        apply_tensorflow_threads(settings)
        await asyncio.to_thread(manager.start, configs)
        scheduler = _make_scheduler(settings, metrics)
    except ServingError as err:
        manager.close()
        executor.shutdown(wait=False)
        raise StartupError(f"Failed to start server. Error: {err.code.name}: {err.message}") from err
    core = Core(settings, metrics, manager, executor, scheduler)
    core.watch_config_file()
    return core
