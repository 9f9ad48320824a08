"""`tfkit convert`: SavedModel signature -> TFLite and TF.js bundles with proven parity."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from export.convert.settings import (
    DEFAULT_GATES,
    TFJS_VARIANTS,
    TFLITE_VARIANTS,
    ConvertSettings,
    SettingsError,
    default_name,
    find_artifacts_dir,
    parse_gate,
    parse_variants,
)

EXIT_PARITY = 1
EXIT_USAGE = 2


def register(sub: Any) -> None:
    """Add `convert` to the `tfkit` subcommands."""
    p = sub.add_parser(
        "convert",
        help="convert a SavedModel signature to TFLite / TF.js and prove parity",
        description="Convert one SavedModel signature to .tflite variants and TF.js graph models, run every "
        "artifact against the SavedModel on the same rows (LiteRT, TF.js in Node) and fail on a missed gate.",
    )
    p.add_argument("saved_model_dir", type=Path, help="SavedModel directory (e.g. artifacts/models/ctr/1)")
    p.add_argument(
        "--output-dir", type=Path, required=True, help="writes tflite/<name>/ and tfjs/<name>/ here"
    )
    p.add_argument("--name", help="bundle name (default: parent dir name for a numbered version dir)")
    p.add_argument("--signature", default="serving_default", help="signature key (default serving_default)")
    p.add_argument("--tflite", default="all", help=f"comma list of {','.join(TFLITE_VARIANTS)}, all or none")
    p.add_argument("--tfjs", default="all", help=f"comma list of {','.join(TFJS_VARIANTS)}, all or none")
    p.add_argument(
        "--representative-data",
        type=Path,
        help=".npz of named inputs for int8 calibration and parity (default: real rows for the kit's models; "
        "otherwise parity runs on random rows and int8 is skipped, or refused when asked for by name)",
    )
    p.add_argument(
        "--allow-select-tf-ops",
        action="store_true",
        help="let TFLite use SELECT_TF_OPS for ops outside the builtins (apps then need the Flex runtime)",
    )
    p.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="TARGET:VARIANT=MAX",
        help="override a parity gate, e.g. tflite:int8=0.01 (defaults: "
        + ", ".join(f"{t}:{v}={g:g}" for (t, v), g in DEFAULT_GATES.items())
        + ")",
    )
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> ConvertSettings:
    from export.convert.rows import INT8_NEEDS_DATA, has_real_rows
    from export.models import get

    saved_model_dir: Path = args.saved_model_dir
    if not saved_model_dir.is_dir():
        raise SettingsError(f"SavedModel directory {saved_model_dir} does not exist")
    if args.representative_data is not None and not args.representative_data.is_file():
        raise SettingsError(f"--representative-data {args.representative_data} does not exist")
    gates = dict(DEFAULT_GATES)
    gates.update(parse_gate(text) for text in args.gate)
    tflite = parse_variants(args.tflite, TFLITE_VARIANTS, "tflite")
    tfjs = parse_variants(args.tfjs, TFJS_VARIANTS, "tfjs")
    artifacts_dir = find_artifacts_dir(saved_model_dir)
    kit_model = recorded_kit_model(artifacts_dir, saved_model_dir)
    kit = None if kit_model is None else get(kit_model)
    if "int8" in tflite and not has_real_rows(kit, artifacts_dir, args.representative_data):
        if args.tflite.strip() != "all":
            raise SettingsError(f"tflite {INT8_NEEDS_DATA}")
        tflite = tuple(v for v in tflite if v != "int8")
        print(
            "tfkit convert: skipping tflite int8: no representative data (pass --representative-data "
            "FILE.npz to build and gate it)",
            file=sys.stderr,
        )
    if not tflite and not tfjs:
        raise SettingsError("nothing to do: --tflite none and --tfjs none")
    return ConvertSettings(
        saved_model_dir=saved_model_dir,
        output_dir=args.output_dir,
        name=args.name or default_name(saved_model_dir),
        signature=args.signature,
        tflite_variants=tflite,
        tfjs_variants=tfjs,
        representative_data=args.representative_data,
        allow_select_tf_ops=args.allow_select_tf_ops,
        artifacts_dir=artifacts_dir,
        kit_model=kit_model,
        gates=gates,
    )


def recorded_kit_model(artifacts_dir: Path | None, saved_model_dir: Path) -> str | None:
    """The registry model the manifest records for this version's model (None for foreign models)."""
    if artifacts_dir is None:
        return None
    from export.manifest import load_manifest
    from export.models import names

    base = saved_model_dir.resolve().parent
    for name, entry in load_manifest(artifacts_dir).get("models", {}).items():
        recorded = entry.get("kit_model")
        if recorded in names() and base == (artifacts_dir / "models" / name).resolve():
            return str(recorded)
    return None


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        settings = settings_from_args(args)
    except SettingsError as err:
        print(f"tfkit convert: {err}", file=sys.stderr)
        return EXIT_USAGE
    return convert_and_report(settings)


def convert_and_report(settings: ConvertSettings) -> int:
    """Run the conversion and print the summary table; returns the exit code."""
    from export.convert.converter import UnsupportedOpsError, convert_model
    from export.convert.node import NodeError
    from export.convert.parity import ParityFailed, format_table
    from export.convert.rows import RowsError
    from export.convert.signature import SignatureError
    from export.convert.tflite import FLEX_NOTICE, ConversionError

    if settings.allow_select_tf_ops:
        print(FLEX_NOTICE, file=sys.stderr)
    try:
        with staged(settings) as staging:
            try:
                results = convert_model(staging, _progress)
            except ParityFailed:
                publish_staged(staging.output_dir, settings.output_dir)  # kept for inspection
                raise
            publish_staged(staging.output_dir, settings.output_dir)
            for art in results:  # the published paths
                moved = [art.bundle, *art.files]
                art.bundle, *art.files = (
                    settings.output_dir / p.relative_to(staging.output_dir) for p in moved
                )
    except UnsupportedOpsError as err:
        print(f"tfkit convert: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ParityFailed as err:
        print(f"tfkit convert: {err}", file=sys.stderr)
        return EXIT_PARITY
    except (SignatureError, RowsError, ConversionError, NodeError) as err:
        print(f"tfkit convert: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(format_table([r.parity for r in results if r.parity is not None]))
    for art in results:
        print(f"{art.target:<7} {art.variant:<8} {art.bytes:>10,d} B  {art.bundle}")
    return 0


@contextlib.contextmanager
def staged(settings: ConvertSettings) -> Iterator[ConvertSettings]:
    """The settings writing into a hidden staging directory inside the output directory (removed after).

    `publish_staged` then renames each finished bundle into place, so no reader ever sees a half-written
    bundle, even when the conversion is killed; a rerun removes what a killed run left behind."""
    from export.publish import staging_dir

    settings.output_dir.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(settings.output_dir, ".convert-")
    try:
        yield dataclasses.replace(settings, output_dir=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish_staged(staging: Path, output_dir: Path) -> None:
    """Move `<target>/<name>/<entry>` from staging into output_dir: a TF.js variant directory is swapped
    in whole, TFLite files one by one with each sidecar after its bundle (atomic renames)."""
    entries = sorted(staging.glob("*/*/*"), key=lambda p: p.name.endswith(".json"))
    for entry in entries:
        final = output_dir / entry.relative_to(staging)
        final.parent.mkdir(parents=True, exist_ok=True)
        if entry.is_dir():
            if final.exists():
                os.rename(final, staging / f"old-{final.parent.name}-{final.name}")
            os.rename(entry, final)
        else:
            os.replace(entry, final)
