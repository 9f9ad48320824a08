"""Run TF.js graph models in Node (pure tfjs-core + converter + backend-cpu) from Python."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.convert.rows import Rows

RUNNER = Path(__file__).with_name("js") / "run_graph_models.js"
NODE_TIMEOUT_S = 600


class NodeError(RuntimeError):
    """Node is missing, the tfjs packages are missing, or the runner failed."""


@dataclass(frozen=True)
class GraphModelJob:
    """One TF.js bundle to run: an id, its model.json, input feeds and output fetches."""

    id: str
    model_json: Path
    feeds: dict[str, str]
    fetches: dict[str, str]


@dataclass(frozen=True)
class GraphModelResult:
    outputs: dict[str, np.ndarray]
    bench_ms: list[float]


def node_modules_dir() -> Path:
    """The node_modules holding @tensorflow/tfjs-core: $TFKIT_NODE_MODULES, above this file, or under cwd."""
    candidates = [Path(os.environ["TFKIT_NODE_MODULES"])] if "TFKIT_NODE_MODULES" in os.environ else []
    candidates += [p / "node_modules" for p in RUNNER.resolve().parents] + [Path.cwd() / "node_modules"]
    for candidate in candidates:
        if (candidate / "@tensorflow" / "tfjs-core").is_dir():
            return candidate
    raise NodeError(
        "@tensorflow/tfjs-core not found in node_modules "
        "(run `make install`, which runs `npm ci` at the repo root)"
    )


def _to_js(name: str, arr: np.ndarray) -> tuple[np.ndarray, str]:
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype("<f4"), "float32"
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8), "bool"
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(np.int32)
        if len(arr) and (arr.min() < info.min or arr.max() > info.max):
            raise NodeError(f"input {name!r}: TF.js runs integers as int32, values outside int32 range")
        return arr.astype("<i4"), "int32"
    raise NodeError(f"input {name!r}: dtype {arr.dtype} cannot be fed to TF.js by the parity runner")


_NP = {"float32": "<f4", "int32": "<i4", "bool": "u1"}


def run_graph_models(
    jobs: list[GraphModelJob], rows: Rows, bench: dict[str, int] | None = None
) -> dict[str, GraphModelResult]:
    """Run every job on all `rows` in ONE Node process; optionally time single-row calls (`bench`)."""
    node = shutil.which("node")
    if node is None:
        raise NodeError("`node` is not on PATH (Node 20 is needed for the TF.js parity check)")
    env = {**os.environ, "NODE_PATH": str(node_modules_dir())}
    with tempfile.TemporaryDirectory(prefix="tfkit-tfjs-") as tmp:
        work = Path(tmp)
        inputs = {}
        for name, arr in rows.inputs.items():
            data, dtype = _to_js(name, arr)
            file = work / f"in.{name}.bin"
            file.write_bytes(np.ascontiguousarray(data).tobytes())
            inputs[name] = {"file": str(file), "dtype": dtype, "shape": list(arr.shape)}
        job = {
            "inputs": inputs,
            "out_dir": str(work),
            "bench": bench,
            "models": [
                {"id": j.id, "model_json": str(j.model_json), "feeds": j.feeds, "fetches": j.fetches}
                for j in jobs
            ],
        }
        (work / "job.json").write_text(json.dumps(job))
        proc = subprocess.run(
            [node, str(RUNNER), str(work / "job.json")],
            capture_output=True,
            text=True,
            env=env,
            timeout=NODE_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            raise NodeError(f"TF.js runner failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        results = {}
        for j in jobs:
            meta = json.loads((work / f"{j.id}.json").read_text())
            outputs = {
                name: np.fromfile(o["file"], dtype=_NP.get(o["dtype"], "<f4")).reshape(o["shape"])
                for name, o in meta["outputs"].items()
            }
            results[j.id] = GraphModelResult(outputs=outputs, bench_ms=[float(x) for x in meta["bench_ms"]])
    return results
