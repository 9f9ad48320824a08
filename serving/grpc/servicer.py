"""grpc.aio servicers: tensorflow.serving.PredictionService and ModelService over the shared DataPlane.

Each RPC turns its protobuf request into a protocol-neutral value (serving.types), runs inside
`DataPlane.serve` (metrics and the catch-all INTERNAL live there), and builds the protobuf response with
the *effective* model_spec (resolved version, signature name). Errors are ServingErrors; the gRPC code
is `grpc.StatusCode[err.code.name]` (the one table in serving.status) and messages are truncated like
upstream's grpc_status_util.cc.
"""

from __future__ import annotations

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

from serving.dataplane import DataPlane
from serving.examples import serialized_examples
from serving.grpc.codec import fill_tensor_proto
from serving.grpc.messages import spec_from_model_spec, spec_from_proto, tensors_from_protos
from serving.settings import ServerSettings
from serving.status import Code, InvalidArgument, ServingError, truncate_for_grpc
from serving.types import (
    CallContext,
    ClassifyResponse,
    ExamplesRequest,
    InferenceTask,
    MultiInferenceRequest,
    PredictRequest,
    RegressResponse,
    ResolvedSpec,
)

Resp = TypeVar("Resp")
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
__all__ = ["add_services", "fill_model_spec", "spec_from_model_spec", "spec_from_proto"]
RELOAD_UNSUPPORTED = (
    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
    "Only ModelConfigList is currently supported"
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
    """Shared RPC plumbing: deadline -> CallContext, DataPlane.serve, ServingError -> status."""

    def __init__(self, dataplane: DataPlane, settings: ServerSettings) -> None:
        self.dataplane = dataplane
        self.settings = settings

    async def run(
        self,
        api: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        call: Callable[[CallContext], Awaitable[Resp]],
    ) -> Resp:
        remaining = context.time_remaining()
        ctx = CallContext(
            "GRPC",
            api=api,
            model=request.model_spec.name if hasattr(request, "model_spec") else "",
            deadline=None if remaining is None else time.monotonic() + remaining,
        )
        try:
            return await self.dataplane.serve(ctx, call)
        except ServingError as err:
            await context.abort(grpc.StatusCode[err.code.name], truncate_for_grpc(err.message))
        raise AssertionError("unreachable: abort raises")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer, _Rpc):
    """tensorflow.serving.PredictionService."""

    async def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        async def call(ctx: CallContext) -> predict_pb2.PredictResponse:
            spec = spec_from_proto(request)
            inputs = tensors_from_protos(request.inputs)
            result = await self.dataplane.predict(
                PredictRequest(spec, inputs, tuple(request.output_filter)), ctx
            )
            response = predict_pb2.PredictResponse()
            fill_model_spec(response.model_spec, result.spec)
            # predict_util.cc: typed fields, or tensor_content with --enable_serialization_as_tensor_content.
            typed_fields = not self.settings.enable_serialization_as_tensor_content
            for alias, arr in result.outputs.items():
                fill_tensor_proto(response.outputs[alias], arr, typed_fields=typed_fields)
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
            configs = model_configs_from_proto(request.config, self.settings.path_map)
            await self.dataplane.reload_config(configs)
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = int(Code.OK)
            worker = self.settings.worker
            if worker is not None and not _forwarded(context):  # --tfkit_workers: every worker reloads
                from serving.workers import forward_reload

                code, message = await forward_reload(worker, request)
                response.status.error_code, response.status.error_message = code, message
            return response

        return await self.run("HandleReloadConfigRequest", request, context, call)


def _forwarded(context: grpc.aio.ServicerContext) -> bool:
    from serving.workers import FANOUT_HEADER

    return any(key == FANOUT_HEADER for key, _ in context.invocation_metadata() or ())


def add_services(server: grpc.aio.Server, dataplane: DataPlane, settings: ServerSettings) -> None:
    """Register PredictionService and ModelService over `dataplane` on `server`."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(dataplane, settings), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(dataplane, settings), server)
