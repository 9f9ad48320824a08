"""The protocol-neutral core that owns each request, for both transports and both run paths.

`DataPlane.serve(ctx, work)` is the one place a request's outcome is recorded: it times the call, maps
any unexpected exception to INTERNAL with a fixed message (the traceback goes to the log, never to the
client) and records `request_count` / `request_latency` as upstream's transports do
(model_servers/http_server.cc counts every REST request under /v1; prediction_service_impl.cc counts only
gRPC Predict, Classify and Regress; latency only for OK). Adapters parse their wire format, call
`serve` with the API they want, and format the result or the ServingError.

Each inference API resolves the servable ONCE, types the inputs against that servable's signature,
validates, and runs on that same servable (through `serving.execution`: the thread pool, or the batch
queue when batching is on), honouring the deadline in the CallContext (DEADLINE_EXCEEDED after it).
Checks and texts are TF Serving's (contract §2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from serving import events
from serving.batching import BatchScheduler
from serving.examples import classification_results, regression_results
from serving.execution import Execution
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD, Servable, SignatureRunner, select_outputs
from serving.status import Code, DeadlineExceeded, Internal, InvalidArgument, ServingError
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
    Tensors,
    VersionStatus,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
SIGNATURE_DEF_FIELD = "signature_def"
DEADLINE_TEXT = "Deadline Exceeded"
# What a client sees for a bug in the server; the traceback is logged.
INTERNAL_TEXT = "Internal error while serving the request; see the server log"
# gRPC methods whose outcome upstream records (prediction_service_impl.cc); REST records every request.
COUNTED_GRPC_APIS = frozenset({"Predict", "Classify", "Regress"})


class DataPlane:
    """One instance per server, shared by the REST and gRPC adapters."""

    def __init__(
        self,
        manager: ModelManager,
        executor: ThreadPoolExecutor,
        scheduler: BatchScheduler | None = None,
        metrics: Metrics | None = None,
        per_model_batching: bool = False,
    ) -> None:
        self._manager = manager
        self._metrics = metrics
        self._execution = Execution(executor, scheduler, metrics, per_model_batching, manager.is_serving)

    # -- The request lifecycle -----------------------------------------------------------------------

    async def serve(self, ctx: CallContext, work: Callable[[CallContext], Awaitable[T]]) -> T:
        """Run one request's `work`; raises ServingError (INTERNAL for anything unexpected)."""
        started = time.perf_counter()
        code = Code.OK
        try:
            return await work(ctx)
        except asyncio.CancelledError:  # the client went away (or its deadline passed) mid-call
            code = Code.CANCELLED
            raise
        except ServingError as err:
            code = err.code
            raise
        except Exception:  # a bug must not take the server down, nor reach the client
            log.exception("Internal error serving %s %s (model %r)", ctx.entrypoint, ctx.api, ctx.model)
            code = Code.INTERNAL
            raise Internal(INTERNAL_TEXT) from None
        finally:
            if self._metrics is not None and (ctx.entrypoint == "REST" or ctx.api in COUNTED_GRPC_APIS):
                self._metrics.observe_request(
                    ctx.model, ctx.api, ctx.entrypoint, code.name, time.perf_counter() - started
                )
                events.request(ctx.model, ctx.api, ctx.entrypoint, code.name, time.perf_counter() - started)

    def render_metrics(self) -> bytes:
        """The Prometheus page (empty without metrics)."""
        return self._metrics.render() if self._metrics is not None else b""

    # -- Inference -----------------------------------------------------------------------------------

    async def predict(self, req: PredictRequest, ctx: CallContext) -> PredictResponse:
        servable = self._manager.resolve(req.spec)
        key = req.spec.signature_name or DEFAULT_SIGNATURE
        inputs = req.inputs
        if req.decode is not None:  # http_rest_api_handler.cc GetInfoMap, on the servable that runs
            info = servable.signatures.get(key)
            if info is None:
                raise InvalidArgument(f'Serving signature name: "{key}" not found in signature def')
            inputs = await req.decode(info)
        runner = servable.prepare_predict(key, inputs, req.output_filter)
        if req.output_filter and set(req.output_filter) != set(runner.info.outputs):
            # Fetching a subset of outputs matches no batching signature: run directly, as upstream.
            outputs = await _within(
                ctx, lambda: self._execution.direct(servable.name, "Predict", runner.run, inputs)
            )
        else:
            outputs = await _within(
                ctx, lambda: self._execution.run(servable, key, "Predict", runner.run, inputs)
            )
        return PredictResponse(
            ResolvedSpec(req.spec.name, servable.version, key),
            select_outputs(dict(outputs), req.output_filter),
        )

    async def classify(self, req: ExamplesRequest, ctx: CallContext) -> ClassifyResponse:
        servable = self._manager.resolve(req.spec)
        key = req.spec.signature_name or DEFAULT_SIGNATURE
        if self._execution.batching(servable):
            runner = servable.examples_runner(key, "classify")
            outputs = await self._run_examples(ctx, servable, key, "Classify", runner, req.examples)
            results = classification_results(runner.info, outputs, len(req.examples))
        else:
            results = await _within(
                ctx,
                lambda: self._execution.direct(
                    servable.name, "Classify", servable.classify, key, req.examples
                ),
            )
        return ClassifyResponse(ResolvedSpec(req.spec.name, servable.version, key), results)

    async def regress(self, req: ExamplesRequest, ctx: CallContext) -> RegressResponse:
        servable = self._manager.resolve(req.spec)
        key = req.spec.signature_name or DEFAULT_SIGNATURE
        if self._execution.batching(servable):
            runner = servable.examples_runner(key, "regress")
            outputs = await self._run_examples(ctx, servable, key, "Regress", runner, req.examples)
            values = regression_results(outputs, len(req.examples))
        else:
            values = await _within(
                ctx,
                lambda: self._execution.direct(servable.name, "Regress", servable.regress, key, req.examples),
            )
        return RegressResponse(ResolvedSpec(req.spec.name, servable.version, key), values)

    async def _run_examples(
        self,
        ctx: CallContext,
        servable: Servable,
        key: str,
        api: str,
        runner: SignatureRunner,
        examples: Sequence[bytes],
    ) -> Tensors:
        """The batched Classify/Regress run: the serialized examples as the signature's one input."""
        if not examples:
            raise InvalidArgument("Input is empty.")
        batch = np.empty(len(examples), dtype=object)
        batch[:] = list(examples)
        feeds = {next(iter(runner.info.inputs)): batch}
        runner.check_dtypes(feeds)
        outputs = await _within(ctx, lambda: self._execution.run(servable, key, api, runner.run, feeds))
        return dict(outputs)

    async def multi_inference(self, req: MultiInferenceRequest, ctx: CallContext) -> MultiInferenceResponse:
        """All tasks on one model (the first task's version wins), classify/regress only, each signature
        once (multi_inference.cc); one direct run, which records `request_example_counts`."""
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
            ctx, lambda: self._execution.direct(name, "", servable.multi_inference, tasks, req.examples)
        )
        if self._metrics is not None:
            self._metrics.observe_examples(name, len(req.examples))
        responses: list[ClassifyResponse | RegressResponse] = []
        for task, result in zip(req.tasks, results, strict=True):
            spec = ResolvedSpec(name, servable.version, task.spec.signature_name or DEFAULT_SIGNATURE)
            if task.method_name == CLASSIFY_METHOD:
                responses.append(ClassifyResponse(spec, result))
            elif task.method_name == REGRESS_METHOD:
                responses.append(RegressResponse(spec, result))
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

    async def close(self) -> None:
        """Drain and stop every batch queue."""
        await self._execution.close()


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
