"""Predict with the `linear` model over REST (y = w*x + b), using the kit's RestClient.

python examples/rest_predict_linear.py --rest http://localhost:8501 --x 1 2 5
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from clients import RestClient, ServingError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rest", default="http://localhost:8501", help="REST endpoint of tfkit serve / TF Serving"
    )
    parser.add_argument("--x", type=float, nargs="+", default=[1.0, 2.0, 5.0], help="inputs")
    args = parser.parse_args(argv)
    with RestClient(args.rest, timeout=10) as client:
        try:
            client.wait_until_available("linear", timeout=30)
            y = client.predict("linear", {"x": [[x] for x in args.x]})["y"]
        except ServingError as error:
            print(f"error: {type(error).__name__}: {error.message}")
            return 1
    for x, value in zip(args.x, y[:, 0], strict=True):
        print(f"x={x:g} y={value:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
