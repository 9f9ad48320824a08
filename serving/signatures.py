"""SignatureDef knowledge shared by every servable kind: reading the MetaGraphDef, TensorInfo values,
the SignatureDefMap the metadata API returns, the text-format DebugString upstream quotes, and the
structural / method-name checks of classifier.cc, regressor.cc and predict_util.cc (texts and codes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving.dtypes import enum_name
from serving.status import Internal, InvalidArgument, NotFound, ServingError
from serving.types import SignatureInfo, TensorInfo

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def read_meta_graph(path: str, tags: Sequence[str]) -> Any:
    """The MetaGraphDef whose tag set equals `tags` (saved_model.pb, else saved_model.pbtxt)."""
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    directory = Path(path)
    saved_model = saved_model_pb2.SavedModel()
    binary, text = directory / "saved_model.pb", directory / "saved_model.pbtxt"
    # tensorflow/cc/saved_model/reader.cc ReadSavedModel -> env.cc ReadBinaryProto / ReadTextProto texts.
    if binary.is_file():
        try:
            saved_model.ParseFromString(binary.read_bytes())
        except message.DecodeError:
            raise ServingError.from_code(15, f"Can't parse {binary} as binary proto") from None
    elif text.is_file():
        try:
            text_format.Parse(text.read_text(), saved_model)
        except (text_format.ParseError, UnicodeDecodeError):
            raise ServingError.from_code(15, f"Can't parse {text} as text proto") from None
    else:
        raise NotFound(
            f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}. "
            "Check that the directory exists and that you have the right permissions for accessing it."
        )
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    available = [sorted(mg.meta_info_def.tags) for mg in saved_model.meta_graphs]
    raise NotFound(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}. To inspect available "
        f"tag-sets in the SavedModel, please use the SavedModel CLI: `saved_model_cli` "
        f"(available: {available})"
    )


def tensor_info(proto: Any) -> TensorInfo:
    shape = None if proto.tensor_shape.unknown_rank else tuple(int(d.size) for d in proto.tensor_shape.dim)
    return TensorInfo(name=proto.name, dtype=enum_name(proto.dtype), shape=shape)


def signature_info(key: str, proto: Any) -> SignatureInfo:
    return SignatureInfo(
        name=key,
        method_name=proto.method_name,
        inputs={alias: tensor_info(t) for alias, t in proto.inputs.items()},
        outputs={alias: tensor_info(t) for alias, t in proto.outputs.items()},
    )


def signature_def_map(signature_defs: Any) -> bytes:
    """A serialized tensorflow.serving.SignatureDefMap of a `signature_def` proto map."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in signature_defs.items():
        sig_map.signature_def[key].CopyFrom(sig)
    return bytes(sig_map.SerializeToString(deterministic=True))


def debug_string(proto: Any) -> str:
    """SignatureDef::DebugString (protobuf text format, multi-line), as upstream quotes it."""
    from google.protobuf import text_format

    return str(text_format.MessageToString(proto))


def check_predict_method(info: SignatureInfo, method_check: bool) -> None:
    """predict_util.cc VerifySignature (only with --enable_signature_method_name_check): INTERNAL."""
    if method_check and info.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise Internal(
            "Expected prediction signature method_name to be one of {"
            f"{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: {info.method_name}"
        )


def check_examples_signature(info: SignatureInfo, proto: Any, method: str, method_check: bool) -> None:
    """PreProcessClassification / PreProcessRegression: method name (if checked), then structure."""
    classify = method == CLASSIFY_METHOD
    kind = "classification" if classify else "regression"
    if method_check and info.method_name != method:
        raise InvalidArgument(
            f"Expected {kind} signature method_name to be {method}. Was: {info.method_name}"
        )
    if len(info.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if classify and len(info.outputs) not in (1, 2):
        raise InvalidArgument(f"Expected one or two output Tensors, found {len(info.outputs)}")
    if not classify and len(info.outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if "inputs" not in info.inputs:
        raise InvalidArgument(f"No {kind} inputs found in SignatureDef: {debug_string(proto)}")
    if classify and "classes" not in info.outputs and "scores" not in info.outputs:
        raise InvalidArgument(
            'Expected classification signature outputs to contain at least one of "classes" or '
            f'"scores". Signature was: {debug_string(proto)}'
        )
    if not classify and "outputs" not in info.outputs:
        raise InvalidArgument(f"No regression outputs found in SignatureDef: {debug_string(proto)}")
