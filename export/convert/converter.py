"""One `tfkit convert` run: convert every requested variant, prove parity, write sidecars."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.convert.node import GraphModelJob, run_graph_models
from export.convert.ops import UnsupportedOps
from export.convert.parity import ParityFailed, ParityResult, compare, run_litert
from export.convert.rows import Rows, build_rows
from export.convert.settings import CALIBRATION_ROWS, ConvertSettings
from export.convert.sidecar import build_sidecar, sidecar_path, write_sidecar
from export.convert.signature import LoadedSignature, load_signature
from export.convert.tfjs import bundle_files, convert_tfjs, io_names
from export.convert.tflite import FLEX_NOTICE, convert_tflite
from export.manifest import artifact_entry
from export.models import get
from export.native_log import native_stderr_to

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


class UnsupportedOpsError(RuntimeError):
    """One or more targets cannot run the signature's ops (message names ops and targets)."""

    def __init__(self, problems: list[UnsupportedOps]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class ArtifactResult:
    target: str
    variant: str
    bundle: Path  # the .tflite file or the model.json
    files: list[Path]
    flex_ops: tuple[str, ...] = ()
    float_nodes: tuple[str, ...] = ()
    feeds: dict[str, str] | None = None
    fetches: dict[str, str] | None = None
    parity: ParityResult | None = None
    sidecar: Path | None = None

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def tflite_path(output_dir: Path, name: str, variant: str) -> Path:
    return output_dir / "tflite" / name / f"{variant}.tflite"


def tfjs_dir(output_dir: Path, name: str, variant: str) -> Path:
    return output_dir / "tfjs" / name / variant


def native_log(output_dir: Path, name: str, target: str) -> Path:
    """Where the converters' C++ log lines go: `<target>/<name>/convert.log` beside the bundles."""
    return output_dir / target / name / "convert.log"


def _convert_one(
    settings: ConvertSettings,
    loaded: LoadedSignature,
    target: str,
    variant: str,
    calibration: Callable[[], Rows],
) -> ArtifactResult:
    if target == "tflite":
        path = tflite_path(settings.output_dir, settings.name, variant)
        rows = calibration() if variant == "int8" else None
        with native_stderr_to(native_log(settings.output_dir, settings.name, target)):
            outcome = convert_tflite(
                settings.saved_model_dir,
                settings.signature,
                variant,
                path,
                rows,
                settings.allow_select_tf_ops,
            )
        return ArtifactResult(
            target, variant, path, [path], flex_ops=outcome.flex_ops, float_nodes=outcome.float_nodes
        )
    with native_stderr_to(native_log(settings.output_dir, settings.name, target)):
        model_json = convert_tfjs(
            settings.saved_model_dir,
            settings.signature,
            variant,
            tfjs_dir(settings.output_dir, settings.name, variant),
        )
    feeds, fetches = io_names(model_json, loaded.spec)
    return ArtifactResult(target, variant, model_json, bundle_files(model_json), feeds=feeds, fetches=fetches)


def _plan(settings: ConvertSettings) -> list[tuple[str, str]]:
    return [("tflite", v) for v in settings.tflite_variants] + [("tfjs", v) for v in settings.tfjs_variants]


def convert_variants(
    settings: ConvertSettings, loaded: LoadedSignature, calibration: Callable[[], Rows], progress: Progress
) -> list[ArtifactResult]:
    """Convert every variant; each target's first variant goes first so unsupported ops fail fast."""
    plan = _plan(settings)
    firsts = [p for i, p in enumerate(plan) if all(p[0] != q[0] for q in plan[:i])]
    ordered = firsts + [p for p in plan if p not in firsts]
    problems: dict[str, UnsupportedOps] = {}
    done: dict[tuple[str, str], ArtifactResult] = {}
    for target, variant in ordered:
        if target in problems or (problems and (target, variant) not in firsts):
            continue
        progress(f"convert {settings.name}: {target} {variant}")
        try:
            done[(target, variant)] = _convert_one(settings, loaded, target, variant, calibration)
        except UnsupportedOps as missing:
            problems[target] = missing
    if problems:
        raise UnsupportedOpsError(list(problems.values()))
    return [done[p] for p in plan]


def _tflite_parity(
    settings: ConvertSettings, art: ArtifactResult, rows: Rows, reference: dict[str, np.ndarray]
) -> ParityResult:
    gate = settings.gate("tflite", art.variant)
    auc_gate = settings.auc_gate if art.variant == "int8" else None
    try:
        with native_stderr_to(native_log(settings.output_dir, settings.name, "tflite")):
            outputs = run_litert(art.bundle, settings.signature, rows)
    except (RuntimeError, ValueError) as err:
        if not art.flex_ops:
            raise
        log.warning("parity of %s NOT measured: %s (%s)", art.bundle, FLEX_NOTICE, str(err).splitlines()[0])
        note = "not measured: Flex ops cannot run in Python LiteRT"
        return ParityResult("tflite", art.variant, rows.count, None, gate, note=note)
    return compare("tflite", art.variant, rows, reference, outputs, gate, auc_gate)


def check_parity(
    settings: ConvertSettings,
    results: list[ArtifactResult],
    rows: Rows,
    reference: dict[str, np.ndarray],
    progress: Progress,
) -> None:
    """Fill `parity` of every result: LiteRT one by one, all TF.js bundles in one Node process."""
    for art in results:
        if art.target == "tflite":
            progress(f"parity {settings.name}: tflite {art.variant} (LiteRT, {rows.count} rows)")
            art.parity = _tflite_parity(settings, art, rows, reference)
    js = [a for a in results if a.target == "tfjs"]
    if js:
        progress(f"parity {settings.name}: tfjs {', '.join(a.variant for a in js)} (Node, {rows.count} rows)")
        jobs = [GraphModelJob(a.variant, a.bundle, a.feeds or {}, a.fetches or {}) for a in js]
        outputs = run_graph_models(jobs, rows)
        for art in js:
            gate = settings.gate("tfjs", art.variant)
            art.parity = compare(
                "tfjs", art.variant, rows, reference, outputs[art.variant].outputs, gate, None
            )


def convert_model(settings: ConvertSettings, progress: Progress) -> list[ArtifactResult]:
    """Convert, check parity, write sidecars; raise ParityFailed (after writing) when a gate fails."""
    logs = [native_log(settings.output_dir, settings.name, t) for t, _ in _plan(settings)]
    for log_file in logs:
        log_file.unlink(missing_ok=True)  # one log per run
    with native_stderr_to(logs[0]):  # TensorFlow's C++ import chatter, when this loads it
        loaded = load_signature(settings.saved_model_dir, settings.signature)
    kit = None if settings.kit_model is None else get(settings.kit_model)
    calibration: list[Rows] = []

    def calibration_rows() -> Rows:  # built on first int8 use, after unsupported ops had a chance to fail
        if not calibration:
            calibration.append(
                build_rows(
                    loaded.spec,
                    kit,
                    settings.artifacts_dir,
                    settings.representative_data,
                    CALIBRATION_ROWS,
                    settings.parity_seed + 1,
                    "calibration",
                )
            )
            progress(f"int8 calibration rows for {settings.name}: {calibration[0].source}")
        return calibration[0]

    results = convert_variants(settings, loaded, calibration_rows, progress)
    rows = build_rows(
        loaded.spec,
        kit,
        settings.artifacts_dir,
        settings.representative_data,
        settings.parity_rows,
        settings.parity_seed,
        "parity",
    )
    progress(f"parity rows for {settings.name}: {rows.source}")
    reference = loaded(rows.inputs)
    check_parity(settings, results, rows, reference, progress)
    for art in results:
        art.sidecar = sidecar_path(art.target, art.bundle)
        sidecar = build_sidecar(
            loaded.spec,
            art.target,
            art.variant,
            settings.name,
            kit,
            art.feeds,
            art.files,
            art.parity,
            art.flex_ops,
            art.float_nodes,
        )
        write_sidecar(art.sidecar, sidecar)
    failed = [a.parity for a in results if a.parity is not None and not a.parity.passed]
    if failed:
        raise ParityFailed(failed)
    return results


def ledger_entries(art: ArtifactResult, root: Path, signature: str) -> list[dict[str, Any]]:
    """The manifest entries of one converted artifact: the bundle (with its parity) and its sidecar."""
    parity = art.parity
    bundle = artifact_entry(
        root,
        art.target,
        art.variant,
        art.bundle,
        files=art.files,
        signature=signature,
        parity_max_abs_error=None if parity is None else parity.max_abs_error,
        parity_error=None if parity is None else parity.error,
        parity_scale=None if parity is None else parity.scale,
        parity_gate=None if parity is None else parity.gate,
    )
    if art.sidecar is None:
        return [bundle]
    sidecar = artifact_entry(root, "sidecar", f"{art.target}/{art.variant}", art.sidecar, signature=signature)
    return [bundle, sidecar]
