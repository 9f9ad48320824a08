"""Classify and regress tf.Example rows (given as dicts) over REST or gRPC.

ctr `classification`: feature = 121 float64 little-endian bytes, user_id and article_id int64 ->
(class, score) pairs; linear `regression`: float feature x -> y. Floats become float_list, ints
int64_list, bytes bytes_list.

    python examples/classify_examples.py --rest http://localhost:8501
    python examples/classify_examples.py --grpc localhost:8500
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from clients import Client, ServingError


def ctr_examples(count: int) -> list[dict[str, bytes | int]]:
    rng = np.random.default_rng(1)
    return [
        {
            "feature": rng.normal(0.0, 0.3, 121).astype("<f8").tobytes(),
            "user_id": int(rng.integers(0, 2**31)),
            "article_id": int(rng.integers(0, 2**31)),
        }
        for _ in range(count)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--rest", help="REST endpoint, e.g. http://localhost:8501")
    where.add_argument("--grpc", help="gRPC endpoint, e.g. localhost:8500")
    parser.add_argument("--rows", type=int, default=3)
    args = parser.parse_args(argv)
    client: Client
    if args.rest:
        from clients import RestClient

        client = RestClient(args.rest, timeout=10)
    else:
        from clients import GrpcClient

        client = GrpcClient(args.grpc, timeout=10)
    with client:
        try:
            classes = client.classify("ctr", ctr_examples(args.rows), signature="classification")
            values = client.regress("linear", [{"x": 1.0}, {"x": 2.0}], signature="regression")
        except ServingError as error:
            print(f"error: {type(error).__name__}: {error.message}")
            return 1
    for i, pairs in enumerate(classes):
        print(f"example {i}: " + " ".join(f"class={label} score={score:.6f}" for label, score in pairs))
    for x, y in zip((1.0, 2.0), values, strict=True):
        print(f"regress x={x:g} y={y:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
