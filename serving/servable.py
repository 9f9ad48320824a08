"""One loaded SavedModel version: its signatures (as TF Serving reports them) and how to run them.

`Servable.load(name, version, path, tags)` loads the SavedModel with `tf.saved_model.load`, reads the
MetaGraphDef from `saved_model.pb` for the signature metadata (including TF2's `__saved_model_init_op`
pseudo-signature) and keeps one prepared `SignatureRunner` per callable signature. The runners feed
numpy arrays straight into the signature's concrete function (flat call, no Python-side shape binding),
so, as upstream, nothing validates shapes against the TensorInfo: a wrong shape fails inside the
TensorFlow runtime with its own message. Every error is a `ServingError` with the upstream text
(contract §2.2, §5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving.dtypes import tf_type_name, tf_type_name_for
from serving.examples import classification_results, regression_results
from serving.status import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServingError,
    Unimplemented,
    Unknown,
)
from serving.types import DEFAULT_SIGNATURE, SignatureInfo, TensorInfo

INIT_OP_SIGNATURE = "__saved_model_init_op"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

_RUNTIME_PREAMBLE = re.compile(
    r"^Graph execution error:\s*(?:Detected at node .*?\n<stack traces unavailable>\n)?", re.S
)
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


def runtime_error(err: Exception) -> ServingError:
    """A TensorFlow runtime error as the ServingError upstream would return (same code, TF's text)."""
    import tensorflow as tf

    if isinstance(err, ServingError):
        return err
    if isinstance(err, tf.errors.OpError):
        message = _OP_SUFFIX.sub("", _RUNTIME_PREAMBLE.sub("", err.message))
        return ServingError.from_code(int(err.error_code), message)
    if isinstance(err, (TypeError, ValueError)):
        return InvalidArgument(str(err))
    return Unknown(f"{type(err).__name__}: {err}")


@dataclass(frozen=True)
class SignatureRunner:
    """A callable signature: the concrete function, its flat argument order and argument dtypes."""

    info: SignatureInfo
    function: Any
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]  # TF DataTypeString per argument, e.g. "float"
    captured: tuple[Any, ...]

    def check_dtypes(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Reject a tensor whose dtype differs from the signature, with TF's runtime text."""
        for i, (alias, expected) in enumerate(zip(self.arg_names, self.arg_types, strict=True)):
            got = tf_type_name(inputs[alias])
            if got != expected:
                raise InvalidArgument(f"Expects arg[{i}] to be {expected} but {got} is provided")

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on already validated inputs; returns every output of the signature as numpy."""
        import tensorflow as tf

        try:
            flat = [tf.constant(inputs[name]) for name in self.arg_names]
            outputs = self.function._call_flat(flat, self.captured)
            return {alias: tensor.numpy() for alias, tensor in outputs.items()}
        except Exception as err:
            raise runtime_error(err) from err


class Servable:
    """A loaded version. Thread-safe for concurrent runs; dropped references unload it."""

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        signatures: dict[str, SignatureInfo],
        signature_def_map: bytes,
        runners: dict[str, SignatureRunner],
        loaded: Any,
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.signatures = signatures
        self.signature_def_map = signature_def_map
        self.runners = runners
        self._loaded = loaded  # keeps variables alive as long as the servable is referenced

    @classmethod
    def load(cls, name: str, version: int, path: str, tags: Sequence[str] = ("serve",)) -> Servable:
        """Load `path` (a SavedModel directory) or raise a ServingError naming the path."""
        import tensorflow as tf

        meta_graph = _read_meta_graph(path, tags)
        try:
            loaded = tf.saved_model.load(path, tags=list(tags))
        except Exception as err:
            raise runtime_error(err) from err
        signatures = {key: _signature_info(key, sig) for key, sig in meta_graph.signature_def.items()}
        runners = {
            key: _runner(signatures[key], fn) for key, fn in loaded.signatures.items() if key in signatures
        }
        return cls(name, version, path, signatures, _signature_def_map(meta_graph), runners, loaded)

    # -- Predict -------------------------------------------------------------------------------------

    def predict_runner(self, signature_name: str) -> SignatureRunner:
        runner = self.runners.get(signature_name or DEFAULT_SIGNATURE)
        if runner is None:
            raise FailedPrecondition(
                f'Serving signature key "{signature_name or DEFAULT_SIGNATURE}" not found.'
            )
        return runner

    def prepare_predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str]
    ) -> SignatureRunner:
        """Validate a Predict request against the signature (upstream order and texts)."""
        runner = self.predict_runner(signature_name)
        expected = runner.info.inputs
        if len(inputs) != len(expected):
            sent, wanted = set(inputs), set(expected)
            raise InvalidArgument(
                f"input size does not match signature: {len(inputs)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
                f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
            )
        for alias in sorted(expected):
            if alias not in inputs:
                raise InvalidArgument(
                    f"Signature input alias: {alias}(feed name: {expected[alias].name}) not found in request "
                    f"and no default value provided. Inputs expected to be in the request "
                    f"{{{','.join(sorted(inputs))}}}, or default input alias set: "
                )
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in runner.info.outputs:
                raise InvalidArgument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(runner.info.outputs))}}}."
                )
            if alias in seen:
                raise InvalidArgument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        runner.check_dtypes(inputs)
        return runner

    def predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str] = ()
    ) -> dict[str, np.ndarray]:
        runner = self.prepare_predict(signature_name, inputs, output_filter)
        outputs = runner.run(inputs)
        return select_outputs(outputs, output_filter)

    # -- Classify / Regress --------------------------------------------------------------------------

    def examples_runner(self, signature_name: str, method: str) -> SignatureRunner:
        """The signature for Classify/Regress, checked structurally (contract §5)."""
        key = signature_name or DEFAULT_SIGNATURE
        info = self.signatures.get(key)
        runner = self.runners.get(key)
        if info is None or runner is None:
            raise InvalidArgument(f"No signature was found with the name: {key}")
        check_examples_signature(info, method)
        return runner

    def classify(self, signature_name: str, examples: Sequence[bytes]) -> list[list[tuple[bytes, float]]]:
        runner = self.examples_runner(signature_name, "classify")
        return classification_results(runner.info, self._run_examples(runner, examples), len(examples))

    def regress(self, signature_name: str, examples: Sequence[bytes]) -> list[float]:
        runner = self.examples_runner(signature_name, "regress")
        return regression_results(self._run_examples(runner, examples), len(examples))

    def multi_inference(
        self, tasks: Sequence[tuple[str, str]], examples: Sequence[bytes]
    ) -> list[list[list[tuple[bytes, float]]] | list[float]]:
        """Run (signature_name, method_name) tasks on one input (multi_inference.cc rules and texts)."""
        seen: set[str] = set()
        runners: list[tuple[SignatureRunner, str]] = []
        for signature_name, method_name in tasks:
            key = signature_name or DEFAULT_SIGNATURE
            if key in seen:
                raise InvalidArgument(f"Duplicate evaluation of signature: {key}")
            seen.add(key)
            info, runner = self.signatures.get(key), self.runners.get(key)
            if info is None or runner is None:
                raise InvalidArgument(f"Requested signature not found in model graph: {key}")
            if method_name == CLASSIFY_METHOD:
                check_examples_signature(info, "classify")
            elif method_name == REGRESS_METHOD:
                check_examples_signature(info, "regress")
            else:
                raise Unimplemented(f"Unsupported signature method_name: {method_name}")
            if runners and runners[0][0].info.inputs["inputs"].name != info.inputs["inputs"].name:
                raise InvalidArgument("Input tensor must be the same for all Signatures.")
            runners.append((runner, method_name))
        results: list[list[list[tuple[bytes, float]]] | list[float]] = []
        for runner, method_name in runners:
            outputs = self._run_examples(runner, examples)
            if method_name == CLASSIFY_METHOD:
                results.append(classification_results(runner.info, outputs, len(examples)))
            else:
                results.append(regression_results(outputs, len(examples)))
        return results

    @staticmethod
    def _run_examples(runner: SignatureRunner, examples: Sequence[bytes]) -> dict[str, np.ndarray]:
        if not examples:
            raise InvalidArgument("Input is empty.")
        batch = np.empty(len(examples), dtype=object)
        batch[:] = list(examples)
        feeds = {runner.arg_names[0]: batch}
        runner.check_dtypes(feeds)
        return runner.run(feeds)


def select_outputs(outputs: dict[str, np.ndarray], output_filter: Sequence[str]) -> dict[str, np.ndarray]:
    return {alias: outputs[alias] for alias in output_filter} if output_filter else outputs


def check_examples_signature(info: SignatureInfo, method: str) -> None:
    """Structural checks of classifier.cc / regressor.cc (method_name itself is not checked, as upstream
    with `--enable_signature_method_name_check=false`)."""
    debug = _signature_debug(info)
    if len(info.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if method == "classify":
        if len(info.outputs) not in (1, 2):
            raise InvalidArgument(f"Expected one or two output Tensors, found {len(info.outputs)}")
        if "inputs" not in info.inputs:
            raise FailedPrecondition(f"No classification inputs found in SignatureDef: {debug}")
        if "classes" not in info.outputs and "scores" not in info.outputs:
            raise FailedPrecondition(
                'Expected classification signature outputs to contain at least one of "classes" or '
                f'"scores". Signature was: {debug}'
            )
        return
    if len(info.outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if "inputs" not in info.inputs:
        raise FailedPrecondition(f"No regression inputs found in SignatureDef: {debug}")
    if "outputs" not in info.outputs:
        raise FailedPrecondition(f"No regression outputs found in SignatureDef: {debug}")


def _signature_debug(info: SignatureInfo) -> str:
    ins = " ".join(
        f"inputs {{ key: {k!r} value {{ name: {v.name!r} dtype: {v.dtype} }} }}"
        for k, v in sorted(info.inputs.items())
    )
    outs = " ".join(
        f"outputs {{ key: {k!r} value {{ name: {v.name!r} dtype: {v.dtype} }} }}"
        for k, v in sorted(info.outputs.items())
    )
    return f"{ins} {outs} method_name: {info.method_name!r}".replace("'", '"')


# -- SavedModel metadata ------------------------------------------------------------------------------


def _read_meta_graph(path: str, tags: Sequence[str]) -> Any:
    """The MetaGraphDef whose tag set equals `tags` (saved_model.pb, else saved_model.pbtxt)."""
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    directory = Path(path)
    saved_model = saved_model_pb2.SavedModel()
    try:
        if (directory / "saved_model.pb").is_file():
            saved_model.ParseFromString((directory / "saved_model.pb").read_bytes())
        elif (directory / "saved_model.pbtxt").is_file():
            text_format.Parse((directory / "saved_model.pbtxt").read_text(), saved_model)
        else:
            raise NotFound(
                f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}. "
                "Check that the directory exists and that you have the right permissions for accessing it."
            )
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as err:
        raise ServingError.from_code(15, f"Could not parse SavedModel proto at {path}: {err}") from err
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    available = [sorted(mg.meta_info_def.tags) for mg in saved_model.meta_graphs]
    raise NotFound(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}. To inspect available "
        f"tag-sets in the SavedModel, please use the SavedModel CLI: `saved_model_cli` "
        f"(available: {available})"
    )


def _tensor_info(proto: Any) -> TensorInfo:
    from tensorflow.core.framework import types_pb2

    shape = None if proto.tensor_shape.unknown_rank else tuple(int(d.size) for d in proto.tensor_shape.dim)
    return TensorInfo(name=proto.name, dtype=types_pb2.DataType.Name(proto.dtype), shape=shape)


def _signature_info(key: str, proto: Any) -> SignatureInfo:
    return SignatureInfo(
        name=key,
        method_name=proto.method_name,
        inputs={alias: _tensor_info(t) for alias, t in proto.inputs.items()},
        outputs={alias: _tensor_info(t) for alias, t in proto.outputs.items()},
    )


def _signature_def_map(meta_graph: Any) -> bytes:
    from tensorflow_serving.apis import get_model_metadata_pb2

    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in meta_graph.signature_def.items():
        sig_map.signature_def[key].CopyFrom(sig)
    return bytes(sig_map.SerializeToString(deterministic=True))


def _runner(info: SignatureInfo, function: Any) -> SignatureRunner:
    """Prepare the flat call of a loaded signature function (argument order = its function type)."""
    names = tuple(function.function_type.parameters)
    specs = function.structured_input_signature[1]
    types = tuple(tf_type_name_for(specs[n].dtype.name) for n in names)
    return SignatureRunner(info, function, names, types, tuple(function.captured_inputs))
