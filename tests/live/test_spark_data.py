"""`tfkit data spark` on a real local Spark (local[2]): the same records and split as `tfkit data import`,
rejects with reasons, gzip shards the kit's reader reads, atomic output. FAILS under CI without Spark/Java.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from export.importer import import_logs
from export.reader import ctr_dataset, iterate
from export.settings import ImportSettings
from export.shards import split_files
from tests.conftest import in_ci
from tests.support.server import REPO

LEN = 121
pytestmark = pytest.mark.timeout(600)  # JVM + TensorFlow start-ups on 2 busy cores


def _spark_ready() -> None:
    missing = [name for name in ("java",) if shutil.which(name) is None]
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark")
    if missing:
        message = f"Spark tests need {', '.join(missing)} (make install; .ci/run installs a JRE)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def _frame(n: int, start: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.arange(start, start + n),
            "article_id": rng.integers(0, 500, size=n),
            "clicked": rng.integers(0, 2, size=n),
            "features": [list(v) for v in rng.normal(size=(n, LEN))],
        }
    )


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.copy()
    out["features"] = [";".join(repr(float(x)) for x in v) for v in out["features"]]
    out.to_csv(path, index=False)
    return path


def _records(out: Path) -> dict[str, Counter[bytes]]:
    import tensorflow as tf

    from export.split import compression_type

    found: dict[str, Counter[bytes]] = {}
    for split in ("train", "eval"):
        files = split_files(out, split)
        rows = tf.data.TFRecordDataset([str(f) for f in files], compression_type(files[0]))
        found[split] = Counter(bytes(r.numpy()) for r in rows)
    return found


def _spark(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "tfkit", "data", "spark", "--master", "local[2]", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=560)


def test_spark_writes_the_importers_records_and_rejects_bad_rows(tmp_path: Path) -> None:
    _spark_ready()
    rng = np.random.default_rng(0)
    clean_csv = _csv(_frame(150, 0, rng), tmp_path / "a.csv")
    clean_parquet = tmp_path / "b.parquet"
    _frame(150, 1000, rng).to_parquet(clean_parquet)
    bad = _frame(3, 5000, rng)
    bad.loc[0, "clicked"] = 3
    bad.loc[1, "features"] = [1.0, 2.0]  # wrong length
    bad.loc[2, "user_id"] = -4
    bad_parquet = tmp_path / "bad.parquet"
    bad.to_parquet(bad_parquet)

    settings = ImportSettings(
        inputs=(clean_csv, clean_parquet), out_dir=tmp_path / "import", shards=3, seed=4
    )
    imported = import_logs(settings)
    out = tmp_path / "spark"
    # other input order, plus the bad rows: order and partitioning must not change the placement
    run = _spark(
        str(bad_parquet),
        str(clean_parquet),
        str(clean_csv),
        "--out",
        str(out),
        "--shards",
        "3",
        "--seed",
        "4",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "3 rejected" in run.stdout

    meta = json.loads((out / "meta.json").read_text())
    assert (meta["n_train"], meta["n_eval"], meta["rejected"]) == (imported["n_train"], imported["n_eval"], 3)
    assert meta["train_files"] == imported["train_files"] and meta["eval_files"] == imported["eval_files"]
    assert (out / "_SUCCESS").is_file()
    assert not list(tmp_path.glob("spark.tmp-*")) and not list(tmp_path.glob("spark.old-*"))
    assert _records(out) == _records(tmp_path / "import")
    for split in ("train", "eval"):  # and shard by shard, as multisets
        for name in meta[f"{split}_files"]:
            spark_shard = _records_of(out / name)
            assert spark_shard == _records_of(tmp_path / "import" / name), name

    rejects = [json.loads(line) for line in (out / "rejects" / "part-00000.jsonl").read_text().splitlines()]
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons == [
        "clicked: 3 outside [0, 2)",
        f"features: expected {LEN} values, got 2",
        "user_id: -4 outside [0, 2147483648)",
    ]
    assert all(r["source"].endswith("bad.parquet") for r in rejects)


def _records_of(path: Path) -> Counter[bytes]:
    import tensorflow as tf

    return Counter(bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(path)))


def test_gzip_shards_read_by_the_kit_and_a_failed_job_keeps_the_previous_output(tmp_path: Path) -> None:
    _spark_ready()
    rng = np.random.default_rng(1)
    source = tmp_path / "clicks.parquet"
    _frame(120, 0, rng).to_parquet(source)
    out = tmp_path / "data"
    run = _spark(str(source), "--out", str(out), "--shards", "2", "--compression", "gzip")
    assert run.returncode == 0, run.stderr[-3000:]
    files = split_files(out, "train")
    assert [f.name for f in files] == ["train-00000-of-00002.tfrecord.gz", "train-00001-of-00002.tfrecord.gz"]
    rows = sum(int(label.shape[0]) for _, label in iterate(ctr_dataset(files, 32, LEN), files))
    assert rows == json.loads((out / "meta.json").read_text())["n_train"]

    before = sorted(p.name for p in out.iterdir())
    broken = tmp_path / "broken.parquet"
    _frame(5, 0, rng).drop(columns=["clicked"]).to_parquet(broken)
    failed = _spark(str(broken), "--out", str(out))
    assert failed.returncode == 1
    assert "missing column(s) clicked" in failed.stderr
    assert sorted(p.name for p in out.iterdir()) == before
    assert not list(tmp_path.glob("data.tmp-*"))
