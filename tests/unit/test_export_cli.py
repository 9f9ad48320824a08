"""The export commands through `tfkit`'s own parser (in-process), and the pipeline's failure report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export.pipeline import PipelineSettings, run_pipeline
from export.schema import encode_example
from export.shards import write_meta, write_shards
from tfkit.cli import main


def test_import_bad_row_exits_1_naming_file_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "logs.csv"
    csv.write_text("user_id,article_id,clicked,features\n1,2,1," + ";".join(["0.5"] * 121) + "\n1,2,x,1;2\n")
    code = main(["data", "import", str(csv), "--out", str(tmp_path / "out")])
    assert code == 1
    assert f"error: {csv}: row 1 (line 3): clicked: not a number ('x')" in capsys.readouterr().err


def test_train_ctr_on_a_bad_record_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [encode_example(i % 2, np.zeros(121), 1, 2) for i in range(6)]
    write_shards(tmp_path, "train", [*good[:4], encode_example(1, np.zeros(3), 1, 2)], 1)
    write_shards(tmp_path, "eval", good, 1)
    write_meta(tmp_path, {"feature_len": 121, "n_train": 5, "bayes_auc": None})
    code = main(
        ["train", "ctr", "--data-dir", str(tmp_path), "--model-dir", str(tmp_path / "m"), "--epochs", "1"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "train-00000-of-00001.tfrecord: record 4: feature has 24 bytes, expected 968" in err
    skip = ["train", "ctr", "--data-dir", str(tmp_path), "--model-dir", str(tmp_path / "s"), "--epochs", "1"]
    assert main([*skip, "--skip-bad"]) == 0
    assert "skipped=1 " in capsys.readouterr().out


def test_export_without_training_and_inspect_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--model", "linear", "--artifacts", str(tmp_path)]) == 1
    assert "run `tfkit train linear`" in capsys.readouterr().err
    assert main(["inspect", "--artifacts", str(tmp_path)]) == 0
    assert "no models in manifest.json" in capsys.readouterr().out


def test_pipeline_reports_the_failing_stage(tmp_path: Path) -> None:
    data = tmp_path / "data" / "ctr"
    data.mkdir(parents=True)
    (data / "meta.json").write_text(json.dumps({"feature_len": 121}))
    lines: list[str] = []
    assert run_pipeline(PipelineSettings(artifacts=tmp_path), lines.append) == 1
    assert any(line.startswith("[2/") and "generate data: reusing" in line for line in lines)
    assert "train ctr: FAILED after" in lines[-1]
    assert f"FileNotFoundError: no train-*.tfrecord shards in {data}" in lines[-1]
    assert not (tmp_path / "models").exists()
