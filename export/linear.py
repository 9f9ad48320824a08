"""The seed's linear regression (`tfkit train linear`): y = x·W + b by plain gradient descent on MSE.

Steps run in compiled chunks (`tf.function` looping `checkpoint_every` steps and returning the per-step
loss, W and b), so the per-step log and TensorBoard summaries cost no eager dispatch per step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from export.settings import LinearSettings

TRUE_W = 0.8
TRUE_B = 0.7
METRICS_FILE = "metrics.json"
Log = Callable[[str], None]


def linear_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(2, 2) and y = 0.8x + 0.7, float32 [n, 1] each (seeded)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 2.0, (n, 1)).astype(np.float32)
    return x, (TRUE_W * x + TRUE_B).astype(np.float32)


def build_linear() -> Any:
    """A tf.Module holding W [1, 1] and b [1] (defined inside so importing stays TF-free)."""
    import tensorflow as tf

    class Linear(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="linear")
            self.w = tf.Variable(tf.zeros([1, 1]), name="weights")
            self.b = tf.Variable(tf.zeros([1]), name="bias")

        def __call__(self, x: Any) -> Any:
            return tf.matmul(x, self.w) + self.b

    return Linear()


def restore_linear(model_dir: Any) -> Any:
    """The trained module from the latest checkpoint of model_dir."""
    import tensorflow as tf

    model = build_linear()
    latest = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint under {model_dir / 'checkpoints'}: run `tfkit train linear`")
    tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    return model


def train_linear(settings: LinearSettings, log: Log = print) -> dict[str, Any]:
    """Train (resuming from the latest checkpoint), log each step, write metrics.json; return metrics."""
    import tensorflow as tf

    x_np, y_np = linear_data(settings.n_samples, settings.seed)
    x, y = tf.constant(x_np), tf.constant(y_np)
    model = build_linear()
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(model=model, step=step)
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    manager = tf.train.CheckpointManager(checkpoint, str(settings.model_dir / "checkpoints"), max_to_keep=5)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        log(f"linear: resumed from {manager.latest_checkpoint} at step {int(step.numpy())}")
    writer = tf.summary.create_file_writer(str(settings.model_dir))
    lr = tf.constant(settings.learning_rate)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def run_chunk(n: Any) -> tuple[Any, Any, Any]:
        losses = tf.TensorArray(tf.float32, size=n)
        ws = tf.TensorArray(tf.float32, size=n)
        bs = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            grad_w, grad_b = tape.gradient(loss, [model.w, model.b])
            model.w.assign_sub(lr * grad_w)
            model.b.assign_sub(lr * grad_b)
            step.assign_add(1)
            with tf.name_scope("/"):  # absolute scope: plain tags, not "while/loss"
                tf.summary.scalar("loss", loss, step=step)
                tf.summary.histogram("weights", model.w, step=step)
                tf.summary.histogram("bias", model.b, step=step)
            losses = losses.write(i, loss)
            ws = ws.write(i, model.w[0, 0])
            bs = bs.write(i, model.b[0])
        return losses.stack(), ws.stack(), bs.stack()

    train_seconds = 0.0
    loss_value = float(np.mean((x_np @ model.w.numpy() + model.b.numpy() - y_np) ** 2))
    with writer.as_default():
        began = time.perf_counter()
        run_chunk.get_concrete_function()  # trace once up front (under the writer, so summaries record)
        trace_seconds = time.perf_counter() - began
        first = True
        while int(step.numpy()) < settings.max_steps:
            start = int(step.numpy())
            n = min(settings.checkpoint_every, settings.max_steps - start)
            if first:
                tf.summary.trace_on(graph=True)
            began = time.perf_counter()
            losses, ws, bs = (t.numpy() for t in run_chunk(tf.constant(n, tf.int32)))
            train_seconds += time.perf_counter() - began
            if first:
                tf.summary.trace_export("linear_train_step", step=start)
                first = False
            for i in range(n):
                if settings.log_every and (start + i + 1) % settings.log_every == 0:
                    log(f"linear: step {start + i + 1} loss {losses[i]:.6f} W {ws[i]:.6f} b {bs[i]:.6f}")
            manager.save(checkpoint_number=int(step.numpy()))
            loss_value = float(losses[-1])
    writer.flush()
    metrics = {
        "w": float(model.w.numpy()[0, 0]),
        "b": float(model.b.numpy()[0]),
        "loss": loss_value,
        "steps": int(step.numpy()),
        "train_seconds": round(train_seconds, 4),
        "trace_seconds": round(trace_seconds, 4),
    }
    (settings.model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
