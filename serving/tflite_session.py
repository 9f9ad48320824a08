"""`<version>/model.tflite` served with LiteRT, as upstream's TfLiteSession (servables/tensorflow/
tflite_session.cc) does under `--prefer_tflite_model`.

SignatureDefs are the model's own, read as upstream reads them (tflite signature_def_util
GetSignatureDefMap): the "signature_defs_metadata" metadata entry, a FlexBuffer map of signature key ->
serialized SignatureDef; tensor names that the interpreter does not know are retried without their
`:N` suffix (FixTfLiteTensorName). A model without that entry (what the TFLite converter writes) gets
one `serving_default` predict signature built from the interpreter's input and output tensors:
alias = tensor name without `:N`, TensorInfo name = tensor name, dtype and dims from the tensor. Runs
resize inputs to the fed shape, as upstream; one interpreter, used under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving.signatures import PREDICT_METHOD
from serving.status import Internal, InvalidArgument
from serving.types import DEFAULT_SIGNATURE

TFLITE_MODEL = "model.tflite"
SIGNATURE_DEFS_METADATA = "signature_defs_metadata"


def tflite_model_found(path: str) -> bool:
    return (Path(path) / TFLITE_MODEL).is_file()


def legacy_name(tensor_name: str) -> str:
    """TfToTfLiteLegacyTensorName: the name up to its first ':'."""
    return tensor_name.split(":", 1)[0]


def metadata_signature_defs(model: bytes) -> dict[str, Any]:
    """The SignatureDefs stored in the model's metadata ({} when it has none)."""
    from flatbuffers import flexbuffers
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.lite.python import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() == SIGNATURE_DEFS_METADATA.encode():
            data = root.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            signatures = flexbuffers.GetRoot(data).AsMap
            return {
                key.AsKey: meta_graph_pb2.SignatureDef.FromString(value.AsStringBytes)
                for key, value in zip(signatures.Keys, signatures.Values, strict=True)
            }
    return {}


class TfLiteSession:
    def __init__(self, interpreter: Any, model: bytes = b"") -> None:
        self._interpreter = interpreter
        self._lock = threading.Lock()
        self._inputs = {d["name"]: d for d in interpreter.get_input_details()}
        self._outputs = {d["name"]: d for d in interpreter.get_output_details()}
        self._shapes = {name: tuple(int(n) for n in d["shape"]) for name, d in self._inputs.items()}
        signature_defs = metadata_signature_defs(model) if model else {}
        for sig in signature_defs.values():
            self._fix_names(sig)
        self.signature_defs = signature_defs or {DEFAULT_SIGNATURE: self._mock_signature()}

    def _fix_names(self, sig: Any) -> None:
        """FixTfLiteTensorName for every input and output of a metadata SignatureDef."""
        for kind, infos, known in (
            ("input", sig.inputs, self._inputs),
            ("output", sig.outputs, self._outputs),
        ):
            for alias, info in infos.items():
                if info.name in known:
                    continue
                if legacy_name(info.name) not in known:
                    raise Internal(  # TF_RETURN_WITH_CONTEXT_IF_ERROR appends "\n\t" + context
                        f"Unknown tensor '{info.name}'.\n\t"
                        f"Signature {kind} {alias} references an unknown tensor"
                    )
                info.name = legacy_name(info.name)

    @classmethod
    def load(cls, path: str) -> TfLiteSession:
        from ai_edge_litert.interpreter import Interpreter

        model = (Path(path) / TFLITE_MODEL).read_bytes()
        try:
            interpreter = Interpreter(model_content=model)
            interpreter.allocate_tensors()
        except ValueError as err:
            raise InvalidArgument("Cannot build FlatBufferModel from buffer.") from err
        return cls(interpreter, model)

    def _mock_signature(self) -> Any:
        import tensorflow as tf
        from tensorflow.core.protobuf import meta_graph_pb2

        sig = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
        for details, target in ((self._inputs, sig.inputs), (self._outputs, sig.outputs)):
            for name, d in details.items():
                info = target[legacy_name(name)]
                info.name = name
                info.dtype = tf.as_dtype(d["dtype"]).as_datatype_enum
                for size in d["shape"]:
                    info.tensor_shape.dim.add().size = int(size)
        return sig

    def run(self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]:
        with self._lock:
            interpreter = self._interpreter
            resized = False
            for name, value in feeds.items():
                if self._shapes.get(name) != value.shape:
                    interpreter.resize_tensor_input(
                        self._inputs[name]["index"], list(value.shape), strict=False
                    )
                    self._shapes[name] = value.shape
                    resized = True
            if resized:
                interpreter.allocate_tensors()
            for name, value in feeds.items():
                interpreter.set_tensor(self._inputs[name]["index"], value)
            interpreter.invoke()
            return [np.array(interpreter.get_tensor(self._outputs[name]["index"])) for name in fetches]
