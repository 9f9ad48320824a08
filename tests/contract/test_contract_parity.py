"""Cross-format parity through the server: for the same real rows, the server's predictions (REST and
gRPC) equal the SavedModel run in-process, and the TFLite and TF.js bundles stay within their gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.contract.reference import Reference

ROWS = (
    120  # + 8 rows with ids at the top of the valid range: 128, the batching limit of serving/batching.config
)
SAVED_MODEL_TOLERANCE = 1e-6


def parity_rows(model: str, artifacts: Path) -> Any:
    from export.convert.rows import Rows, with_edge_ids
    from export.models import get
    from export.samples import sample_inputs

    return with_edge_ids(
        Rows(inputs=sample_inputs(model, artifacts, ROWS, seed=0), labels=None, source="contract"), get(model)
    )


def worst(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> float:
    from export.convert.parity import max_abs_error

    return max_abs_error({k: v.astype(np.float64) for k, v in reference.items()}, other)


@pytest.mark.parametrize("model", ["linear", "ctr"])
def test_server_equals_savedmodel_tflite_and_tfjs_within_gates(
    model: str, artifacts: Path, clients_by_name: dict[tuple[str, str], Any], reference: Reference
) -> None:
    from export.convert.node import GraphModelJob, run_graph_models
    from export.convert.parity import run_litert
    from export.convert.signature import load_signature
    from export.convert.tfjs import io_names
    from export.manifest import load_manifest

    rows = parity_rows(model, artifacts)
    via_rest = clients_by_name[("main", "rest")].predict(model, rows.inputs)
    via_grpc = clients_by_name[("main", "grpc")].predict(model, rows.inputs)
    in_process = reference.run(reference.model_dir(model), "serving_default", rows.inputs)
    assert worst(in_process, via_rest) <= SAVED_MODEL_TOLERANCE
    assert worst(in_process, via_grpc) <= SAVED_MODEL_TOLERANCE

    entries = load_manifest(artifacts)["models"][model]["artifacts"]
    tflite = [e for e in entries if e["kind"] == "tflite"]
    tfjs = [e for e in entries if e["kind"] == "tfjs"]
    assert tflite and tfjs, f"manifest lists no converted bundles for {model}: {entries}"
    failures = []
    for entry in tflite:
        error = worst(via_grpc, run_litert(artifacts / entry["path"], "serving_default", rows))
        if error > entry["parity_gate"]:
            failures.append(f"tflite {entry['variant']}: {error:.3g} > gate {entry['parity_gate']}")
    spec = load_signature(reference.model_dir(model), "serving_default").spec
    jobs = []
    for entry in tfjs:
        model_json = artifacts / entry["path"]
        model_json = model_json if model_json.suffix == ".json" else model_json / "model.json"
        feeds, fetches = io_names(model_json, spec)
        jobs.append(GraphModelJob(entry["variant"], model_json, feeds, fetches))
    results = run_graph_models(jobs, rows)
    for entry in tfjs:
        error = worst(via_grpc, results[entry["variant"]].outputs)
        if error > entry["parity_gate"]:
            failures.append(f"tfjs {entry['variant']}: {error:.3g} > gate {entry['parity_gate']}")
    assert not failures, "\n".join(failures)
