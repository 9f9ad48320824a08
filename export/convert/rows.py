"""Input rows for parity checks and int8 calibration: real rows for our models, a .npz, or random."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.convert.signature import ID_INPUTS, ID_MAX, SignatureSpec, TensorInfo

log = logging.getLogger(__name__)

# Ids at and near the top of the valid range (0 <= id < 2**31): TF.js feeds them as int32.
EDGE_IDS = (ID_MAX, ID_MAX - 1, ID_MAX - 997, 2**30, 2**31 - 2**20, 0, 1, 65_537)


class RowsError(ValueError):
    """Parity/calibration rows cannot be built (bad .npz, missing input, string input without data)."""


@dataclass(frozen=True)
class Rows:
    """Named input arrays (same row count) plus optional 0/1 labels for the first `len(labels)` rows."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str

    @property
    def count(self) -> int:
        return len(next(iter(self.inputs.values())))

    def row(self, index: int) -> dict[str, np.ndarray]:
        return {k: v[index : index + 1] for k, v in self.inputs.items()}


def _check_ids(inputs: dict[str, np.ndarray]) -> None:
    for name in ID_INPUTS:
        ids = inputs.get(name)
        if ids is not None and len(ids) and (ids.min() < 0 or ids.max() > ID_MAX):
            raise RowsError(
                f"input {name!r} has ids outside 0 <= id < 2**31 (min {ids.min()}, max {ids.max()})"
            )


def with_edge_ids(rows: Rows) -> Rows:
    """Append rows whose id inputs sit at the top of the valid range (features copied from real rows)."""
    present = [n for n in ID_INPUTS if n in rows.inputs]
    if not present:
        return rows
    k = len(EDGE_IDS)
    take = np.arange(k) % rows.count
    extra = {name: arr[take].copy() for name, arr in rows.inputs.items()}
    for i, name in enumerate(present):
        ids = np.array(EDGE_IDS, dtype=rows.inputs[name].dtype)
        extra[name] = ids if i % 2 == 0 else ids[::-1].copy()
    merged = {name: np.concatenate([rows.inputs[name], extra[name]]) for name in rows.inputs}
    return Rows(inputs=merged, labels=rows.labels, source=rows.source + f" + {k} rows with ids near 2**31-1")


def _labels_from_examples(
    artifacts: Path, n: int, seed: int, inputs: dict[str, np.ndarray]
) -> np.ndarray | None:
    """Labels of the same rows via export.samples.sample_examples (None when they cannot be matched)."""
    from export import samples
    from export.schema import decode_example

    decoded = [decode_example(raw) for raw in samples.sample_examples(artifacts, n, seed)]
    users = np.array([row["user_id"] for row in decoded], dtype=np.int64)
    labels = [row["label"] for row in decoded]
    if len(decoded) != n or None in labels or not np.array_equal(users, inputs["user_id"]):
        log.warning("labels for AUC: sample_examples rows do not match sample_inputs rows; AUC gate skipped")
        return None
    return np.array(labels, dtype=np.int64)


def kit_rows(model: str, artifacts: Path, n: int, seed: int) -> Rows:
    """Real rows of our model (`export.samples`), with labels for ctr when they can be matched."""
    from export import samples

    inputs = samples.sample_inputs(model, artifacts, n, seed)
    _check_ids(inputs)
    labels = _labels_from_examples(artifacts, n, seed, inputs) if model == "ctr" else None
    return Rows(inputs=inputs, labels=labels, source=f"{n} real {model} rows (export.samples, seed {seed})")


def npz_rows(path: Path, spec: SignatureSpec, limit: int) -> Rows:
    """Named inputs from a .npz (one array per signature input, equal length; optional `label`)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise RowsError(f"cannot read representative data {path}: {err}") from err
    missing = [t.name for t in spec.inputs if t.name not in data.files]
    if missing:
        raise RowsError(
            f"representative data {path} lacks input(s) {', '.join(missing)}; it has {', '.join(data.files)}"
        )
    inputs = {t.name: np.asarray(data[t.name])[:limit].astype(_np_dtype(t)) for t in spec.inputs}
    lengths = {name: len(arr) for name, arr in inputs.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise RowsError(
            f"representative data {path}: inputs need the same, non-zero row count, got {lengths}"
        )
    labels = None
    if "label" in data.files and "label" not in inputs:
        labels = np.asarray(data["label"])[:limit].astype(np.int64)
    _check_ids(inputs)
    return Rows(inputs=inputs, labels=labels, source=f"{len(next(iter(inputs.values())))} rows from {path}")


def _np_dtype(info: TensorInfo) -> np.dtype:
    return np.dtype(object) if info.dtype == "string" else np.dtype(info.dtype)


def random_rows(spec: SignatureSpec, n: int, seed: int, purpose: str, kit_ids: bool = False) -> Rows:
    """Random inputs (floats ~ N(0,1), ints in [0, 100); with `kit_ids` the kit's id inputs span the whole
    valid range 0 <= id < 2**31); warns loudly."""
    rng = np.random.default_rng(seed)
    inputs: dict[str, np.ndarray] = {}
    for info in spec.inputs:
        shape = tuple(n if i == 0 else (1 if d is None else d) for i, d in enumerate(info.shape))
        dtype = _np_dtype(info)
        if info.dtype == "string":
            raise RowsError(
                f"input {info.name!r} is a string tensor: random {purpose} rows are impossible; "
                "pass --representative-data FILE.npz"
            )
        if np.issubdtype(dtype, np.floating):
            inputs[info.name] = rng.normal(size=shape).astype(dtype)
        elif kit_ids and info.name in ID_INPUTS:
            inputs[info.name] = rng.integers(0, ID_MAX, size=shape, endpoint=True).astype(dtype)
        elif dtype == np.bool_:
            inputs[info.name] = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            inputs[info.name] = rng.integers(0, 100, size=shape).astype(dtype)
    if purpose == "calibration":
        log.warning(
            "WARNING: no representative data: int8 calibration uses RANDOM inputs, so its ranges are "
            "meaningless and int8 accuracy is unproven. Pass --representative-data FILE.npz (named inputs)."
        )
    return Rows(inputs=inputs, labels=None, source=f"{n} random rows (seed {seed})")


def build_rows(
    spec: SignatureSpec,
    kit_model: str | None,
    artifacts: Path | None,
    npz: Path | None,
    n: int,
    seed: int,
    purpose: str,
) -> Rows:
    """Rows for `purpose` ('parity' or 'calibration') from the best available source."""
    if npz is not None:
        rows = npz_rows(npz, spec, n)
    elif kit_model is not None and artifacts is not None:
        rows = kit_rows(kit_model, artifacts, n, seed)
    else:
        rows = random_rows(spec, n, seed, purpose, kit_ids=kit_model == "ctr")
    return with_edge_ids(rows) if purpose == "parity" and kit_model == "ctr" else rows
