"""Training the CTR model from TFRecords (`tfkit train ctr`): TensorBoard, checkpoints, held-out AUC."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from export.ctr_model import build_adam, build_model
from export.metrics import log_loss, roc_auc
from export.reader import SkipCounter, ctr_dataset, iterate
from export.settings import CtrSettings
from export.shards import read_meta, split_files

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
Log = Callable[[str], None]


def save_config(settings: CtrSettings) -> None:
    """Record the hyper-parameters next to the checkpoints so `tfkit export` can rebuild the model.

    data_dir is stored relative to the model dir, so a moved artifacts tree stays consistent.
    """
    fields = dataclasses.asdict(settings)
    fields["data_dir"] = os.path.relpath(settings.data_dir.resolve(), settings.model_dir.resolve())
    del fields["model_dir"]
    (settings.model_dir / CONFIG_FILE).write_text(json.dumps(fields, indent=2) + "\n")


def load_config(model_dir: Path) -> CtrSettings:
    """The settings a model dir was trained with."""
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: train the CTR model first (`tfkit train ctr`)")
    raw = json.loads(path.read_text())
    raw["data_dir"] = (model_dir / raw["data_dir"]).resolve()
    raw["model_dir"] = model_dir
    raw["hidden"] = tuple(raw["hidden"])
    return CtrSettings(**raw)


def restore_checkpoint(checkpoint: Any, path: str, model_dir: Path) -> None:
    """Restore every variable of `checkpoint` from `path`, or say clearly that the layouts differ."""
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(
            f"{path} was written by a different CTR model layout ({reason}); "
            f"train into a fresh model dir or delete {model_dir}"
        ) from None


def restore_model(model_dir: Path) -> Any:
    """Rebuild the trained CTR module from its latest checkpoint."""
    import tensorflow as tf

    model = build_model(load_config(model_dir))
    latest = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint under {model_dir / 'checkpoints'}")
    restore_checkpoint(tf.train.Checkpoint(model=model), latest, model_dir)
    return model


def _normalization(files: list[Path], settings: CtrSettings) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    counter = SkipCounter()
    dataset = ctr_dataset(files, 1024, settings.feature_len, skip_bad=True, counter=counter)
    for features, _ in iterate(dataset, files):
        rows.append(features["feature"].numpy())
        if sum(len(r) for r in rows) >= 8192:
            break
    sample = np.concatenate(rows)
    return sample.mean(axis=0), 1.0 / np.maximum(sample.std(axis=0), settings.std_floor)


def evaluate(model: Any, files: list[Path], settings: CtrSettings) -> tuple[float, float]:
    """Held-out AUC and log loss."""
    labels, probs = [], []
    counter = SkipCounter()
    dataset = ctr_dataset(files, 2048, settings.feature_len, skip_bad=settings.skip_bad, counter=counter)
    for features, label in iterate(dataset, files):
        probs.append(
            model.probability(features["feature"], features["user_id"], features["article_id"]).numpy()
        )
        labels.append(label.numpy())
    y, p = np.concatenate(labels), np.concatenate(probs).ravel()
    return roc_auc(y, p), log_loss(y, p)


def input_spec(feature_len: int) -> Any:
    """The (features, label) signature of a training batch."""
    import tensorflow as tf

    features = {
        "feature": tf.TensorSpec([None, feature_len], tf.float32),
        "user_id": tf.TensorSpec([None], tf.int64),
        "article_id": tf.TensorSpec([None], tf.int64),
    }
    return features, tf.TensorSpec([None], tf.float32)


def loss_and_gradients(
    model: Any, params: list[Any], settings: CtrSettings, features: dict[str, Any], label: Any
) -> tuple[Any, list[Any]]:
    """(mean log loss of the batch, dense gradients of loss + L2 penalty) for one training batch."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        logits = model.logits(features["feature"], features["user_id"], features["article_id"])
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=label[:, None], logits=logits))
        total = loss + settings.l2 * model.penalty(features["user_id"], features["article_id"])
    return loss, [tf.convert_to_tensor(g) for g in tape.gradient(total, params)]


