"""One loaded model version: its SignatureDefs (as TF Serving reports them) and how to run them.

`Servable.load(name, version, path, tags, options)` loads the version as upstream's
SavedModelBundleFactory does: with `LoadOptions.prefer_tflite_model` and a `<version>/model.tflite`,
a LiteRT session (serving/tflite_session.py); otherwise the SavedModel (TF1 graph-mode or TF2) in one
TensorFlow Session (serving/graph_session.py). Every API then runs the SignatureDef's tensor names
through that session, so TF1 and TF2 models behave alike, as upstream. Predict follows predict_util.cc
(request validation, SignatureDef `defaults`), Classify/Regress classifier.cc / regressor.cc,
MultiInference multi_inference.cc (one run feeding the same examples to every task's input tensor).

Errors are `ServingError`s with upstream's texts and codes. TensorFlow runtime errors keep TF's code
and text (serving/status.py maps them); any other exception inside a run becomes INTERNAL with a fixed
message, and its traceback is logged (serving/session.py; no Python exception text reaches a client).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.dtypes import enum_name, tf_type_name
from serving.examples import classification_results, regression_results
from serving.grpc.codec import numpy_from_tensor_proto
from serving.session import Session, guarded, run_session, runtime_error
from serving.signatures import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    check_examples_signature,
    check_predict_method,
    read_meta_graph,
    signature_def_map,
    signature_info,
)
from serving.status import FailedPrecondition, InvalidArgument, Unimplemented
from serving.types import DEFAULT_SIGNATURE, SignatureInfo

__all__ = ["CLASSIFY_METHOD", "REGRESS_METHOD", "LoadOptions", "Servable", "SignatureRunner"]

INIT_OP_SIGNATURE = "__saved_model_init_op"

Results = list[list[tuple[bytes, float]]] | list[float]


@dataclass(frozen=True)
class LoadOptions:
    """How versions load; fields and defaults are tensorflow_model_server 2.19.0's flags (main.cc)."""

    enable_signature_method_name_check: bool = False
    prefer_tflite_model: bool = False
    remove_unused_fields_from_bundle_metagraph: bool = True
    # Serialized tensorflow.ConfigProto for every Session (upstream's SessionBundleConfig.session_config,
    # built by server.cc from --tensorflow_session_config_file and the *_parallelism flags); b"" = TF's.
    session_config: bytes = b""


@dataclass(frozen=True)
class SignatureRunner:
    """One SignatureDef bound to its session: feeds by alias (plus `defaults`), fetches by alias."""

    info: SignatureInfo
    proto: Any  # the SignatureDef (for upstream's DebugString texts)
    session: Session
    arg_names: tuple[str, ...]  # input aliases in feed order
    arg_types: tuple[str, ...]  # TF DataTypeString per alias, e.g. "float"
    defaults: Mapping[str, np.ndarray]

    def check_dtypes(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Reject a tensor whose dtype differs from the signature, with TF's runtime text."""
        for i, (alias, expected) in enumerate(zip(self.arg_names, self.arg_types, strict=True)):
            value = inputs.get(alias)
            if value is not None and (got := tf_type_name(value)) != expected:
                raise InvalidArgument(f"Expects arg[{i}] to be {expected} but {got} is provided")

    def run(
        self, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str] = ()
    ) -> dict[str, np.ndarray]:
        """Run on validated inputs; returns the filtered outputs (all when no filter) as numpy."""
        feeds = {}
        for alias in self.arg_names:
            value = inputs.get(alias)
            feeds[self.info.inputs[alias].name] = self.defaults[alias] if value is None else value
        aliases = tuple(output_filter) or tuple(self.info.outputs)
        outputs = run_session(self.session, feeds, [self.info.outputs[a].name for a in aliases])
        return dict(zip(aliases, outputs, strict=True))


