"""Predict click probabilities with the `ctr` model over gRPC, using the kit's GrpcClient.

Rows are real held-out rows when --artifacts points at `make export` output, else synthetic ones
(121 features = channel_id, article_vector(100), user_weights(10), article_keyword_weights(10); ids
0 <= id < 2**31).

    python examples/grpc_predict_ctr.py --grpc localhost:8500 --rows 5 [--artifacts artifacts]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clients import GrpcClient, ServingError


def rows(count: int, artifacts: Path | None) -> dict[str, np.ndarray]:
    if artifacts is not None:
        from export.samples import sample_inputs

        return sample_inputs("ctr", artifacts, count, seed=0)
    rng = np.random.default_rng(0)
    return {
        "feature": rng.normal(0.0, 0.3, (count, 121)).astype(np.float32),
        "user_id": rng.integers(0, 2**31, count, dtype=np.int64),
        "article_id": rng.integers(0, 2**31, count, dtype=np.int64),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", default="localhost:8500", help="gRPC endpoint of tfkit serve / TF Serving")
    parser.add_argument("--rows", type=int, default=5, help="how many rows to score")
    parser.add_argument("--artifacts", type=Path, help="use real rows from this artifacts directory")
    args = parser.parse_args(argv)
    inputs = rows(args.rows, args.artifacts)
    with GrpcClient(args.grpc, timeout=10) as client:
        try:
            client.wait_until_available("ctr", timeout=30)
            probability = client.predict("ctr", inputs)["probability"]
        except ServingError as error:
            print(f"error: {type(error).__name__}: {error.message}")
            return 1
    for user, article, p in zip(inputs["user_id"], inputs["article_id"], probability[:, 0], strict=True):
        print(f"user={user} article={article} p_click={p:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
