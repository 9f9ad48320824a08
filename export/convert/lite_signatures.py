"""SignatureDefs inside a .tflite, as TF Serving's TfLiteSession reads them (`--prefer_tflite_model`).

TF Serving (servables/tensorflow/tflite_session.cc, TfLiteSession::Create) takes a TFLite model's
SignatureDefs from tflite's signature_def_util `GetSignatureDefMap`: the model metadata entry named
"signature_defs_metadata" points at a buffer holding a FlexBuffer map of signature key -> serialized
`tensorflow.SignatureDef` (FlexBuffer strings; `SetSignatureDefMap` writes them). Each TensorInfo name
must be a tensor of the interpreter (or that name without its `:N` suffix). Without the entry it
serves one mock `serving_default` whose aliases are tensor names, so the metadata is what keeps the
SavedModel's signature key, aliases, method name, dtypes and shapes.

`signature_defs_for(model, saved_model_dir)` builds them from the SavedModel; `with_signature_defs`
writes them into the model bytes (replacing an existing entry, as SetSignatureDefMap does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from serving.tflite_session import SIGNATURE_DEFS_METADATA


class LiteSignatureError(ValueError):
    """The SignatureDefs cannot be written so that TF Serving reads them back unchanged."""


def saved_model_signature_defs(saved_model_dir: Path) -> dict[str, Any]:
    """The SignatureDefs of the SavedModel's `serve` MetaGraph (key -> SignatureDef)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((Path(saved_model_dir) / "saved_model.pb").read_bytes())
    for graph in saved.meta_graphs:
        if "serve" in graph.meta_info_def.tags:
            return dict(graph.signature_def)
    raise LiteSignatureError(f"{saved_model_dir} has no MetaGraph tagged 'serve'")


def signature_defs_for(model: bytes, saved_model_dir: Path) -> dict[str, Any]:
    """For every signature the TFLite model runs: the SavedModel's SignatureDef, each TensorInfo renamed
    to the TFLite tensor that holds it (via the model's own signature runner map: alias -> tensor)."""
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.core.protobuf import meta_graph_pb2

    interpreter = Interpreter(model_content=model)
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    saved = saved_model_signature_defs(saved_model_dir)
    out: dict[str, Any] = {}
    for key in interpreter.get_signature_list():
        if key not in saved:
            raise LiteSignatureError(f"TFLite signature {key!r} is not a signature of {saved_model_dir}")
        runner = interpreter.get_signature_runner(key)
        tensors = {"inputs": runner.get_input_details(), "outputs": runner.get_output_details()}
        sig = meta_graph_pb2.SignatureDef()
        sig.CopyFrom(saved[key])
        for kind in ("inputs", "outputs"):
            infos = getattr(sig, kind)
            if set(infos) != set(tensors[kind]):
                raise LiteSignatureError(
                    f"signature {key!r} {kind}: SavedModel has {sorted(infos)}, "
                    f"TFLite {sorted(tensors[kind])}"
                )
            for alias, info in infos.items():
                info.name = names[tensors[kind][alias]["index"]]
        out[key] = sig
    return out


def _metadata_buffer(signature_defs: dict[str, Any]) -> bytes:
    """The FlexBuffer map SetSignatureDefMap writes: key -> serialized SignatureDef, as FlexBuffer strings."""
    from flatbuffers import flexbuffers

    builder = flexbuffers.Builder()
    with builder.Map():
        for key in sorted(signature_defs):
            serialized = signature_defs[key].SerializeToString()
            if b"\0" in serialized:
                # ReadSignatureDefMap copies each value through c_str(): a NUL byte would cut it short.
                raise LiteSignatureError(
                    f"signature {key!r} serializes with a NUL byte; TF Serving would truncate it"
                )
            builder.Key(key)
            # FlexBuffer STRING holding bytes (Builder.String only takes text): what the C++ writer stores.
            builder._WriteBlob(serialized, append_zero=True, type_=flexbuffers.Type.STRING)
    return bytes(builder.Finish())


def with_signature_defs(model: bytes, signature_defs: dict[str, Any]) -> bytes:
    """`model` with its "signature_defs_metadata" entry set to `signature_defs` (added or replaced)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    if not signature_defs:
        raise LiteSignatureError("signature_defs must not be empty")  # SetSignatureDefMap refuses it too
    tree = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    metadata = [m for m in (tree.metadata or []) if m.name and m.name.decode() == SIGNATURE_DEFS_METADATA]
    if metadata:
        buffer = tree.buffers[metadata[0].buffer]
    else:
        buffer = schema.BufferT()
        tree.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = SIGNATURE_DEFS_METADATA
        entry.buffer = len(tree.buffers) - 1
        tree.metadata = [*(tree.metadata or []), entry]
    buffer.data = np.frombuffer(_metadata_buffer(signature_defs), dtype=np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))