def decay_steps(meta: dict[str, Any], settings: CtrSettings, n_files: int) -> int:
    """Steps of the learning-rate decay: the epochs' batches (each shard ends with a short batch)."""
    return (-(-int(meta.get("n_train", 0)) // settings.batch_size) + n_files) * settings.epochs


def train_ctr(settings: CtrSettings, log: Log = print) -> dict[str, Any]:
    """Train (resuming from the latest checkpoint), evaluate, write metrics.json; return the metrics."""
    import tensorflow as tf

    tf.random.set_seed(settings.seed)
    meta = read_meta(settings.data_dir)
    if int(meta.get("feature_len", settings.feature_len)) != settings.feature_len:
        raise ValueError(f"{settings.data_dir}: feature_len {meta['feature_len']} != {settings.feature_len}")
    train_files = split_files(settings.data_dir, "train")
    eval_files = split_files(settings.data_dir, "eval")
    settings.model_dir.mkdir(parents=True, exist_ok=True)

    model = build_model(settings)
    params = list(model.trainable_variables)
    optimizer = build_adam(params, settings.learning_rate, decay_steps(meta, settings, len(train_files)))
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, str(settings.model_dir / "checkpoints"), max_to_keep=5)
    if manager.latest_checkpoint:
        restore_checkpoint(checkpoint, manager.latest_checkpoint, settings.model_dir)
        log(f"ctr: resumed from {manager.latest_checkpoint} (epoch {int(epoch.numpy())})")
    else:
        mean, scale = _normalization(train_files, settings)
        model.feature_mean.assign(mean)
        model.feature_scale.assign(scale)
    save_config(settings)  # after a successful resume: the config always matches the checkpoints

    spec = input_spec(settings.feature_len)

    @tf.function(input_signature=spec)
    def train_step(features: dict[str, Any], label: Any) -> Any:
        loss, grads = loss_and_gradients(model, params, settings, features, label)
        optimizer.apply(grads, params)
        return loss

    writer = tf.summary.create_file_writer(str(settings.model_dir))
    counter = SkipCounter()
    started = time.perf_counter()
    auc, logloss = float("nan"), float("nan")
    with writer.as_default():
        while int(epoch.numpy()) < settings.epochs:
            losses = []
            counter.variable.assign(0)  # skipped records are reported per pass over the data
            dataset = ctr_dataset(
                train_files,
                settings.batch_size,
                settings.feature_len,
                shuffle=True,
                seed=settings.seed + int(epoch.numpy()),
                skip_bad=settings.skip_bad,
                counter=counter,
            )
            for features, label in iterate(dataset, train_files):
                loss = train_step(features, label)
                losses.append(loss)
                tf.summary.scalar("loss", loss, step=optimizer.step)
            epoch.assign_add(1)
            model.snap_to_int8_grid()  # evaluated, checkpointed and exported as snapped (see ctr_model)
            auc, logloss = evaluate(model, eval_files, settings)
            step = int(optimizer.step.numpy())
            tf.summary.scalar("eval/auc", auc, step=step)
            tf.summary.scalar("eval/logloss", logloss, step=step)
            manager.save(checkpoint_number=step)
            log(
                f"ctr: epoch {int(epoch.numpy())}/{settings.epochs} step {step} "
                f"train_loss {float(tf.reduce_mean(losses)):.4f} eval_auc {auc:.4f} "
                f"eval_logloss {logloss:.4f}"
            )
    seconds = time.perf_counter() - started
    return finish(
        model, eval_files, settings, meta, (auc, logloss), int(optimizer.step.numpy()), seconds, counter.count
    )


def finish(
    model: Any,
    eval_files: list[Path],
    settings: CtrSettings,
    meta: dict[str, Any],
    scores: tuple[float, float],
    steps: int,
    seconds: float,
    skipped: int,
    **extra: Any,
) -> dict[str, Any]:
    """Write metrics.json (evaluating first when no epoch ran) and return the metrics."""
    auc, logloss = evaluate(model, eval_files, settings) if np.isnan(scores[0]) else scores
    metrics = {
        "auc": auc,
        "logloss": logloss,
        "bayes_auc": meta.get("bayes_auc"),
        "steps": steps,
        "train_seconds": round(seconds, 3),
        "skipped_records": skipped,
        **extra,
    }
    (settings.model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
