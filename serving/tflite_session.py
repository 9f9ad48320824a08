"""`<version>/model.tflite` served with LiteRT, as upstream's TfLiteSession (servables/tensorflow/
tflite_session.cc) does under `--prefer_tflite_model`.

Upstream reads SignatureDefs from the model's "signature_defs_metadata" entry (tflite
signature_def_util); a model converted by the TFLite converter has none, and upstream then builds one
`serving_default` predict signature from the interpreter's input and output tensors: alias = tensor name
without its `:N` suffix, TensorInfo name = tensor name, dtype and dims from the tensor. This module does
the same (the metadata-SignatureDef variant is not read: see the README's differences). Runs resize
inputs to the fed shape, as upstream; one interpreter, used under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving.signatures import PREDICT_METHOD
from serving.status import InvalidArgument
from serving.types import DEFAULT_SIGNATURE

TFLITE_MODEL = "model.tflite"


def tflite_model_found(path: str) -> bool:
    return (Path(path) / TFLITE_MODEL).is_file()


def legacy_name(tensor_name: str) -> str:
    """TfToTfLiteLegacyTensorName: the name up to its first ':'."""
    return tensor_name.split(":", 1)[0]


class TfLiteSession:
    def __init__(self, interpreter: Any) -> None:
        self._interpreter = interpreter
        self._lock = threading.Lock()
        self._inputs = {d["name"]: d for d in interpreter.get_input_details()}
        self._outputs = {d["name"]: d for d in interpreter.get_output_details()}
        self.signature_defs = {DEFAULT_SIGNATURE: self._mock_signature()}

    @classmethod
    def load(cls, path: str) -> TfLiteSession:
        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(model_content=(Path(path) / TFLITE_MODEL).read_bytes())
            interpreter.allocate_tensors()
        except ValueError as err:
            raise InvalidArgument("Cannot build FlatBufferModel from buffer.") from err
        return cls(interpreter)

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
                d = self._inputs[name]
                if tuple(interpreter.get_tensor(d["index"]).shape) != value.shape:
                    interpreter.resize_tensor_input(d["index"], list(value.shape), strict=False)
                    resized = True
            if resized:
                interpreter.allocate_tensors()
            for name, value in feeds.items():
                interpreter.set_tensor(self._inputs[name]["index"], value)
            interpreter.invoke()
            return [np.array(interpreter.get_tensor(self._outputs[name]["index"])) for name in fetches]