class Servable:
    """A loaded version. Thread-safe for concurrent runs; dropped references unload it."""

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        signature_defs: Any,
        session: Session,
        options: LoadOptions = LoadOptions(),
        meta_graph: Any = None,
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.options = options
        self.session = session
        # The bundle's MetaGraphDef: only its signature_def unless remove_unused_fields_from_bundle_metagraph
        # is false (saved_model_bundle_factory.cc); a copy, so the parsed graph_def can be freed.
        if meta_graph is not None and options.remove_unused_fields_from_bundle_metagraph:
            lean = type(meta_graph)()
            lean.signature_def.MergeFrom(meta_graph.signature_def)
            meta_graph, signature_defs = lean, lean.signature_def
        self.meta_graph = meta_graph
        self.signatures = {key: signature_info(key, sig) for key, sig in signature_defs.items()}
        self.signature_def_map = signature_def_map(signature_defs)
        self.runners = {
            key: _runner(self.signatures[key], sig, session) for key, sig in signature_defs.items()
        }

    @classmethod
    def load(
        cls,
        name: str,
        version: int,
        path: str,
        tags: Sequence[str] = ("serve",),
        options: LoadOptions = LoadOptions(),
    ) -> Servable:
        """Load `path` (a version directory) or raise a ServingError naming the path."""
        from serving.tflite_session import TfLiteSession, tflite_model_found

        try:
            if options.prefer_tflite_model and tflite_model_found(path):
                lite = TfLiteSession.load(path)
                return cls(name, version, path, lite.signature_defs, lite, options)
            from serving.graph_session import GraphSession

            meta_graph = read_meta_graph(path, tags)
            session = GraphSession.load(path, tags, _session_config(options.session_config))
            return cls(name, version, path, meta_graph.signature_def, session, options, meta_graph)
        except Exception as err:
            raise runtime_error(err) from err

    # -- Predict -------------------------------------------------------------------------------------

    def predict_runner(self, signature_name: str) -> SignatureRunner:
        runner = self.runners.get(signature_name or DEFAULT_SIGNATURE)
        if runner is None:
            raise FailedPrecondition(
                f'Serving signature key "{signature_name or DEFAULT_SIGNATURE}" not found.'
            )
        return runner

    @guarded
    def prepare_predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str]
    ) -> SignatureRunner:
        """Validate a Predict request against the signature (predict_util.cc order and texts)."""
        runner = self.predict_runner(signature_name)
        check_predict_method(runner.info, self.options.enable_signature_method_name_check)
        expected, defaults = runner.info.inputs, runner.defaults
        if len(inputs) > len(expected) or (len(inputs) < len(expected) and not defaults):
            sent, wanted = set(inputs), set(expected)
            raise InvalidArgument(
                f"input size does not match signature: {len(inputs)}!={len(expected)} "
                f"len({{{_join(sent)}}}) != len({{{_join(wanted)}}}). "
                f"Sent extra: {{{_join(sent - wanted)}}}. "
                f"Missing but required: {{{_join(wanted - sent)}}}."
            )
        for alias in runner.arg_names:
            if alias not in inputs and alias not in defaults:
                raise InvalidArgument(
                    f"Signature input alias: {alias}(feed name: {expected[alias].name}) not found in request "
                    f"and no default value provided. Inputs expected to be in the request "
                    f"{{{_join(inputs)}}}, or default input alias set: {_join(defaults)}"
                )
        used = [alias for alias in inputs if alias in expected]
        if inputs and len(used) != len(inputs):
            raise InvalidArgument(
                f"Inputs contains invalid name. Used request inputs: {_join(used)}, "
                f"request input: {_join(inputs)}"
            )
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in runner.info.outputs:
                raise InvalidArgument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{_join(runner.info.outputs)}}}."
                )
            if alias in seen:
                raise InvalidArgument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        runner.check_dtypes(inputs)
        return runner

    @guarded
    def predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str] = ()
    ) -> dict[str, np.ndarray]:
        runner = self.prepare_predict(signature_name, inputs, output_filter)
        return runner.run(inputs, output_filter)

    # -- Classify / Regress / MultiInference ---------------------------------------------------------

    def examples_runner(self, signature_name: str, method: str) -> SignatureRunner:
        """Get{Classification,Regression}SignatureDef + PreProcess* (`method` is the full method name;
        "classify" / "regress" are accepted too)."""
        method = {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}.get(method, method)
        key = signature_name or DEFAULT_SIGNATURE
        runner = self.runners.get(key)
        if runner is None:
            raise InvalidArgument(f"No signature was found with the name: {key}")
        check_examples_signature(
            runner.info, runner.proto, method, self.options.enable_signature_method_name_check
        )
        return runner

    @guarded
    def classify(self, signature_name: str, examples: Sequence[bytes]) -> list[list[tuple[bytes, float]]]:
        runner = self.examples_runner(signature_name, CLASSIFY_METHOD)
        outputs = _by_alias(runner, self._run_examples([runner], examples))
        return classification_results(runner.info, outputs, len(examples))

    @guarded
    def regress(self, signature_name: str, examples: Sequence[bytes]) -> list[float]:
        runner = self.examples_runner(signature_name, REGRESS_METHOD)
        outputs = _by_alias(runner, self._run_examples([runner], examples))
        return regression_results(outputs, len(examples))

    @guarded
    def multi_inference(self, tasks: Sequence[tuple[str, str]], examples: Sequence[bytes]) -> list[Results]:
        """(signature_name, method_name) tasks over one input, in one run that feeds the examples to
        every task's input tensor (multi_inference.cc; no "same input tensor" restriction in 2.19.0)."""
        seen: set[str] = set()
        runners: list[SignatureRunner] = []
        for signature_name, method_name in tasks:
            key = signature_name or DEFAULT_SIGNATURE
            if key in seen:
                raise InvalidArgument(f"Duplicate evaluation of signature: {key}")
            seen.add(key)
            runner = self.runners.get(key)
            if runner is None:
                raise InvalidArgument(f"Requested signature not found in model graph: {key}")
            if method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise Unimplemented(f"Unsupported signature method_name: {method_name}")
            check_examples_signature(
                runner.info, runner.proto, method_name, self.options.enable_signature_method_name_check
            )
            runners.append(runner)
        by_name = self._run_examples(runners, examples)
        results: list[Results] = []
        for runner, (_, method_name) in zip(runners, tasks, strict=True):
            outputs = _by_alias(runner, by_name)
            if method_name == CLASSIFY_METHOD:
                results.append(classification_results(runner.info, outputs, len(examples)))
            else:
                results.append(regression_results(outputs, len(examples)))
        return results

    @staticmethod
    def _run_examples(runners: Sequence[SignatureRunner], examples: Sequence[bytes]) -> dict[str, np.ndarray]:
        """PerformOneShotTensorComputation: one DT_STRING [n] tensor fed to every runner's input tensor,
        one run; returns outputs by tensor name."""
        if not examples:
            raise InvalidArgument("Input is empty.")
        batch = np.empty(len(examples), dtype=object)
        batch[:] = list(examples)
        feeds = {}
        for runner in runners:
            runner.check_dtypes({runner.arg_names[0]: batch})
            feeds[runner.info.inputs[runner.arg_names[0]].name] = batch
        fetches = sorted({info.name for r in runners for info in r.info.outputs.values()})
        return dict(zip(fetches, run_session(runners[0].session, feeds, fetches), strict=True))


def select_outputs(outputs: dict[str, np.ndarray], output_filter: Sequence[str]) -> dict[str, np.ndarray]:
    return {alias: outputs[alias] for alias in output_filter} if output_filter else outputs


def _session_config(serialized: bytes) -> Any:
    if not serialized:
        return None
    from tensorflow.core.protobuf import config_pb2

    return config_pb2.ConfigProto.FromString(serialized)


def _by_alias(runner: SignatureRunner, by_name: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {alias: by_name[info.name] for alias, info in runner.info.outputs.items()}


def _join(names: Any) -> str:
    return ",".join(sorted(names))


def _runner(info: SignatureInfo, proto: Any, session: Session) -> SignatureRunner:
    """Bind a SignatureDef to the session: feed order = sorted aliases; defaults decoded once."""
    names = tuple(sorted(info.inputs))
    types = tuple(enum_name(proto.inputs[n].dtype)[3:].lower() for n in names)  # "float"
    defaults = {alias: numpy_from_tensor_proto(t) for alias, t in proto.defaults.items()}
    return SignatureRunner(info, proto, session, names, types, defaults)
