"""`tfkit serve` (a drop-in tensorflow_model_server) and `tfkit bench` subcommands.

`tfkit serve` takes tensorflow_model_server's own argument list unchanged (`--port=8500
--rest_api_port=8501 --model_config_file=...`), so the serve sub-parser does not interpret options
itself: everything after `serve` goes to `serving.flags.parse_flags`. Heavy imports (TensorFlow, grpc,
the server) happen only inside the chosen command.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

STARTUP_FAILURE = 255  # main.cc: `return -1` after "Failed to start server. Error: ..."


def register(sub: Any) -> None:
    """Add `serve` and `bench` to the `tfkit` parser."""
    serve = sub.add_parser(
        "serve",
        help="serve SavedModels over REST + gRPC with tensorflow_model_server's flags",
        description="A local drop-in tensorflow_model_server (TF Serving 2.19 REST + gRPC contract).",
        # Options belong to tensorflow_model_server's grammar, not argparse's: '+' as prefix makes every
        # `--flag=value` a plain word collected into `flags`.
        prefix_chars="+",
        add_help=False,
    )
    serve.add_argument("flags", nargs=argparse.REMAINDER, help="tensorflow_model_server flags")
    serve.set_defaults(run=run_serve)

    bench = sub.add_parser("bench", help="run every benchmark and write the results table")
    bench.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="exported artifacts dir")
    bench.add_argument("--out", type=Path, default=Path("bench/results"), help="results directory")
    bench.set_defaults(run=run_bench)


def _version_text() -> str:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    return (
        f"TensorFlow ModelServer: {version('tensorflow-serving-api')}-tfkit{version('tfkit')}\n"
        f"TensorFlow Library: {version('tensorflow')}"
    )


def run_serve(args: argparse.Namespace) -> int:
    """Parse the flags into one `ServerSettings` and hand it to the server."""
    from serving.flags import FlagError, parse_flags, usage
    from serving.status import ServingError

    argv: list[str] = list(args.flags)
    if any(flag in ("-h", "--help", "--helpfull") for flag in argv):
        print(usage())
        return 0
    try:
        settings = parse_flags(argv)
    except FlagError as exc:  # exit 2 (the kit's refusal) or 255 (the real binary's value error)
        print(f"tfkit serve: {exc}\nSee `tfkit serve --help`.", file=sys.stderr)
        return exc.exit_code
    except ServingError as exc:
        print(f"Failed to start server. Error: {exc.code.name}: {exc.message}", file=sys.stderr)
        return STARTUP_FAILURE
    if settings.version:
        print(_version_text())
        return 0
    from serving.server import serve

    return serve(settings)


def run_bench(args: argparse.Namespace) -> int:
    """The benchmarks live outside the product, in the checkout's bench/ package: `python -m bench` there."""
    import subprocess

    checkout = Path(__file__).resolve().parents[1]
    paths = ["--artifacts", str(args.artifacts.resolve()), "--out", str(args.out.resolve())]
    return subprocess.call([sys.executable, "-m", "bench", *paths], cwd=checkout)
