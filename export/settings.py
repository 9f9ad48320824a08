"""Typed settings for data generation, training and export, built once by the CLI and passed down."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.schema import FEATURE_LEN


@dataclass(frozen=True)
class GenerateSettings:
    """The synthetic CTR data set (`tfkit data generate`)."""

    out_dir: Path
    n_train: int = 48_000
    n_eval: int = 12_000
    n_users: int = 50
    n_articles: int = 100
    shards: int = 4
    feature_len: int = FEATURE_LEN
    seed: int = 7


@dataclass(frozen=True)
class ImportSettings:
    """Importing click logs (`tfkit data import`) from CSV or Parquet."""

    inputs: tuple[Path, ...]
    out_dir: Path
    shards: int = 4
    eval_fraction: float = 0.2
    feature_len: int = FEATURE_LEN
    delimiter: str = ""
    seed: int = 0


@dataclass(frozen=True)
class LinearSettings:
    """The seed's linear regression (`tfkit train linear`)."""

    model_dir: Path
    max_steps: int = 1000
    learning_rate: float = 0.01
    seed: int = 0
    n_samples: int = 100
    log_every: int = 1
    checkpoint_every: int = 100


@dataclass(frozen=True)
class CtrSettings:
    """The wide-and-deep CTR model (`tfkit train ctr`)."""

    data_dir: Path
    model_dir: Path
    epochs: int = 4
    batch_size: int = 256
    learning_rate: float = 0.01
    user_buckets: int = 2048  # 2048x16 tables dominate the file: int8 .tflite stays <= 30% of float32
    article_buckets: int = 2048
    embedding_dim: int = 16
    embedding_init: float = 0.05  # stddev; buckets no id hashes to stay near zero (no effect for unseen ids)
    group_units: int = 8  # first-layer units per input group; 101x8 < 1024 weights: float in dynamic-range
    hidden: tuple[int, ...] = (16,)
    l2: float = 3e-3
    feature_clip: float = 4.0  # standardized features are clipped to +-feature_clip
    std_floor: float = 1e-2  # near-constant features are scaled by 1/std_floor, not blown up
    seed: int = 0
    skip_bad: bool = False
    feature_len: int = FEATURE_LEN


@dataclass(frozen=True)
class ExportSettings:
    """Publishing a trained model as a TF Serving version (`tfkit export`)."""

    artifacts: Path
    model: str
    model_dir: Path
    version: int | None = None
    warmup_rows: int = 8


def add_setting(parser: Any, flag: str, settings_type: type, name: str, note: str = "") -> None:
    """A CLI option for a settings field, typed and defaulted by its dataclass (the one source)."""
    default = {f.name: f.default for f in dataclasses.fields(settings_type)}[name]
    text = f"{note} (default: %(default)s)" if note else "(default: %(default)s)"
    parser.add_argument(flag, type=type(default), default=default, help=text)
