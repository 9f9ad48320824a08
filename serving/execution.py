"""Where a prepared signature run executes: the bounded thread pool, or the servable's batch queue.

This is the kit's counterpart of upstream wrapping the SavedModel session with a BatchingSession
(servables/tensorflow/bundle_factory_util.cc WrapSessionForBatching): with `--enable_batching` every
SignatureDef of a servable gets its own queue, and any run that feeds a signature's inputs and fetches
all of its outputs (Predict without an output filter, Classify, Regress) goes through it; other runs
(a Predict that filters outputs, MultiInference) bypass the batcher, as upstream's
`TensorSignatureFromRunArgs` lookup does.

With `enable_per_model_batching_parameters` (bundle_factory_util.cc GetPerModelBatchingParams) a
version directory's `batching_params.pbtxt` gives that servable's queue options, and a servable without
one is not batched at all.

Each run records `runtime_latency` (runtime "TF1"): the wall time of the session Run, which when
batched includes the time queued, as upstream's timing around `session->Run` does.

Cheap direct runs stay on the event loop: handing a call to a pool thread and back costs two thread
wake-ups and a GIL hand-over (~0.1 ms, as much as a small model's whole run; issue 12's profile), so a
(model, API) whose recent runs average under `INLINE_BELOW_S` runs inline. Its first run, and any run
once the average rises, goes to the bounded pool, so a slow model never blocks the loop for long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from serving.batching import Batcher, BatchScheduler, RunFn
from serving.metrics import Metrics
from serving.servable import Servable
from serving.settings import BatchingSettings

BATCHING_PARAMS_FILE = "batching_params.pbtxt"
Tensors = dict[str, np.ndarray]
# Runs averaging below this stay on the event loop (the loop is blocked at most this long per run).
INLINE_BELOW_S = 0.001
_EWMA_WEIGHT = 0.2


class Execution:
    """Runs blocking TensorFlow work for the DataPlane, batched or direct, and times it."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        scheduler: BatchScheduler | None = None,
        metrics: Metrics | None = None,
        per_model_batching: bool = False,
        is_serving: Callable[[Servable], bool] | None = None,
    ) -> None:
        self._executor = executor
        self._scheduler = scheduler
        self._metrics = metrics
        self._per_model = per_model_batching
        self._is_serving = is_serving or (lambda servable: True)
        self._batchers: dict[tuple[str, int, str], tuple[Servable, Batcher]] = {}
        self._params: dict[tuple[str, int], tuple[Servable, BatchingSettings | None]] = {}
        self._cost: dict[tuple[str, str], float] = {}  # (model, api) -> moving average run seconds

    async def run(
        self, servable: Servable, signature: str, api: str, run: RunFn, feeds: Mapping[str, np.ndarray]
    ) -> Mapping[str, np.ndarray]:
        """One run of `signature` on `feeds` (all outputs), through the batcher when batching is on."""
        batcher = self._batcher(servable, signature, run)
        if batcher is None:
            return await self.direct(servable.name, api, run, feeds)
        started = time.perf_counter()
        outputs = await batcher.submit(feeds)
        if self._metrics is not None:
            self._metrics.observe_runtime(servable.name, api, time.perf_counter() - started)
        return outputs

    async def direct(self, model: str, api: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` inline when cheap, else on the bounded pool, timing it as runtime_latency
        (`api` "" = not timed)."""
        metrics = self._metrics if api else None
        key = (model, api)
        cost = self._cost

        def timed() -> Any:
            started = time.perf_counter()
            try:
                return fn(*args)
            finally:
                elapsed = time.perf_counter() - started
                previous = cost.get(key)
                cost[key] = elapsed if previous is None else previous + _EWMA_WEIGHT * (elapsed - previous)
                if metrics is not None:
                    metrics.observe_runtime(model, api, elapsed)

        average = cost.get(key)
        if average is not None and average < INLINE_BELOW_S:
            return timed()
        return await asyncio.get_running_loop().run_in_executor(self._executor, timed)

    def batching(self, servable: Servable) -> bool:
        """Whether runs on `servable` are batched."""
        return self._settings_for(servable) is not None

    def _settings_for(self, servable: Servable) -> BatchingSettings | None:
        if self._scheduler is None:
            return None
        if not self._per_model:
            return self._scheduler.settings
        slot = (servable.name, servable.version)
        cached = self._params.get(slot)
        if cached is None or cached[0] is not servable:
            cached = (servable, _read_params(servable.path))
            self._params[slot] = cached
            self._forget_unserved()
        return cached[1]

    def _batcher(self, servable: Servable, signature: str, run: RunFn) -> Batcher | None:
        """The queue of (model, version, signature)."""
        settings = self._settings_for(servable)
        if settings is None or self._scheduler is None:
            return None
        slot = (servable.name, servable.version, signature)
        cached = self._batchers.get(slot)
        if cached is not None and cached[0] is servable:
            return cached[1]
        batcher = self._scheduler.batcher(servable.name, run, settings)
        self._batchers[slot] = (servable, batcher)
        self._forget_unserved()
        return batcher

    def _forget_unserved(self) -> None:
        """Drop the caches of versions no longer served (their batch queues drain, then stop), so that
        nothing here keeps an unloaded servable alive; runs on the loop when a new version is first seen."""
        for key, (owner, _) in list(self._params.items()):
            if not self._is_serving(owner):
                del self._params[key]
        for slot, (owner, stale) in list(self._batchers.items()):
            if not self._is_serving(owner):
                del self._batchers[slot]
                asyncio.get_running_loop().create_task(stale.close())

    async def close(self) -> None:
        """Drain and stop every batch queue."""
        batchers = [b for _, b in self._batchers.values()]
        self._batchers.clear()
        for batcher in batchers:
            await batcher.close()


def _read_params(version_dir: str) -> BatchingSettings | None:
    """The version's `batching_params.pbtxt` as BatchingSettings, or None (not batched) when absent."""
    path = Path(version_dir) / BATCHING_PARAMS_FILE
    if not path.is_file():
        return None
    from serving.config import read_batching_parameters_file

    return read_batching_parameters_file(str(path))
