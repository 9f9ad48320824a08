"""A KServe ModelServer serving one SavedModel signature over KServe's V1 REST protocol (`:predict`).

Runs in `.venv-peers` (KServe and its own TensorFlow), never in the kit's venv, and imports nothing of the
kit. `POST /v1/models/<name>:predict` with `{"instances": [...]}` (row format: a list of values for a
one-input signature, or of {input: value} objects) answers `{"predictions": [...]}`.

    .venv-peers/bin/python bench/peers/kserve_model.py --model_name ctr --model_dir artifacts/models/ctr/3 \
        --http_port 8080 --grpc_port 8081 [--quiet]

KServe's defaults log two lines per request (uvicorn's access log and KServe's latency line); `--quiet`
turns both off, so the benchmark shows KServe as shipped and without that cost.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import kserve
import numpy as np
import tensorflow as tf


class SavedModelSignature(kserve.Model):
    """One signature of a SavedModel, loaded with tf.saved_model.load, called once per request."""

    def __init__(self, name: str, model_dir: str, signature: str = "serving_default") -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.signature = signature
        self.function: Any = None
        self.dtypes: dict[str, Any] = {}
        self.load()

    def load(self) -> bool:
        loaded = tf.saved_model.load(self.model_dir)
        self.function = loaded.signatures[self.signature]
        self._owner = loaded  # keeps the variables alive
        _, specs = self.function.structured_input_signature
        self.dtypes = {name: spec.dtype for name, spec in specs.items()}
        self.ready = True
        return self.ready

    def _tensors(self, instances: list[Any]) -> dict[str, Any]:
        if len(self.dtypes) == 1 and not isinstance(instances[0], dict):
            ((name, dtype),) = self.dtypes.items()
            return {name: tf.constant(np.asarray(instances), dtype=dtype)}
        return {
            name: tf.constant(np.asarray([row[name] for row in instances]), dtype=dtype)
            for name, dtype in self.dtypes.items()
        }

    async def predict(
        self, payload: dict[str, Any], headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> dict[str, Any]:
        outputs = self.function(**self._tensors(payload["instances"]))
        arrays = {k: v.numpy() for k, v in outputs.items()}
        if len(arrays) == 1:
            return {"predictions": next(iter(arrays.values())).tolist()}
        rows = len(next(iter(arrays.values())))
        return {"predictions": [{k: v[i].tolist() for k, v in arrays.items()} for i in range(rows)]}


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser], conflict_handler="resolve")
    parser.add_argument("--model_dir", required=True, help="SavedModel version directory")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--quiet", action="store_true", help="no log line per request (access, latency)")
    args, _ = parser.parse_known_args()
    model = SavedModelSignature(args.model_name, args.model_dir, args.signature)
    server = kserve.ModelServer(
        http_port=args.http_port, grpc_port=args.grpc_port, workers=1, enable_latency_logging=not args.quiet
    )
    if args.quiet:  # after ModelServer configured KServe's logging
        logging.getLogger("uvicorn.access").disabled = True
    server.start([model])


if __name__ == "__main__":
    main()
