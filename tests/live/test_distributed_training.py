"""`tfkit train ctr --strategy multi-worker`: two real worker processes on localhost ports (TF_CONFIG).

The chief's AUC matches single-worker training on the same data and its export is the same SavedModel
(signatures, warmup, manifest); a worker SIGKILLed at a checkpointed step is restarted with its peer and
the run resumes from that checkpoint and completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from export.settings import GenerateSettings
from export.synthetic import generate
from tests.support.server import REPO, free_port

pytestmark = pytest.mark.timeout(600)  # TensorFlow start-ups and collectives on 2 busy cores
STEPS_PER_EPOCH = 24  # 6000 train rows / global batch 256


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ctr-data")
    generate(GenerateSettings(out_dir=out, n_train=6000, n_eval=3000, shards=4, seed=7))
    return out


def _tfkit(args: list[str], log: Path, tf_config: dict[str, object] | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tfkit", *args], cwd=REPO, env=env, stdout=out, stderr=out
        )


def _cluster(ports: list[int], args: list[str], logs: Path) -> list[subprocess.Popen[bytes]]:
    workers = [f"localhost:{p}" for p in ports]
    return [
        _tfkit(
            args,
            logs / f"worker-{i}.log",
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}},
        )
        for i in range(len(ports))
    ]


def _wait(procs: list[subprocess.Popen[bytes]], logs: Path) -> list[int]:
    codes = [p.wait(timeout=540) for p in procs]
    return codes


def _text(logs: Path) -> str:
    return "\n".join(
        f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log"))
    )


def _train_args(data: Path, model_dir: Path, *extra: str) -> list[str]:
    return ["train", "ctr", "--data-dir", str(data), "--model-dir", str(model_dir), *extra]


@pytest.fixture()
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _signatures(saved_model: Path) -> dict[str, str]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model))
    return {key: repr(fn.structured_input_signature) for key, fn in loaded.signatures.items()}


def test_two_workers_match_single_worker_auc_and_export_the_same_model(
    data: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    single_art, multi_art = tmp_path / "single", tmp_path / "multi"
    common = ["--epochs", "3", "--export"]
    procs.append(
        _tfkit(
            [*_train_args(data, single_art / "train" / "ctr", *common), "--artifacts", str(single_art)],
            tmp_path / "single.log",
        )
    )
    cluster_args = [*_train_args(data, multi_art / "train" / "ctr", *common), "--artifacts", str(multi_art)]
    procs.extend(
        _cluster([free_port(), free_port()], [*cluster_args, "--strategy", "multi-worker"], tmp_path)
    )
    assert _wait(procs, tmp_path) == [0, 0, 0], _text(tmp_path)

    one = json.loads((single_art / "train" / "ctr" / "metrics.json").read_text())
    two = json.loads((multi_art / "train" / "ctr" / "metrics.json").read_text())
    assert (two["workers"], two["steps"]) == (2, 3 * STEPS_PER_EPOCH)
    assert abs(two["auc"] - one["auc"]) < 0.005, (one["auc"], two["auc"])

    manifest = json.loads((multi_art / "manifest.json").read_text())
    entry = manifest["models"]["ctr"]
    assert (entry["version"], entry["path"], entry["metrics"]["auc"]) == (1, "models/ctr/1", two["auc"])
    # The export is the same as `tfkit export`'s: the SavedModel and its model.tflite (--prefer_tflite_model).
    assert [a["kind"] for a in entry["artifacts"]] == ["saved_model", "version_tflite"]
    version = multi_art / "models" / "ctr" / "1"
    assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert _signatures(version) == _signatures(single_art / "models" / "ctr" / "1")
    assert not (multi_art / "models" / "ctr" / "2").exists()  # only the chief exports


def _latest_step(checkpoints: Path) -> int:
    state = checkpoints / "checkpoint"
    if not state.is_file():
        return 0
    first = state.read_text().splitlines()[0]  # model_checkpoint_path: "ckpt-30"
    return int(first.rsplit("-", 1)[1].rstrip('"'))


def test_worker_killed_at_a_checkpoint_resumes_from_it_after_restart(
    data: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    model_dir = tmp_path / "model"
    args = [
        *_train_args(data, model_dir, "--epochs", "2", "--checkpoint-every", "10"),
        "--strategy",
        "multi-worker",
    ]
    ports = [free_port(), free_port()]
    first = _cluster(ports, args, tmp_path)
    procs.extend(first)
    kill_at = 30  # a mid-epoch checkpoint of epoch 2
    while _latest_step(model_dir / "checkpoints") < kill_at:  # readiness: the chief recorded the checkpoint
        assert all(p.poll() is None for p in first), _text(tmp_path)
        time.sleep(0.1)
    first[1].send_signal(signal.SIGKILL)
    assert first[1].wait(timeout=60) == -signal.SIGKILL
    assert first[0].wait(timeout=120) == 1, _text(tmp_path)  # the chief sees its peer gone and stops
    assert "a worker of the cluster failed" in (tmp_path / "worker-0.log").read_text()
    resumed_from = _latest_step(model_dir / "checkpoints")
    # The kill lands a few steps after ckpt-30 was seen (a quiet machine takes 10 steps in ~0.1 s); the
    # run was cut before its end, and the restart must resume from the last checkpoint either way.
    assert kill_at <= resumed_from < 2 * STEPS_PER_EPOCH

    second = _cluster(ports, args, tmp_path)  # the restart (a Kubernetes Job restarts failed pods)
    procs.extend(second)
    assert _wait(second, tmp_path) == [0, 0], _text(tmp_path)
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
    for log in logs:
        assert f"ckpt-{resumed_from} (epoch 1, step {resumed_from})" in log
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["steps"] == 2 * STEPS_PER_EPOCH
    assert metrics["auc"] > 0.8
