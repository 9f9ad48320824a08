"""`python -m bench --artifacts DIR --out bench/results` (what `make bench` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.run import main

parser = argparse.ArgumentParser(prog="python -m bench", description="run every benchmark, write the results")
parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="exported artifacts dir")
parser.add_argument("--out", type=Path, default=Path("bench/results"), help="results directory")
parser.add_argument(
    "--only", action="append", default=None, help="run only this area (repeatable); its section is replaced"
)
args = parser.parse_args()
raise SystemExit(main(args.artifacts, args.out, args.only))
