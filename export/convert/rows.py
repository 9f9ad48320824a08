"""Input rows for parity checks and int8 calibration.

Sources, best first: a .npz the user passes, real rows of a registered kit model (its `sample_inputs`),
and, for parity only, random rows. int8 calibration never runs on random rows: its ranges would be
meaningless and its accuracy unproven, so without real rows there is no int8 (RowsError).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.convert.signature import SignatureSpec, TensorInfo
from export.models import KitModel

log = logging.getLogger(__name__)

INT8_NEEDS_DATA = (
    "int8 needs representative data: pass --representative-data FILE.npz (named inputs); "
    "calibrating on random inputs would leave int8 accuracy unproven"
)


def edge_ids(max_id: int) -> tuple[int, ...]:
    """Ids at and near the top of the valid range 0 <= id < max_id (TF.js feeds ids as int32), and 0."""
    top = max_id - 1
    return (top, top - 1, top - 997, max_id // 2, max_id - max_id // 2048, 0, 1, 65_537 % max_id)


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


def _check_ids(inputs: dict[str, np.ndarray], kit: KitModel | None) -> None:
    if kit is None or kit.max_id is None:
        return
    for name in kit.id_inputs:
        ids = inputs.get(name)
        if ids is not None and len(ids) and (ids.min() < 0 or ids.max() >= kit.max_id):
            raise RowsError(
                f"input {name!r} has ids outside 0 <= id < {kit.max_id} (min {ids.min()}, max {ids.max()})"
            )


def with_edge_ids(rows: Rows, kit: KitModel) -> Rows:
    """Append rows whose id inputs sit at the top of the valid range (other inputs copied from real rows)."""
    present = [n for n in kit.id_inputs if n in rows.inputs]
    if not present or kit.max_id is None:
        return rows
    edges = edge_ids(kit.max_id)
    take = np.arange(len(edges)) % rows.count
    extra = {name: arr[take].copy() for name, arr in rows.inputs.items()}
    for i, name in enumerate(present):
        ids = np.array(edges, dtype=rows.inputs[name].dtype)
        extra[name] = ids if i % 2 == 0 else ids[::-1].copy()
    merged = {name: np.concatenate([rows.inputs[name], extra[name]]) for name in rows.inputs}
    note = f" + {len(edges)} rows with ids near {kit.max_id - 1}"
    return Rows(inputs=merged, labels=rows.labels, source=rows.source + note)


def kit_rows(kit: KitModel, artifacts: Path, n: int, seed: int) -> Rows:
    """Real rows of a registered model (its `sample_inputs`), with its labels when it has them."""
    inputs = kit.sample_inputs(artifacts, n, seed)
    _check_ids(inputs, kit)
    labels = kit.sample_labels(artifacts, n, seed)
    return Rows(inputs=inputs, labels=labels, source=f"{n} real {kit.name} rows (seed {seed})")


def npz_rows(path: Path, spec: SignatureSpec, limit: int, kit: KitModel | None = None) -> Rows:
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
    _check_ids(inputs, kit)
    return Rows(inputs=inputs, labels=labels, source=f"{len(next(iter(inputs.values())))} rows from {path}")


def _np_dtype(info: TensorInfo) -> np.dtype:
    return np.dtype(object) if info.dtype == "string" else np.dtype(info.dtype)


def random_rows(spec: SignatureSpec, n: int, seed: int, kit: KitModel | None = None) -> Rows:
    """Random parity inputs: floats ~ N(0,1), ints in [0, 100), a kit model's ids over its whole range."""
    rng = np.random.default_rng(seed)
    ids = kit.id_inputs if kit is not None and kit.max_id is not None else ()
    inputs: dict[str, np.ndarray] = {}
    for info in spec.inputs:
        shape = tuple(n if i == 0 else (1 if d is None else d) for i, d in enumerate(info.shape))
        dtype = _np_dtype(info)
        if info.dtype == "string":
            raise RowsError(
                f"input {info.name!r} is a string tensor: random parity rows are impossible; "
                "pass --representative-data FILE.npz"
            )
        if np.issubdtype(dtype, np.floating):
            inputs[info.name] = rng.normal(size=shape).astype(dtype)
        elif info.name in ids and kit is not None and kit.max_id is not None:
            inputs[info.name] = rng.integers(0, kit.max_id, size=shape).astype(dtype)
        elif dtype == np.bool_:
            inputs[info.name] = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            inputs[info.name] = rng.integers(0, 100, size=shape).astype(dtype)
    return Rows(inputs=inputs, labels=None, source=f"{n} random rows (seed {seed})")


def has_real_rows(kit: KitModel | None, artifacts: Path | None, npz: Path | None) -> bool:
    """Whether calibration rows exist: a .npz, or a registered model with its artifacts directory."""
    return npz is not None or (kit is not None and artifacts is not None)


def build_rows(
    spec: SignatureSpec,
    kit: KitModel | None,
    artifacts: Path | None,
    npz: Path | None,
    n: int,
    seed: int,
    purpose: str,
) -> Rows:
    """Rows for `purpose` ('parity' or 'calibration') from the best available source.

    Calibration without real rows raises RowsError: random calibration would prove nothing."""
    if npz is not None:
        rows = npz_rows(npz, spec, n, kit)
    elif kit is not None and artifacts is not None:  # has_real_rows without a .npz
        rows = kit_rows(kit, artifacts, n, seed)
    elif purpose == "calibration":
        raise RowsError(INT8_NEEDS_DATA)
    else:
        rows = random_rows(spec, n, seed, kit)
    return with_edge_ids(rows, kit) if purpose == "parity" and kit is not None else rows
