"""`tfkit` subcommands of the export package: train, data, export, inspect, convert.

Only argparse lives here; TensorFlow loads inside the chosen command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from export.settings import ExportSettings, GenerateSettings, ImportSettings, add_setting

DEFAULT_ARTIFACTS = Path("artifacts")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def run_data_generate(args: argparse.Namespace) -> int:
    from export.synthetic import generate

    settings = GenerateSettings(
        out_dir=args.out or args.artifacts / "data" / "ctr",
        n_train=args.train_rows,
        n_eval=args.eval_rows,
        n_users=args.users,
        n_articles=args.articles,
        shards=args.shards,
        seed=args.seed,
    )
    meta = generate(settings)
    print(
        f"generated {meta['n_train']} train + {meta['n_eval']} eval rows in {settings.out_dir} "
        f"(bayes_auc {meta['bayes_auc']:.4f})"
    )
    return 0


def run_data_import(args: argparse.Namespace) -> int:
    from export.importer import BadInputError, import_logs

    settings = ImportSettings(
        inputs=tuple(args.inputs),
        out_dir=args.out or args.artifacts / "data" / "ctr",
        shards=args.shards,
        eval_fraction=args.eval_fraction,
        delimiter=args.delimiter,
        seed=args.seed,
    )
    try:
        meta = import_logs(settings)
    except (BadInputError, ValueError) as error:
        return _fail(str(error))
    print(f"imported {meta['n_train']} train + {meta['n_eval']} eval rows into {settings.out_dir}")
    return 0


def run_data_spark(args: argparse.Namespace) -> int:
    from export.spark_data import run_job, settings_from, summary

    out = str(args.out or args.artifacts / "data" / "ctr")
    try:
        meta = run_job(settings_from(args, out))
    except ValueError as error:
        return _fail(str(error))
    print(summary(meta, out))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from export.exporter import export_model
    from export.models import get

    settings = ExportSettings(
        artifacts=args.artifacts,
        model=args.model,
        model_dir=args.model_dir or get(args.model).train_dir(args.artifacts),
        version=args.version,
    )
    try:
        export_model(settings)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        return _fail(str(error))
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from export.manifest_table import render

    try:
        print(render(args.artifacts))
    except ValueError as error:
        return _fail(str(error))
    return 0


def _artifacts_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts", type=Path, default=DEFAULT_ARTIFACTS, help="artifacts directory (default: %(default)s)"
    )


def _register_train(sub: Any) -> None:
    from export.models import models

    train = sub.add_parser("train", help="train a kit model: " + ", ".join(models()))
    choices = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    for kit in models().values():
        kit.add_train_command(choices, _artifacts_flag)


def _register_data(sub: Any) -> None:
    data = sub.add_parser("data", help="CTR data: generate synthetic click logs or import CSV/Parquet")
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = actions.add_parser("generate", help="seeded synthetic logs with a known Bayes-optimal AUC")
    _artifacts_flag(gen)
    gen.add_argument("--out", type=Path, help="output directory (default: ARTIFACTS/data/ctr)")
    add_setting(gen, "--train-rows", GenerateSettings, "n_train")
    add_setting(gen, "--eval-rows", GenerateSettings, "n_eval")
    add_setting(gen, "--users", GenerateSettings, "n_users")
    add_setting(gen, "--articles", GenerateSettings, "n_articles")
    add_setting(gen, "--shards", GenerateSettings, "shards", "train shards; eval gets half")
    add_setting(gen, "--seed", GenerateSettings, "seed")
    gen.set_defaults(run=run_data_generate)

    imp = actions.add_parser("import", help="CSV/Parquet with user_id, article_id, clicked, features")
    _artifacts_flag(imp)
    imp.add_argument("inputs", type=Path, nargs="+", help=".csv or .parquet files")
    imp.add_argument("--out", type=Path, help="output directory (default: ARTIFACTS/data/ctr)")
    add_setting(imp, "--shards", ImportSettings, "shards")
    add_setting(imp, "--eval-fraction", ImportSettings, "eval_fraction", "held-out share")
    imp.add_argument("--delimiter", default="", help="features delimiter (default: any of ; , | whitespace)")
    add_setting(imp, "--seed", ImportSettings, "seed", "split seed")
    imp.set_defaults(run=run_data_import)

    from export.spark_data import add_arguments

    spark = actions.add_parser("spark", help="the import as an Apache Spark job (any master, spark-submit)")
    _artifacts_flag(spark)
    spark.add_argument("--out", help="output directory or URI (default: ARTIFACTS/data/ctr)")
    add_arguments(spark, master_default="local[*]")
    spark.set_defaults(run=run_data_spark)


def register(sub: Any) -> None:
    """Add train, data, export, inspect and convert."""
    from export.convert.cli import register as register_convert
    from export.models import names

    _register_train(sub)
    _register_data(sub)

    exp = sub.add_parser("export", help="publish a trained model as the next SavedModel version")
    _artifacts_flag(exp)
    exp.add_argument("--model", choices=names(), required=True)
    exp.add_argument("--model-dir", type=Path, help="checkpoints to export (default: ARTIFACTS/train/MODEL)")
    exp.add_argument("--version", type=int, help="version number (default: next after the highest)")
    exp.set_defaults(run=run_export)

    ins = sub.add_parser("inspect", help="print manifest.json as tables")
    _artifacts_flag(ins)
    ins.set_defaults(run=run_inspect)

    register_convert(sub)
