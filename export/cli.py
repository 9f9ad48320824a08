"""`tfkit` subcommands of the export package: train, data, export, inspect (+ the convert hook).

Only argparse lives here; TensorFlow loads inside the chosen command.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from export.settings import CtrSettings, ExportSettings, GenerateSettings, ImportSettings, LinearSettings

DEFAULT_ARTIFACTS = Path("artifacts")


def _default(settings_type: type, name: str) -> Any:
    """The dataclass default of a settings field: the settings module is the one source of defaults."""
    return {f.name: f.default for f in dataclasses.fields(settings_type)}[name]


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def run_train_linear(args: argparse.Namespace) -> int:
    from export.linear import train_linear

    settings = LinearSettings(
        model_dir=args.model_dir or args.artifacts / "train" / "linear",
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        seed=args.seed,
        log_every=args.log_every,
    )
    metrics = train_linear(settings)
    print(
        f"linear: W={metrics['w']:.6f} b={metrics['b']:.6f} loss={metrics['loss']:.3e} "
        f"steps={metrics['steps']} training {metrics['train_seconds']:.3f}s -> {settings.model_dir}"
    )
    return 0


def run_train_ctr(args: argparse.Namespace) -> int:
    from export.ctr_train import train_ctr
    from export.reader import BadRecordError

    settings = CtrSettings(
        data_dir=args.data_dir or args.artifacts / "data" / "ctr",
        model_dir=args.model_dir or args.artifacts / "train" / "ctr",
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        skip_bad=args.skip_bad,
    )
    try:
        metrics = train_ctr(settings)
    except (BadRecordError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    bayes = metrics["bayes_auc"]
    bayes_text = "unknown" if bayes is None else f"{bayes:.4f}"
    print(
        f"ctr: auc={metrics['auc']:.4f} bayes_auc={bayes_text} logloss={metrics['logloss']:.4f} "
        f"skipped={metrics['skipped_records']} -> {settings.model_dir}"
    )
    return 0


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


def run_export(args: argparse.Namespace) -> int:
    from export.exporter import export_model

    settings = ExportSettings(
        artifacts=args.artifacts,
        model=args.model,
        model_dir=args.model_dir or args.artifacts / "train" / args.model,
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
    train = sub.add_parser("train", help="train the linear or the CTR model")
    models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    linear = models.add_parser("linear", help="the seed's linear regression y = x·W + b (plain GD on MSE)")
    _artifacts_flag(linear)
    linear.add_argument(
        "--model-dir", type=Path, help="TensorBoard logs + checkpoints (default: ARTIFACTS/train/linear)"
    )
    linear.add_argument(
        "--max-steps",
        type=int,
        default=_default(LinearSettings, "max_steps"),
        help="total steps (default: %(default)s)",
    )
    linear.add_argument(
        "--learning-rate",
        type=float,
        default=_default(LinearSettings, "learning_rate"),
        help="(default: %(default)s)",
    )
    linear.add_argument(
        "--seed", type=int, default=_default(LinearSettings, "seed"), help="data seed (default: %(default)s)"
    )
    linear.add_argument(
        "--log-every", type=int, default=1, help="print every Nth step, 0 = never (default: 1)"
    )
    linear.set_defaults(run=run_train_linear)

    ctr = models.add_parser("ctr", help="the wide-and-deep CTR model from TFRecords")
    _artifacts_flag(ctr)
    ctr.add_argument("--data-dir", type=Path, help="shards + meta.json (default: ARTIFACTS/data/ctr)")
    ctr.add_argument(
        "--model-dir", type=Path, help="TensorBoard logs + checkpoints (default: ARTIFACTS/train/ctr)"
    )
    ctr.add_argument(
        "--epochs", type=int, default=_default(CtrSettings, "epochs"), help="(default: %(default)s)"
    )
    ctr.add_argument(
        "--batch-size", type=int, default=_default(CtrSettings, "batch_size"), help="(default: %(default)s)"
    )
    ctr.add_argument(
        "--learning-rate",
        type=float,
        default=_default(CtrSettings, "learning_rate"),
        help="Adam, linear decay (default: %(default)s)",
    )
    ctr.add_argument("--seed", type=int, default=_default(CtrSettings, "seed"), help="(default: %(default)s)")
    ctr.add_argument(
        "--skip-bad", action="store_true", help="skip and count malformed records instead of stopping"
    )
    ctr.set_defaults(run=run_train_ctr)


def _register_data(sub: Any) -> None:
    data = sub.add_parser("data", help="CTR data: generate synthetic click logs or import CSV/Parquet")
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = actions.add_parser("generate", help="seeded synthetic logs with a known Bayes-optimal AUC")
    _artifacts_flag(gen)
    gen.add_argument("--out", type=Path, help="output directory (default: ARTIFACTS/data/ctr)")
    gen.add_argument(
        "--train-rows", type=int, default=_default(GenerateSettings, "n_train"), help="(default: %(default)s)"
    )
    gen.add_argument(
        "--eval-rows", type=int, default=_default(GenerateSettings, "n_eval"), help="(default: %(default)s)"
    )
    gen.add_argument(
        "--users", type=int, default=_default(GenerateSettings, "n_users"), help="(default: %(default)s)"
    )
    gen.add_argument(
        "--articles",
        type=int,
        default=_default(GenerateSettings, "n_articles"),
        help="(default: %(default)s)",
    )
    gen.add_argument(
        "--shards",
        type=int,
        default=_default(GenerateSettings, "shards"),
        help="train shards; eval gets half (default: %(default)s)",
    )
    gen.add_argument(
        "--seed", type=int, default=_default(GenerateSettings, "seed"), help="(default: %(default)s)"
    )
    gen.set_defaults(run=run_data_generate)

    imp = actions.add_parser("import", help="CSV/Parquet with user_id, article_id, clicked, features")
    _artifacts_flag(imp)
    imp.add_argument("inputs", type=Path, nargs="+", help=".csv or .parquet files")
    imp.add_argument("--out", type=Path, help="output directory (default: ARTIFACTS/data/ctr)")
    imp.add_argument(
        "--shards", type=int, default=_default(ImportSettings, "shards"), help="(default: %(default)s)"
    )
    imp.add_argument(
        "--eval-fraction",
        type=float,
        default=_default(ImportSettings, "eval_fraction"),
        help="held-out share (default: %(default)s)",
    )
    imp.add_argument("--delimiter", default="", help="features delimiter (default: any of ; , | whitespace)")
    imp.add_argument(
        "--seed", type=int, default=_default(ImportSettings, "seed"), help="split seed (default: %(default)s)"
    )
    imp.set_defaults(run=run_data_import)


def register(sub: Any) -> None:
    """Add train, data, export, inspect (and convert, when export.convert.cli exists)."""
    _register_train(sub)
    _register_data(sub)

    exp = sub.add_parser("export", help="publish a trained model as the next SavedModel version")
    _artifacts_flag(exp)
    exp.add_argument("--model", choices=("linear", "ctr"), required=True)
    exp.add_argument("--model-dir", type=Path, help="checkpoints to export (default: ARTIFACTS/train/MODEL)")
    exp.add_argument("--version", type=int, help="version number (default: next after the highest)")
    exp.set_defaults(run=run_export)

    ins = sub.add_parser("inspect", help="print manifest.json as tables")
    _artifacts_flag(ins)
    ins.set_defaults(run=run_inspect)

    # --- convert hook (export/convert/cli.py is owned by the convert helper) ---
    try:
        from export.convert.cli import register as register_convert
    except ModuleNotFoundError as error:
        if error.name != "export.convert.cli":
            raise
    else:
        register_convert(sub)
    # --- end convert hook ---
