"""`kill -9` of `tfkit export`, `tfkit convert` and `tfkit data import` at seeded random points: no
half-written version, bundle or shard is ever visible to a server or reader, and rerunning recovers.

Each writer stages its output in a hidden directory and renames it into place (export/publish.py,
export/convert/cli.py, export/importer.py). After every kill the visible tree is checked as a reader sees
it: every numbered version parses as a SavedModel, every TFLite bundle matches its sidecar and loads,
every data set's meta.json names complete shards with the counts it claims. A live `tfkit serve` polling
the export's model directory never reports a failed version.

Kill points are seeded delays counted from the moment the writer starts writing (its staging directory
appears), so each kill lands inside the write, not in the interpreter's start-up.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from serving.launcher import REPO, TFKIT, running_server
from tests.chaos.traffic import version_states, wait_until
from tests.support.half_plus_two import write_half_plus_two

pytestmark = pytest.mark.live
SEED = 13
KILLS = {"export": 1, "convert": 1, "import": 1}  # kill points per command (each a fresh run)


def run_killed(argv: list[str], staging: Path, pattern: str, delay: float) -> int:
    """Start `tfkit <argv>`; once it starts writing (a `staging/pattern` entry appears), SIGKILL it after
    `delay` more seconds (the fault injected). Returns its exit code (0 if it finished first)."""
    proc = subprocess.Popen([*TFKIT, *argv], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: proc.poll() is not None or any(staging.glob(pattern)), 300, "writing started")
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode


def run_ok(argv: list[str]) -> None:
    result = subprocess.run([*TFKIT, *argv], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def kill_points(name: str, low: float, high: float) -> list[float]:
    rng = random.Random(f"{SEED}-{name}")
    return [rng.uniform(low, high) for _ in range(KILLS[name])]


# -- tfkit export -------------------------------------------------------------------------------------


def complete_versions(model_base: Path) -> list[int]:
    """Every numbered version directory, each checked to be a whole SavedModel (parses, has variables)."""
    from tensorflow.core.protobuf import saved_model_pb2

    versions = []
    for path in sorted(model_base.iterdir()) if model_base.is_dir() else []:
        if not path.name.isdigit():
            assert path.name.startswith("."), f"visible non-version entry {path}"
            continue
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
        assert proto.meta_graphs, path
        assert (path / "variables" / "variables.index").is_file(), path
        versions.append(int(path.name))
    return versions


def test_kill9_export(artifacts: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    model_base = out / "models" / "linear"
    train = artifacts / "train" / "linear"  # read only: export reads the trained checkpoint
    argv = ["export", "--model", "linear", "--artifacts", str(out), "--model-dir", str(train)]
    shutil.copytree(artifacts / "models" / "linear" / "1", model_base / "1")  # what the server starts on
    flags = ["--model_name=linear", f"--model_base_path={model_base}", "--file_system_poll_wait_seconds=1"]
    with running_server(flags, wait_models=["linear"]) as server:
        for delay in kill_points("export", 0.0, 1.0):
            assert run_killed(argv, model_base, ".tmp-*", delay) == -signal.SIGKILL
            newest = max(complete_versions(model_base))
            wait_until(
                lambda n=newest: max(version_states(server, "linear")) == n,  # type: ignore[misc]
                120,
                "newest version seen",
            )
        run_ok(argv)  # rerun recovers: the next version is published whole, the killed run's staging removed
        versions = complete_versions(model_base)
        assert sorted(p.name for p in model_base.iterdir()) == [str(v) for v in versions]
        wait_until(lambda: version_states(server, "linear").get(max(versions)) == "AVAILABLE", 120, "rerun")
        states = version_states(server, "linear")
    assert set(states.values()) <= {"AVAILABLE", "END"}
    assert all(s == "END" for v, s in states.items() if v != max(versions))
    assert "} failed: " not in server.log()  # no version ever failed to load


# -- tfkit convert ------------------------------------------------------------------------------------


def check_bundles(out: Path) -> int:
    """Every TFLite bundle visible under out/tflite matches its sidecar and loads; returns how many."""
    import tensorflow as tf

    count = 0
    for sidecar in sorted(out.glob("tflite/*/*.signature.json")):
        meta = json.loads(sidecar.read_text())
        for entry in meta["files"]:
            data = (sidecar.parent / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], sidecar
    for bundle in sorted(out.glob("tflite/*/*.tflite")):
        tf.lite.Interpreter(model_content=bundle.read_bytes()).allocate_tensors()
        count += 1
    assert not [p for p in out.glob("tflite/*/*") if p.name.startswith(".")]
    return count


def test_kill9_convert(tmp_path: Path) -> None:
    source = write_half_plus_two(tmp_path / "hpt", 1)
    out = tmp_path / "out"
    argv = [
        "convert",
        str(source),
        "--output-dir",
        str(out),
        "--name",
        "hpt",
        "--tflite",
        "float32",
        "--tfjs",
        "none",
    ]
    for delay in kill_points("convert", 0.0, 6.0):
        assert run_killed(argv, out, ".convert-*", delay) == -signal.SIGKILL
        check_bundles(out)
    run_ok(argv)
    assert check_bundles(out) == 1
    assert [p.name for p in out.iterdir()] == ["tflite"]  # killed runs' staging directories are gone


# -- tfkit data import --------------------------------------------------------------------------------


def check_data(out: Path) -> bool:
    """A visible data set is whole: meta.json's shards exist and hold n_train / n_eval records."""
    import tensorflow as tf

    if not out.exists():
        return False
    meta = json.loads((out / "meta.json").read_text())
    for split in ("train", "eval"):
        files = [str(out / name) for name in meta[f"{split}_files"]]
        assert sum(1 for _ in tf.data.TFRecordDataset(files)) == meta[f"n_{split}"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["meta.json", *meta["train_files"], *meta["eval_files"]]
    )
    return True


def test_kill9_data_import(tmp_path: Path) -> None:
    rows = 8000
    rng = np.random.default_rng(SEED)
    source = tmp_path / "logs.csv"
    features = [";".join(f"{v:.3f}" for v in row) for row in rng.normal(size=(rows, 121))]
    lines = [f"{i},{i % 97},{i % 2},{f}" for i, f in enumerate(features)]
    source.write_text("user_id,article_id,clicked,features\n" + "\n".join(lines) + "\n")
    out = tmp_path / "data" / "ctr"
    argv = ["data", "import", str(source), "--out", str(out), "--shards", "4"]
    run_ok(argv)  # a complete data set exists; the killed reruns must never damage it
    for delay in kill_points("import", 0.0, 0.5):
        assert run_killed(argv, out.parent, ".ctr.import-*", delay) == -signal.SIGKILL
        assert check_data(out)
    run_ok(argv)
    assert check_data(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["ctr"]  # no staging left behind
    shutil.rmtree(out)
