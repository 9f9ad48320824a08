"""Bad input to the `tfkit` command, run for real as a subprocess: one clear message each (no Python
traceback), a non-zero exit code, and nothing partial left behind.

Covers `tfkit data import` (missing file, unsupported extension, corrupt Parquet, empty / one-row files,
non-finite or missing features, non-integer ids), `tfkit convert` (not a SavedModel, unknown signature)
and `tfkit serve` (unreadable model, batching and monitoring configs). The serve messages follow
tensorflow_model_server's start-up failure ("Failed to start server. Error: ..."; model_servers/main.cc).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from serving.launcher import REPO, TFKIT, free_port

HEADER = "user_id,article_id,clicked,features\n"
FEATURES = ";".join(["0.5"] * 121)


def tfkit(*argv: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TFKIT, *map(str, argv)], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_clear_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Non-zero exit, the message on stderr, no traceback anywhere."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert message in result.stderr, result.stderr
    # One message: the kit's own line, without TensorFlow's C++ start-up chatter around it.
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 2, result.stderr


def csv_rows(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


def good_row(user: str = "1", article: str = "2", clicked: str = "1", features: str = FEATURES) -> str:
    return f"{user},{article},{clicked},{features}"


def write_parquet(path: Path, rows: int) -> Path:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "user_id": list(range(rows)),
            "article_id": list(range(rows)),
            "clicked": [1] * rows,
            "features": [[0.5] * 121 for _ in range(rows)],
        }
    )
    frame.to_parquet(path)
    return path


IMPORT_CASES = {
    "missing file": (None, "logs.csv", "logs.csv: no such file"),
    "unsupported extension": ("{}", "logs.json", "unsupported file type '.json' (expected .csv or .parquet)"),
    "corrupt parquet": (b"PAR1 this is not parquet", "logs.parquet", "logs.parquet: cannot read"),
    "empty csv": ("", "logs.csv", "logs.csv: cannot read"),
    "header only": (HEADER, "logs.csv", "need at least 2 rows to split into train and eval, got 0"),
    "one row": (csv_rows(good_row()), "logs.csv", "need at least 2 rows to split into train and eval, got 1"),
    "missing column": ("user_id,clicked\n1,0\n", "logs.csv", "missing column(s) article_id, features"),
    "nan feature": (
        csv_rows(good_row(), good_row(features=FEATURES.replace("0.5", "nan", 1))),
        "logs.csv",
        "logs.csv: row 1 (line 3): features: non-finite value",
    ),
    "inf feature": (
        csv_rows(good_row(features=FEATURES.replace("0.5", "inf", 1)), good_row()),
        "logs.csv",
        "logs.csv: row 0 (line 2): features: non-finite value",
    ),
    "missing features": (
        csv_rows(good_row(), good_row(features="")),
        "logs.csv",
        "logs.csv: row 1 (line 3): features: missing",
    ),
    "short features": (
        csv_rows(good_row(features="0.1;0.2"), good_row()),
        "logs.csv",
        "row 0 (line 2): features: expected 121 values, got 2",
    ),
    "fractional id": (
        csv_rows(good_row(), good_row(user="1.5")),
        "logs.csv",
        "row 1 (line 3): user_id: not an integer (1.5)",
    ),
    "text id": (
        csv_rows(good_row(article="abc"), good_row()),
        "logs.csv",
        "row 0 (line 2): article_id: not a number ('abc')",
    ),
    "negative id": (
        csv_rows(good_row(user="-3"), good_row()),
        "logs.csv",
        "row 0 (line 2): user_id: -3 outside [0, 2147483648)",
    ),
}


@pytest.mark.parametrize("case", list(IMPORT_CASES))
def test_data_import_bad_input(case: str, tmp_path: Path) -> None:
    content, name, message = IMPORT_CASES[case]
    source = tmp_path / name
    if isinstance(content, bytes):
        source.write_bytes(content)
    elif content is not None:
        source.write_text(content)
    out = tmp_path / "data" / "ctr"
    assert_clear_failure(tfkit("data", "import", source, "--out", out), message)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_data_import_one_row_parquet_keeps_the_old_data(tmp_path: Path) -> None:
    """A failed import leaves an existing data set exactly as it was."""
    out = tmp_path / "ctr"
    out.mkdir()
    (out / "meta.json").write_text("{}\n")
    (out / "train-00000-of-00001.tfrecord").write_bytes(b"old")
    result = tfkit("data", "import", write_parquet(tmp_path / "one.parquet", 1), "--out", out)
    assert_clear_failure(result, "need at least 2 rows to split into train and eval, got 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctr", "one.parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "train-00000-of-00001.tfrecord"]


def test_data_import_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = tfkit("data", "import", write_parquet(tmp_path / "ok.parquet", 4), "--out", out)
    assert_clear_failure(
        result, "exists and is not a data directory (only meta.json, _SUCCESS, rejects/, *.tfrecord[.gz])"
    )
    assert (out / "keep.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.half_plus_two import write_half_plus_two

    return write_half_plus_two(tmp_path_factory.mktemp("hpt") / "hpt", 1)


def test_convert_missing_directory(tmp_path: Path) -> None:
    result = tfkit("convert", tmp_path / "nowhere", "--output-dir", tmp_path / "out")
    assert_clear_failure(result, f"tfkit convert: SavedModel directory {tmp_path / 'nowhere'} does not exist")
    assert not (tmp_path / "out").exists()


def test_convert_not_a_saved_model(tmp_path: Path) -> None:
    source = tmp_path / "model" / "1"
    source.mkdir(parents=True)
    (source / "weights.h5").write_bytes(b"not a SavedModel")
    out = tmp_path / "out"
    result = tfkit("convert", source, "--output-dir", out, "--tflite", "float32", "--tfjs", "none")
    assert_clear_failure(result, f"tfkit convert: {source} is not a SavedModel directory (no saved_model.pb)")
    assert not out.exists() or list(out.iterdir()) == []


def test_convert_unknown_signature(saved_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = tfkit(
        "convert",
        saved_model,
        "--output-dir",
        out,
        "--signature",
        "nope",
        "--tflite",
        "float32",
        "--tfjs",
        "none",
    )
    assert_clear_failure(result, "nope")
    assert not out.exists() or list(out.iterdir()) == []


SERVE_CASES = {
    "missing model config": (
        "--model_config_file={tmp}/absent.config",
        "absent.config",
    ),
    "bad model config": (
        "--model_config_file={tmp}/bad.config",
        "bad.config",
    ),
    "bad batching config": (
        "--enable_batching=true --batching_parameters_file={tmp}/bad.config --model_name=m "
        "--model_base_path={tmp}",
        "bad.config",
    ),
    "missing batching config": (
        "--enable_batching=true --batching_parameters_file={tmp}/absent.config --model_name=m "
        "--model_base_path={tmp}",
        "absent.config",
    ),
    # server.cc reads the monitoring config only when REST is on.
    "bad monitoring config": (
        "--monitoring_config_file={tmp}/bad.config --rest_api_port={rest} --model_name=m "
        "--model_base_path={tmp}",
        "bad.config",
    ),
}


@pytest.mark.parametrize("case", list(SERVE_CASES))
def test_serve_unreadable_config(case: str, tmp_path: Path) -> None:
    flags, message = SERVE_CASES[case]
    (tmp_path / "bad.config").write_text("model_config_list { config { name: 'x' base_path: \n")
    argv = [f.format(tmp=tmp_path, rest=free_port()) for f in flags.split()]
    if not any(a.startswith("--rest_api_port=") for a in argv):
        argv.append("--rest_api_port=0")
    result = tfkit("serve", *argv, f"--port={free_port()}", timeout=120)
    assert_clear_failure(result, message)
