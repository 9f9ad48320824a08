"""The protocol-neutral API both adapters call: resolution, Predict/Classify/Regress/MultiInference,
metadata, status and config reload, with TF Serving's checks and texts (contract §2).

Blocking TensorFlow work runs in one bounded thread pool (or in the batcher's), never on the event loop;
each call honours the deadline in its `CallContext` (DEADLINE_EXCEEDED when it passes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from serving.batching import Batcher, BatchScheduler, RunFn
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD, Servable, select_outputs
from serving.status import DeadlineExceeded, InvalidArgument
from serving.types import (
    DEFAULT_SIGNATURE,
    CallContext,
    ClassifyResponse,
    ExamplesRequest,
    ModelConfig,
    ModelMetadata,
    ModelSpec,
    MultiInferenceRequest,
    MultiInferenceResponse,
    PredictRequest,
    PredictResponse,
    RegressResponse,
    ResolvedSpec,
    SignatureInfo,
    VersionStatus,
)

T = TypeVar("T")
SIGNATURE_DEF_FIELD = "signature_def"
DEADLINE_TEXT = "Deadline Exceeded"


class DataPlane:
    """One instance per server, shared by the REST and gRPC adapters."""

    def __init__(
        self,
        manager: ModelManager,
        executor: ThreadPoolExecutor,
        scheduler: BatchScheduler | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._manager = manager
        self._executor = executor
        self._scheduler = scheduler
        self._metrics = metrics
        self._batchers: dict[tuple[str, int, str], tuple[Servable, Batcher]] = {}

    # -- Resolution ----------------------------------------------------------------------------------

    def resolve(self, spec: ModelSpec) -> tuple[ResolvedSpec, SignatureInfo]:
        """REST predict preflight: the served version and the signature's TensorInfos (for JSON dtypes)."""
        servable = self._manager.resolve(spec)
        key = spec.signature_name or DEFAULT_SIGNATURE
        runner = servable.runners.get(key)
        if runner is None:
            raise InvalidArgument(f'Serving signature name: "{key}" not found in signature def')
        return ResolvedSpec(spec.name, servable.version, key), runner.info

    # -- Inference -----------------------------------------------------------------------------------

    async def predict(self, req: PredictRequest, ctx: CallContext) -> PredictResponse:
        servable = self._manager.resolve(req.spec)
        key = req.spec.signature_name or DEFAULT_SIGNATURE
        runner = servable.prepare_predict(key, req.inputs, req.output_filter)
        if self._scheduler is not None:
            batcher = self._batcher(servable, key, runner.run)
            outputs = await _within(ctx, lambda: batcher.submit(req.inputs))
        else:
            outputs = await _within(
                ctx, lambda: self._in_pool(servable.name, "Predict", runner.run, req.inputs)
            )
        return PredictResponse(
            ResolvedSpec(req.spec.name, servable.version, key), select_outputs(outputs, req.output_filter)
        )

    async def classify(self, req: ExamplesRequest, ctx: CallContext) -> ClassifyResponse:
        servable = self._manager.resolve(req.spec)
        key = req.spec.signature_name or DEFAULT_SIGNATURE
        results = await _within(
            ctx, lambda: self._in_pool(servable.name, "Classify", servable.classify, key, req.examples)
        )
        return ClassifyResponse(ResolvedSpec(req.spec.name, servable.version, key), results)

    async def regress(self, req: ExamplesRequest, ctx: CallContext) -> RegressResponse:
        servable = self._manager.resolve(req.spec)
        key = req.spec.signature_name or DEFAULT_SIGNATURE
        values = await _within(
            ctx, lambda: self._in_pool(servable.name, "Regress", servable.regress, key, req.examples)
        )
        return RegressResponse(ResolvedSpec(req.spec.name, servable.version, key), values)

    async def multi_inference(self, req: MultiInferenceRequest, ctx: CallContext) -> MultiInferenceResponse:
        """All tasks on one model (the first task's version wins), classify/regress only, each signature
        once (multi_inference.cc)."""
        servable = self._manager.resolve(req.tasks[0].spec if req.tasks else ModelSpec(name=""))
        name = ""
        for task in req.tasks:
            if not task.spec.name:
                raise InvalidArgument("Found ModelSpec with an empty model name.")
            if name and task.spec.name != name:
                raise InvalidArgument(
                    "All ModelSpecs in a MultiInferenceRequest must access the same model name."
                )
            name = task.spec.name
        tasks = [(t.spec.signature_name, t.method_name) for t in req.tasks]
        results = await _within(
            ctx,
            lambda: self._in_pool(
                servable.name, "MultiInference", servable.multi_inference, tasks, req.examples
            ),
        )
        responses: list[ClassifyResponse | RegressResponse] = []
        for task, result in zip(req.tasks, results, strict=True):
            spec = ResolvedSpec(name, servable.version, task.spec.signature_name or DEFAULT_SIGNATURE)
            if task.method_name == CLASSIFY_METHOD:
                responses.append(ClassifyResponse(spec, result))  # type: ignore[arg-type]
            elif task.method_name == REGRESS_METHOD:
                responses.append(RegressResponse(spec, result))  # type: ignore[arg-type]
        return MultiInferenceResponse(responses)

    # -- Model service -------------------------------------------------------------------------------

    def metadata(self, spec: ModelSpec, fields: Sequence[str]) -> ModelMetadata:
        """get_model_metadata_impl.cc: at least one field; only `signature_def` is supported."""
        if not fields:
            raise InvalidArgument("GetModelMetadataRequest must specify at least one metadata_field")
        servable: Servable | None = None
        for field_name in fields:
            if field_name != SIGNATURE_DEF_FIELD:
                raise InvalidArgument(f"Metadata field {field_name} is not supported")
            servable = self._manager.resolve(spec)
        assert servable is not None
        return ModelMetadata(ResolvedSpec(spec.name, servable.version, ""), servable.signature_def_map)

    def status(self, spec: ModelSpec) -> list[VersionStatus]:
        """All versions (END ones included), descending; the label is ignored, as upstream."""
        return self._manager.status(spec.name, spec.version)

    async def reload_config(self, configs: list[ModelConfig]) -> None:
        """Replace the model list; returns once added models are AVAILABLE (raises if they fail)."""
        await asyncio.to_thread(self._manager.reload, configs)

    # -- Helpers -------------------------------------------------------------------------------------

    def _in_pool(self, model: str, api: str, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        """Run blocking TF work on the bounded pool, timing it as runtime_latency."""
        metrics = self._metrics

        def timed() -> T:
            started = time.perf_counter()
            result = fn(*args)
            if metrics is not None:
                metrics.observe_runtime(model, api, time.perf_counter() - started)
            return result

        return asyncio.get_running_loop().run_in_executor(self._executor, timed)

    def _batcher(self, servable: Servable, key: str, run: RunFn) -> Batcher:
        """The batch queue of (model, version, signature); queues of unloaded versions are dropped."""
        slot = (servable.name, servable.version, key)
        cached = self._batchers.get(slot)
        if cached is not None and cached[0] is servable:
            return cached[1]
        assert self._scheduler is not None
        batcher = self._scheduler.batcher(servable.name, run)
        self._batchers[slot] = (servable, batcher)
        for other, (owner, stale) in list(self._batchers.items()):
            if not self._manager.is_serving(owner):
                del self._batchers[other]
                asyncio.get_running_loop().create_task(stale.close())
        return batcher

    async def close(self) -> None:
        """Drain and stop every batch queue."""
        batchers = [b for _, b in self._batchers.values()]
        self._batchers.clear()
        for batcher in batchers:
            await batcher.close()


async def _within(ctx: CallContext, start: Callable[[], Awaitable[T]]) -> T:
    """Await `start()` until the context's monotonic deadline (DEADLINE_EXCEEDED after it)."""
    if ctx.deadline is None:
        return await start()
    remaining = ctx.deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded(DEADLINE_TEXT)
    try:
        async with asyncio.timeout(remaining):
            return await start()
    except TimeoutError:
        raise DeadlineExceeded(DEADLINE_TEXT) from None
