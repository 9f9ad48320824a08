"""grpc.aio servicers: tensorflow.serving.PredictionService and ModelService over the shared DataPlane.

Each RPC turns its protobuf request into a protocol-neutral value (serving.types), calls the DataPlane,
and builds the protobuf response with the *effective* model_spec (resolved version, signature name).
Errors are ServingErrors; the gRPC code is `grpc.StatusCode[err.code.name]` (the one table in
serving.status) and messages are truncated like upstream's grpc_status_util.cc.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.core import Core
from serving.examples import serialized_examples
from serving.grpc.codec import TensorParseError, fill_tensor_proto, numpy_from_tensor_proto
from serving.status import Code, InvalidArgument, ServingError, truncate_for_grpc
from serving.types import (
    CallContext,
    ClassifyResponse,
    ExamplesRequest,
    InferenceTask,
    ModelSpec,
    MultiInferenceRequest,
    PredictRequest,
    RegressResponse,
    ResolvedSpec,
)

log = logging.getLogger(__name__)
Resp = TypeVar("Resp")
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
RELOAD_UNSUPPORTED = (
    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
    "Only ModelConfigList is currently supported"
)


def spec_from_proto(request: Any) -> ModelSpec:
    """ModelSpec of a request (version wrapper or version_label; `Missing ModelSpec` when absent)."""
    if not request.HasField("model_spec"):
        raise InvalidArgument("Missing ModelSpec")
    return spec_from_model_spec(request.model_spec)


def spec_from_model_spec(ms: model_pb2.ModelSpec) -> ModelSpec:
    choice = ms.WhichOneof("version_choice")
    return ModelSpec(
        name=ms.name,
        version=int(ms.version.value) if choice == "version" else None,
        label=ms.version_label if choice == "version_label" else None,
        signature_name=ms.signature_name,
    )


def fill_model_spec(target: model_pb2.ModelSpec, spec: ResolvedSpec, with_signature: bool = True) -> None:
    """The effective spec echoed in responses (a version_label is not echoed, as upstream)."""
    target.name = spec.name
    target.version.value = spec.version
    if with_signature:
        target.signature_name = spec.signature_name


def _label(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def fill_classification(target: classification_pb2.ClassificationResult, resp: ClassifyResponse) -> None:
    for classes in resp.classifications:
        entry = target.classifications.add()
        for label, score in classes:
            entry.classes.add(label=_label(label), score=score)


def fill_regression(target: regression_pb2.RegressionResult, resp: RegressResponse) -> None:
    for value in resp.values:
        target.regressions.add(value=value)


class _Rpc:
    """Shared RPC plumbing: deadline -> CallContext, ServingError -> status, request metrics."""

    def __init__(self, core: Core) -> None:
        self.dataplane = core.dataplane
        self.metrics = core.metrics
        self.core = core

    async def run(
        self,
        api: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        call: Callable[[CallContext], Awaitable[Resp]],
    ) -> Resp:
        start = time.perf_counter()
        remaining = context.time_remaining()
        ctx = CallContext("GRPC", None if remaining is None else time.monotonic() + remaining)
        model = request.model_spec.name if hasattr(request, "model_spec") else ""
        code = Code.OK
        try:
            return await call(ctx)
        except asyncio.CancelledError:  # the client went away (or its deadline passed) mid-call
            code = Code.CANCELLED
            raise
        except ServingError as err:
            code = err.code
            message = err.message
        except Exception as err:  # a bug must not take the server down
            log.exception("Internal error in %s", api)
            code, message = Code.INTERNAL, f"Internal error: {err}"
        finally:
            self.metrics.observe_request(model, api, "GRPC", code.name, time.perf_counter() - start)
        await context.abort(grpc.StatusCode[code.name], truncate_for_grpc(message))
        raise AssertionError("unreachable: abort raises")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer, _Rpc):
    """tensorflow.serving.PredictionService."""

    async def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        async def call(ctx: CallContext) -> predict_pb2.PredictResponse:
            spec = spec_from_proto(request)
            inputs = {}
            for alias, proto in request.inputs.items():
                try:
                    inputs[alias] = numpy_from_tensor_proto(proto)
                except TensorParseError:
                    raise InvalidArgument(f"tensor parsing error: {alias}") from None
            result = await self.dataplane.predict(
                PredictRequest(spec, inputs, tuple(request.output_filter)), ctx
            )
            response = predict_pb2.PredictResponse()
            fill_model_spec(response.model_spec, result.spec)
            for alias, arr in result.outputs.items():
                fill_tensor_proto(response.outputs[alias], arr, typed_fields=True)
            return response

        return await self.run("Predict", request, context, call)

    async def Classify(
        self, request: classification_pb2.ClassificationRequest, context: grpc.aio.ServicerContext
    ) -> classification_pb2.ClassificationResponse:
        async def call(ctx: CallContext) -> classification_pb2.ClassificationResponse:
            examples = ExamplesRequest(spec_from_proto(request), serialized_examples(request.input))
            result = await self.dataplane.classify(examples, ctx)
            response = classification_pb2.ClassificationResponse()
            fill_model_spec(response.model_spec, result.spec)
            fill_classification(response.result, result)
            return response

        return await self.run("Classify", request, context, call)

    async def Regress(
        self, request: regression_pb2.RegressionRequest, context: grpc.aio.ServicerContext
    ) -> regression_pb2.RegressionResponse:
        async def call(ctx: CallContext) -> regression_pb2.RegressionResponse:
            examples = ExamplesRequest(spec_from_proto(request), serialized_examples(request.input))
            result = await self.dataplane.regress(examples, ctx)
            response = regression_pb2.RegressionResponse()
            fill_model_spec(response.model_spec, result.spec)
            fill_regression(response.result, result)
            return response

        return await self.run("Regress", request, context, call)

    async def MultiInference(
        self, request: inference_pb2.MultiInferenceRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.MultiInferenceResponse:
        async def call(ctx: CallContext) -> inference_pb2.MultiInferenceResponse:
            tasks = [InferenceTask(spec_from_proto(t), t.method_name) for t in request.tasks]
            result = await self.dataplane.multi_inference(
                MultiInferenceRequest(tasks, serialized_examples(request.input)), ctx
            )
            response = inference_pb2.MultiInferenceResponse()
            for item in result.results:
                out = response.results.add()
                fill_model_spec(out.model_spec, item.spec)
                if isinstance(item, ClassifyResponse):
                    fill_classification(out.classification_result, item)
                else:
                    fill_regression(out.regression_result, item)
            return response

        return await self.run("MultiInference", request, context, call)

    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        async def call(ctx: CallContext) -> get_model_metadata_pb2.GetModelMetadataResponse:
            del ctx
            metadata = self.dataplane.metadata(spec_from_proto(request), list(request.metadata_field))
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            fill_model_spec(response.model_spec, metadata.spec, with_signature=False)
            packed = response.metadata["signature_def"]
            packed.type_url = SIGNATURE_DEF_MAP_URL
            packed.value = metadata.signature_def_map
            return response

        return await self.run("GetModelMetadata", request, context, call)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer, _Rpc):
    """tensorflow.serving.ModelService."""

    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        async def call(ctx: CallContext) -> get_model_status_pb2.GetModelStatusResponse:
            del ctx
            statuses = self.dataplane.status(spec_from_proto(request))
            response = get_model_status_pb2.GetModelStatusResponse()
            for s in statuses:
                entry = response.model_version_status.add(version=s.version, state=int(s.state))
                entry.status.error_code = int(s.error_code)
                entry.status.error_message = s.error_message
            return response

        return await self.run("GetModelStatus", request, context, call)

    async def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.aio.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        async def call(ctx: CallContext) -> model_management_pb2.ReloadConfigResponse:
            del ctx
            from serving.config import model_configs_from_proto

            if request.config.WhichOneof("config") != "model_config_list":
                raise InvalidArgument(RELOAD_UNSUPPORTED)
            configs = model_configs_from_proto(request.config, self.core.settings.path_map)
            await self.dataplane.reload_config(configs)
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = int(Code.OK)
            return response

        return await self.run("HandleReloadConfigRequest", request, context, call)


def add_services(server: grpc.aio.Server, core: Core) -> None:
    """Register PredictionService and ModelService on `server`."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(core), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), server)
