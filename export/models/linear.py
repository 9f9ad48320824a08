"""linear: the regression y = 0.8x + 0.7 (plain gradient descent on MSE).

serving_default  x float32 [None,1]    -> y float32 [None,1]
regression       inputs string [None]  -> outputs float32 [None]   (tf.Examples with float feature `x`)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from export.models.base import KitModel, Log, Stage
from export.settings import LinearSettings, add_setting


def _summary(metrics: dict[str, Any]) -> str:
    timing = f"{metrics['train_seconds']:.3f}s training + {metrics['trace_seconds']:.2f}s tracing"
    return f"W {metrics['w']:.4f} b {metrics['b']:.4f} loss {metrics['loss']:.2e} ({timing})"


def _run_train(args: argparse.Namespace) -> int:
    from export.linear import train_linear

    settings = LinearSettings(
        model_dir=args.model_dir or MODEL.train_dir(args.artifacts),
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        seed=args.seed,
        log_every=args.log_every,
    )
    m = train_linear(settings)
    print(
        f"linear: W={m['w']:.6f} b={m['b']:.6f} loss={m['loss']:.3e} "
        f"steps={m['steps']} training {m['train_seconds']:.3f}s -> {settings.model_dir}"
    )
    return 0


class Linear(KitModel):
    name = "linear"
    metric_keys = ("w", "b", "loss")
    # Two weights, below the quantization threshold: quantized TF.js bundles would equal float32, and
    # float16 TFLite only adds fp16 rounding of w (|Δ| ~1.6e-3 at x ~ 8).
    tflite_variants = ("float32", "dynamic")
    tfjs_variants = ("float32",)

    def add_train_command(
        self, models: Any, artifacts_flag: Callable[[argparse.ArgumentParser], None]
    ) -> None:
        p = models.add_parser("linear", help="the seed's linear regression y = x·W + b (plain GD on MSE)")
        artifacts_flag(p)
        p.add_argument(
            "--model-dir", type=Path, help="TensorBoard logs + checkpoints (default: ARTIFACTS/train/linear)"
        )
        add_setting(p, "--max-steps", LinearSettings, "max_steps", "total steps")
        add_setting(p, "--learning-rate", LinearSettings, "learning_rate")
        add_setting(p, "--seed", LinearSettings, "seed", "data seed")
        p.add_argument(
            "--log-every", type=int, default=1, help="print every Nth step, 0 = never (default: 1)"
        )
        p.set_defaults(run=_run_train)

    def pipeline_stages(self, artifacts: Path, verbose: bool, log: Log) -> list[Stage]:
        def train() -> str:
            from export.linear import train_linear

            settings = LinearSettings(model_dir=self.train_dir(artifacts), log_every=100 if verbose else 0)
            return _summary(train_linear(settings, log=log))

        return [("train linear", train)]

    def serving_module(self, model_dir: Path) -> tuple[Any, dict[str, Any]]:
        import tensorflow as tf

        from export.linear import restore_linear

        model = restore_linear(model_dir)

        class LinearServing(tf.Module):
            def __init__(self) -> None:
                super().__init__(name="linear_serving")
                self.model = model

            @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
            def predict(self, x: Any) -> dict[str, Any]:
                return {"y": self.model(x)}

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
            def regress(self, inputs: Any) -> dict[str, Any]:
                parsed = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})
                return {"outputs": tf.reshape(self.model(parsed["x"]), [-1])}

        module = LinearServing()
        return module, {"serving_default": module.predict, "regression": module.regress}

    def warmup_logs(self, model_dir: Path, rows: int) -> list[Any]:
        from export.warmup import predict_log, regress_log

        inputs = self.sample_inputs(Path(), rows, seed=1)
        return [
            predict_log(self.name, "serving_default", inputs),
            regress_log(self.name, "regression", examples(inputs["x"])),
        ]

    def sample_inputs(self, artifacts: Path, n: int, seed: int) -> dict[str, np.ndarray]:
        """x ~ N(2, 2), the training data's distribution (no files needed)."""
        rng = np.random.default_rng(seed)
        return {"x": rng.normal(2.0, 2.0, (n, 1)).astype(np.float32)}

    def sample_examples(self, artifacts: Path, n: int, seed: int) -> list[bytes]:
        return examples(self.sample_inputs(artifacts, n, seed)["x"])

    def preprocessing(self, inputs: dict[str, tuple[int | None, ...]], target: str) -> dict[str, Any]:
        return {"x": "one float32 per row, shape [batch, 1]; no scaling (the model is y = w*x + b)"}


def examples(x: np.ndarray) -> list[bytes]:
    """Serialized tf.Examples with float feature `x` (the regression signature's input)."""
    from tensorflow.core.example import example_pb2

    out = []
    for value in np.asarray(x, dtype=np.float32).reshape(-1):
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(float(value))
        out.append(bytes(example.SerializeToString()))
    return out


MODEL = Linear()
