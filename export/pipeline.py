"""`make export`: generate (if no data) -> train linear -> train ctr -> export both -> convert (if present).

Usage: python -m export.pipeline --artifacts DIR. One progress line per stage with elapsed seconds;
exit 1 with a clear message when a stage fails. Re-running into an existing DIR reuses the data and the
checkpoints and publishes the next versions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PipelineSettings:
    artifacts: Path
    verbose: bool = False

    @property
    def data_dir(self) -> Path:
        return self.artifacts / "data" / "ctr"

    def train_dir(self, model: str) -> Path:
        return self.artifacts / "train" / model


def _quiet(_: str) -> None:
    return None


def stages(settings: PipelineSettings, progress: Progress) -> list[tuple[str, Callable[[], str]]]:
    """The ordered (name, action) list; each action returns a short result summary."""
    from export.settings import CtrSettings, ExportSettings, GenerateSettings, LinearSettings

    def resumes_only(line: str) -> None:
        if " resumed from " in line:
            progress(line)

    log = progress if settings.verbose else resumes_only

    def generate() -> str:
        from export.synthetic import generate

        if (settings.data_dir / "meta.json").is_file():
            return f"reusing {settings.data_dir}"
        meta = generate(GenerateSettings(out_dir=settings.data_dir))
        return f"{meta['n_train']} train + {meta['n_eval']} eval rows, bayes_auc {meta['bayes_auc']:.4f}"

    def train_linear() -> str:
        from export.linear import train_linear

        m = train_linear(
            LinearSettings(model_dir=settings.train_dir("linear"), log_every=100 if settings.verbose else 0),
            log=log,
        )
        timing = f"{m['train_seconds']:.3f}s training + {m['trace_seconds']:.2f}s tracing"
        return f"W {m['w']:.4f} b {m['b']:.4f} loss {m['loss']:.2e} ({timing})"

    def train_ctr() -> str:
        from export.ctr_train import train_ctr

        m = train_ctr(CtrSettings(data_dir=settings.data_dir, model_dir=settings.train_dir("ctr")), log=log)
        return f"auc {m['auc']:.4f} (bayes {m['bayes_auc']:.4f}) logloss {m['logloss']:.4f}"

    def export(model: str) -> Callable[[], str]:
        def run() -> str:
            from export.exporter import export_model

            entry = export_model(
                ExportSettings(
                    artifacts=settings.artifacts, model=model, model_dir=settings.train_dir(model)
                ),
                log=_quiet,
            )
            return f"{entry['path']} ({entry['bytes']} bytes)"

        return run

    def load_tensorflow() -> str:
        import tensorflow as tf

        return f"TensorFlow {tf.__version__}"

    plan: list[tuple[str, Callable[[], str]]] = [
        ("load tensorflow", load_tensorflow),
        ("generate data", generate),
        ("train linear", train_linear),
        ("train ctr", train_ctr),
        ("export linear", export("linear")),
        ("export ctr", export("ctr")),
    ]
    convert = _convert_stage(settings, progress)
    if convert is not None:
        plan.append(("convert + parity", convert))
    return plan


def _convert_stage(settings: PipelineSettings, progress: Progress) -> Callable[[], str] | None:
    try:
        from export.convert.pipeline import convert_all
    except ModuleNotFoundError as error:
        if error.name != "export.convert.pipeline":
            raise
        return None

    def run() -> str:
        convert_all(settings.artifacts, progress)
        return "done"

    return run


def run_pipeline(settings: PipelineSettings, progress: Progress = print) -> int:
    """Run every stage, printing one line per stage; return the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    plan = stages(settings, progress)
    for index, (name, action) in enumerate(plan, start=1):
        began = time.perf_counter()
        try:
            summary = action()
        except Exception as error:  # report which stage failed and why, then exit non-zero
            progress(
                f"[{index}/{len(plan)}] {name}: FAILED after {time.perf_counter() - began:.1f}s: "
                f"{type(error).__name__}: {error}"
            )
            return 1
        now = time.perf_counter()
        progress(f"[{index}/{len(plan)}] {name}: {summary} ({now - began:.1f}s, total {now - started:.1f}s)")
    progress(f"export pipeline finished in {time.perf_counter() - started:.1f}s -> {settings.artifacts}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="output directory")
    parser.add_argument("--verbose", action="store_true", help="also print per-epoch training lines")
    args = parser.parse_args(argv)
    settings = PipelineSettings(artifacts=args.artifacts.resolve(), verbose=args.verbose)

    def progress(line: str) -> None:
        print(line, flush=True)

    return run_pipeline(settings, progress)


if __name__ == "__main__":
    sys.exit(main())
