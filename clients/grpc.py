"""`GrpcClient`: TF Serving's gRPC API (PredictionService, ModelService) over one reused channel.

    with GrpcClient("localhost:8500") as client:
        p = client.predict("ctr", {"feature": feats, "user_id": uids, "article_id": aids})["probability"]

Tensors are built straight from numpy buffers (`serving.grpc.codec`: `tensor_content`, no per-element
loops) and decoded from either encoding. numpy inputs keep their dtype; lists and scalars take the
signature's dtype (metadata fetched once and cached). Message size limits default to 256 MiB both ways
(gRPC's own 4 MiB receive default is the classic TF Serving failure). Errors: `clients.errors`, built from
the status code and details in `_rpc`, the one mapping boundary. Messages come from `clients.protos`
(a private descriptor pool): this module needs grpcio, protobuf and numpy, never TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
import numpy as np

from clients import _json
from clients._base import ClientBase, apply_output_filter, input_dtypes
from clients._request import check_examples, check_spec, example_features, named_arrays
from clients._types import USE_CLIENT_DEFAULT, Classifications, Example, Inputs, Metadata, Timeout
from clients.errors import Code, ConnectionFailed, InvalidArgument, ServingError
from clients.protos import MODEL_SERVICE, PREDICTION_SERVICE, messages
from clients.retry import RetryPolicy
from serving.grpc.codec import fill_tensor_proto, numpy_from_tensor_proto
from serving.types import SignatureInfo, VersionStatus

MiB = 1 << 20
DEFAULT_MAX_MESSAGE_BYTES = 256 * MiB
_CONNECT_FAILURES = ("failed to connect", "connection refused", "connect failed", "dns resolution failed")


def fill_model_spec(
    spec: Any, model: str, version: int | None = None, label: str | None = None, signature: str | None = None
) -> None:
    """Fill a request's (empty) ModelSpec."""
    spec.name = model
    spec.signature_name = signature or ""
    if version is not None:
        spec.version.value = version
    elif label is not None:
        spec.version_label = label


def fill_example(proto: Any, example: Example, where: str) -> None:
    """Fill an (empty) tf.train.Example from a dict of feature name -> value(s)."""
    for name, (kind, values) in example_features(example, where).items():
        feature = proto.features.feature[name]
        if kind == "float":
            feature.float_list.value.extend(values)
        elif kind == "int64":
            feature.int64_list.value.extend(values)
        else:
            feature.bytes_list.value.extend(values)


def example_proto(example: Example, where: str) -> Any:
    """A tf.train.Example message (the client's own class) for a dict example."""
    proto = messages().Example()
    fill_example(proto, example, where)
    return proto


def fill_input(proto: Any, examples: Sequence[Example], context: Example | None) -> None:
    """Fill a request's (empty) tensorflow.serving.Input: an ExampleList, or one with context."""
    if context is None:
        target = proto.example_list.examples
    else:
        fill_example(proto.example_list_with_context.context, context, "context")
        target = proto.example_list_with_context.examples
    for i, example in enumerate(examples):
        fill_example(target.add(), example, f"example {i}")


def _writable(array: np.ndarray) -> np.ndarray:
    """Outputs decoded from tensor_content view the response bytes (read-only): hand out a copy."""
    return array if array.flags.writeable else array.copy()


