"""`make export`: every registered model's data + training stages -> export each -> convert + parity.

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


def _quiet(_: str) -> None:
    return None


def stages(settings: PipelineSettings, progress: Progress) -> list[tuple[str, Callable[[], str]]]:
    """The ordered (name, action) list; each action returns a short result summary.

    Every registered model (export/models/) contributes its data/training stages and one export stage."""
    from export.models import get, models
    from export.settings import ExportSettings

    def resumes_only(line: str) -> None:
        if " resumed from " in line:
            progress(line)

    log = progress if settings.verbose else resumes_only

    def export(model: str) -> Callable[[], str]:
        def run() -> str:
            from export.exporter import export_model

            entry = export_model(
                ExportSettings(
                    artifacts=settings.artifacts,
                    model=model,
                    model_dir=get(model).train_dir(settings.artifacts),
                ),
                log=_quiet,
            )
            return f"{entry['path']} ({entry['bytes']} bytes)"

        return run

    def load_tensorflow() -> str:
        from export.native_log import native_stderr_to

        with native_stderr_to(settings.artifacts / "tensorflow.log"):  # C++ import + device-probe chatter
            import tensorflow as tf

            tf.config.list_physical_devices()

        return f"TensorFlow {tf.__version__}"

    plan: list[tuple[str, Callable[[], str]]] = [("load tensorflow", load_tensorflow)]
    for kit in models().values():
        plan += kit.pipeline_stages(settings.artifacts, settings.verbose, log)
    plan += [(f"export {name}", export(name)) for name in models()]
    plan.append(("convert + parity", lambda: _convert(settings, progress)))
    return plan


def _convert(settings: PipelineSettings, progress: Progress) -> str:
    from export.convert.pipeline import convert_all

    convert_all(settings.artifacts, progress)
    return "done"


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