def error_from_rpc(error: grpc.RpcError) -> ServingError:
    """The typed error for a failed RPC (status code + the server's details)."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else None) or str(code)
    if code == grpc.StatusCode.UNAVAILABLE and any(s in details.lower() for s in _CONNECT_FAILURES):
        return ConnectionFailed(details)
    return ServingError.from_code(Code(code.value[0]), details)


class GrpcClient(ClientBase):
    """TF Serving gRPC client on one channel. `timeout` (seconds, None = none) is the per-call default
    (a gRPC deadline); `retry` governs retries of UNAVAILABLE only."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        options: Sequence[tuple[str, Any]] = (),
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        super().__init__(timeout, retry or RetryPolicy())
        if max_message_bytes <= 0:
            raise ValueError(f"max_message_bytes must be > 0, got {max_message_bytes}")
        self.target = target
        channel_options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            *options,
        ]
        self._channel = (
            grpc.secure_channel(target, credentials, channel_options)
            if credentials is not None
            else grpc.insecure_channel(target, channel_options)
        )
        m = messages()
        self._predict = self._method(PREDICTION_SERVICE + "Predict", m.PredictRequest, m.PredictResponse)
        self._classify = self._method(
            PREDICTION_SERVICE + "Classify", m.ClassificationRequest, m.ClassificationResponse
        )
        self._regress = self._method(
            PREDICTION_SERVICE + "Regress", m.RegressionRequest, m.RegressionResponse
        )
        self._metadata = self._method(
            PREDICTION_SERVICE + "GetModelMetadata", m.GetModelMetadataRequest, m.GetModelMetadataResponse
        )
        self._status = self._method(
            MODEL_SERVICE + "GetModelStatus", m.GetModelStatusRequest, m.GetModelStatusResponse
        )

    def _method(self, path: str, request: Any, response: Any) -> Callable[..., Any]:
        """A unary-unary callable of the channel (what a generated stub holds), with our messages."""
        return self._channel.unary_unary(
            path, request_serializer=request.SerializeToString, response_deserializer=response.FromString
        )

    def __repr__(self) -> str:
        return f"GrpcClient({self.target!r}, timeout={self.timeout})"

    def close(self) -> None:
        self._channel.close()

    # -- the one mapping boundary: grpc.RpcError -> clients.errors ------------------------------------
    def _rpc(self, method: Callable[..., Any], request: Any, timeout: float | None) -> Any:
        def once(remaining: float | None) -> Any:
            try:
                return method(request, timeout=remaining)
            except grpc.RpcError as error:
                raise error_from_rpc(error) from None

        return self._retrying(once, timeout)

    # -- the API --------------------------------------------------------------------------------------
    def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> dict[str, np.ndarray]:
        """Run a signature (default `serving_default`); returns output alias -> numpy array."""
        check_spec(model, version, label)
        seconds = self._resolve(timeout)
        info = self._input_signature(model, version, label, signature, seconds, inputs)
        arrays, named = named_arrays(inputs, input_dtypes(info))
        if not named:
            arrays = {self._single_alias(model, signature, info): arrays[""]}
        request = messages().PredictRequest(output_filter=list(output_filter or ()))
        fill_model_spec(request.model_spec, model, version, label, signature)
        for alias, array in arrays.items():
            fill_tensor_proto(request.inputs[alias], array)
        response = self._rpc(self._predict, request, seconds)
        outputs = {alias: _writable(numpy_from_tensor_proto(tp)) for alias, tp in response.outputs.items()}
        return apply_output_filter(outputs, output_filter) if output_filter else outputs

    def _input_signature(
        self,
        model: str,
        version: int | None,
        label: str | None,
        signature: str | None,
        timeout: float | None,
        inputs: Inputs,
    ) -> SignatureInfo | None:
        """The signature, when the inputs need it: a bare value (for its alias: a metadata error such as
        NotFound surfaces) or lists/scalars (for their dtypes: best effort)."""
        if not isinstance(inputs, Mapping):
            return self.signature(model, version, label, signature, timeout)
        if all(isinstance(v, np.ndarray) for v in inputs.values()):
            return None
        return self._known_signature(model, version, label, signature, timeout)

    @staticmethod
    def _single_alias(model: str, signature: str | None, info: SignatureInfo | None) -> str:
        aliases = sorted(info.inputs) if info is not None else []
        if len(aliases) != 1:
            raise InvalidArgument(
                f"inputs is a plain value, but signature {signature or 'serving_default'!r} of model "
                f"{model!r} has inputs {','.join(aliases)}: pass a dict alias -> value"
            )
        return str(aliases[0])

    def classify(
        self,
        model: str,
        examples: Sequence[Example],
        *,
        context: Example | None = None,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Classifications:
        """Classify tf.Examples given as dicts; one list of (label, score) per example."""
        check_spec(model, version, label)
        check_examples(examples)
        request = messages().ClassificationRequest()
        fill_model_spec(request.model_spec, model, version, label, signature)
        fill_input(request.input, examples, context)
        response = self._rpc(self._classify, request, self._resolve(timeout))
        return [
            [(c.label, float(np.float32(c.score))) for c in one.classes]
            for one in response.result.classifications
        ]

    def regress(
        self,
        model: str,
        examples: Sequence[Example],
        *,
        context: Example | None = None,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> np.ndarray:
        """Regress tf.Examples given as dicts; float32 array with one value per example."""
        check_spec(model, version, label)
        check_examples(examples)
        request = messages().RegressionRequest()
        fill_model_spec(request.model_spec, model, version, label, signature)
        fill_input(request.input, examples, context)
        response = self._rpc(self._regress, request, self._resolve(timeout))
        return np.asarray([r.value for r in response.result.regressions], dtype=np.float32)

    def metadata(
        self,
        model: str,
        version: int | None = None,
        *,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Metadata:
        """SignatureDefs of the served version (latest AVAILABLE unless version/label is given)."""
        check_spec(model, version, label)
        from google.protobuf.json_format import MessageToDict

        m = messages()
        request = m.GetModelMetadataRequest(metadata_field=["signature_def"])
        fill_model_spec(request.model_spec, model, version, label)
        response = self._rpc(self._metadata, request, self._resolve(timeout))
        packed = response.metadata["signature_def"]
        if packed.type_url.rpartition("/")[2] != m.SignatureDefMap.DESCRIPTOR.full_name:
            raise ServingError.from_code(Code.INTERNAL, "metadata['signature_def'] is not a SignatureDefMap")
        defs = m.SignatureDefMap.FromString(packed.value)
        as_json = {
            "model_spec": {"name": response.model_spec.name, "version": response.model_spec.version.value},
            "metadata": {"signature_def": MessageToDict(defs, preserving_proto_field_name=True)},
        }
        return _json.decode_metadata(as_json)

    def status(
        self, model: str, version: int | None = None, *, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> list[VersionStatus]:
        """Every known version's state (descending), or one version's."""
        check_spec(model, version, None)
        from google.protobuf.json_format import MessageToDict

        request = messages().GetModelStatusRequest()
        fill_model_spec(request.model_spec, model, version)
        response = self._rpc(self._status, request, self._resolve(timeout))
        as_json = MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        return _json.decode_status(as_json)
