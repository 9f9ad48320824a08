"""`tfkit train ctr --strategy mirrored|multi-worker`: the CTR model trained with `tf.distribute`.

The model, optimizer, loss and evaluation are the single-worker ones (export/ctr_train.py); this module
adds what changes across replicas, in a custom training loop (`strategy.run`):

- MultiWorkerMirroredStrategy reads the cluster from TF_CONFIG (worker 0 is the chief). Each worker reads
  its own train shards (`files[worker::workers]`, through `distribute_datasets_from_function`) with a
  per-worker batch of `batch_size / workers`, so `--batch-size` stays the global batch and one step
  sees as many rows as a single-worker step. Gradients are all-reduced (mean) and every worker applies
  the same update to its mirrored variables.
- Every epoch has the same fixed number of steps on every worker (the shards repeat), so no worker
  waits in a collective for one that ran out of data.
- Fault tolerance is checkpoint-based: the chief saves a checkpoint every epoch (and every
  `checkpoint_every` steps when set); a restarted cluster resumes every worker from the chief's latest
  checkpoint (same epoch, step and data position). This is what Keras' `BackupAndRestore` does for
  `model.fit`; Keras 3's `fit` does not run under MultiWorkerMirroredStrategy, so the loop is ours.
  Non-chief workers save into a scratch directory they delete (all workers must take part in a save).
- The chief alone writes TensorBoard data, config.json and metrics.json; `--export` then publishes the
  SavedModel through the registry's exporter, exactly as `tfkit export --model ctr` does.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from export.ctr_model import build_adam, build_model
from export.ctr_train import (
    Log,
    _normalization,
    decay_steps,
    evaluate,
    finish,
    loss_and_gradients,
    restore_checkpoint,
    save_config,
)
from export.reader import ctr_dataset, iterate
from export.settings import CtrSettings
from export.shards import read_meta, split_files

STRATEGIES = ("one", "mirrored", "multi-worker", "parameter-server")
NOT_BUILT = (
    "--strategy parameter-server is not built: the CTR embedding tables are 2048x16 floats (128 KiB each), "
    "small enough to mirror on every worker, so MultiWorkerMirroredStrategy (synchronous all-reduce, no "
    "parameter-server tasks and coordinator to run) is the fit; use --strategy multi-worker"
)


class ClusterError(RuntimeError):
    """A worker of the cluster failed (killed, evicted, unreachable): restart the workers to resume."""


@dataclass(frozen=True)
class DistributedRun:
    """How `tfkit train ctr` distributes: the strategy and the extra checkpoint cadence."""

    strategy: str = "one"
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0: at the end of each epoch only


def make_strategy(name: str) -> Any:
    """The tf.distribute strategy for `--strategy NAME` (multi-worker reads TF_CONFIG)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi-worker needs TF_CONFIG (the cluster and this worker's task)")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "parameter-server":
        raise ValueError(NOT_BUILT)
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def worker_role(strategy: Any) -> tuple[int, int, bool]:
    """(this worker's index, number of workers, is chief) of a strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0, 1, True
    workers = len(resolver.cluster_spec().as_dict().get("worker", [])) + len(
        resolver.cluster_spec().as_dict().get("chief", [])
    )
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    index = task_id + (1 if has_chief and task_type == "worker" else 0)
    chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return index, workers, chief


def train_distributed(settings: CtrSettings, run: DistributedRun, log: Log = print) -> dict[str, Any]:
    """Train under `run.strategy`, resuming from the latest checkpoint; the chief writes metrics."""
    import tensorflow as tf

    if settings.skip_bad:
        raise ValueError(
            "--skip-bad is single-worker only: clean the data (tfkit data spark rejects bad rows)"
        )
    tf.random.set_seed(settings.seed)
    strategy = make_strategy(run.strategy)
    worker, workers, chief = worker_role(strategy)
    meta = read_meta(settings.data_dir)
    train_files = split_files(settings.data_dir, "train")
    eval_files = split_files(settings.data_dir, "eval")
    if len(train_files) < workers:
        raise ValueError(f"{len(train_files)} train shard(s) for {workers} workers: write at least one each")
    if settings.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch-size {settings.batch_size} must divide by {strategy.num_replicas_in_sync}")
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = settings.model_dir / "checkpoints"
    save_dir = checkpoints if chief else settings.model_dir / f"worker-{worker}-scratch"
    steps_per_epoch = max(1, -(-int(meta["n_train"]) // settings.batch_size))

    with strategy.scope():
        model = build_model(settings)
        params = list(model.trainable_variables)
        optimizer = build_adam(params, settings.learning_rate, decay_steps(meta, settings, len(train_files)))
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, str(save_dir), max_to_keep=5)
    latest = tf.train.latest_checkpoint(str(checkpoints))
    if latest:
        restore_checkpoint(checkpoint, latest, settings.model_dir)
        log(
            f"ctr[{worker}/{workers}]: resumed from {latest} "
            f"(epoch {int(epoch.numpy())}, step {int(optimizer.step.numpy())})"
        )
    else:  # every worker computes the same statistics from the same first rows of all train shards
        mean, scale = _normalization(train_files, settings)
        model.feature_mean.assign(mean)
        model.feature_scale.assign(scale)
    if chief:
        save_config(settings)

    def batches(epoch_index: int, skip: int) -> Iterator[Any]:
        def dataset_fn(context: Any) -> Any:
            mine = train_files[context.input_pipeline_id :: context.num_input_pipelines]
            batch = context.get_per_replica_batch_size(settings.batch_size)
            seed = settings.seed + 1000 * epoch_index + worker
            return ctr_dataset(mine, batch, settings.feature_len, shuffle=True, seed=seed).repeat()

        stream = iter(strategy.distribute_datasets_from_function(dataset_fn))
        for _ in range(skip):  # a resumed epoch continues at the same data position
            next(stream)
        for _ in range(steps_per_epoch - skip):
            yield next(stream)

    def replica_step(features: dict[str, Any], label: Any) -> tuple[Any, list[Any]]:
        loss, grads = loss_and_gradients(model, params, settings, features, label)
        flat = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)  # one all-reduce per step
        mean = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, flat)
        sizes = [int(np.prod(p.shape)) for p in params]
        return loss, [tf.reshape(g, p.shape) for g, p in zip(tf.split(mean, sizes), params, strict=True)]

    @tf.function(reduce_retracing=True)  # traced once more for the short batches at shard ends
    def train_step(batch: Any) -> Any:
        loss, grads = strategy.run(replica_step, args=batch)
        optimizer.apply([strategy.experimental_local_results(g)[0] for g in grads], params)
        return strategy.experimental_local_results(loss)[0]  # this worker's loss: no extra collective

    writer = (
        tf.summary.create_file_writer(str(settings.model_dir)) if chief else tf.summary.create_noop_writer()
    )
    started, examples = time.perf_counter(), 0
    auc, logloss = float("nan"), float("nan")
    try:
        with writer.as_default():
            while int(epoch.numpy()) < settings.epochs:
                skip = int(optimizer.step.numpy()) - int(epoch.numpy()) * steps_per_epoch
                losses = []
                for batch in iterate(batches(int(epoch.numpy()), skip), train_files):
                    loss = train_step(batch)
                    losses.append(float(loss))
                    examples += settings.batch_size
                    step = int(optimizer.step.numpy())
                    tf.summary.scalar("loss", loss, step=step)
                    if run.checkpoint_every and step % run.checkpoint_every == 0 and step % steps_per_epoch:
                        manager.save(checkpoint_number=step)
                epoch.assign_add(1)
                model.snap_to_int8_grid()  # every worker snaps the same values: replicas stay identical
                step = int(optimizer.step.numpy())
                if chief:
                    auc, logloss = evaluate(model, eval_files, settings)
                    tf.summary.scalar("eval/auc", auc, step=step)
                    tf.summary.scalar("eval/logloss", logloss, step=step)
                manager.save(checkpoint_number=step)
                scores = f" eval_auc {auc:.4f} eval_logloss {logloss:.4f}" if chief else ""
                train_loss = float(np.mean(losses)) if losses else float("nan")
                log(
                    f"ctr[{worker}/{workers}]: epoch {int(epoch.numpy())}/{settings.epochs} step {step} "
                    f"train_loss {train_loss:.4f}{scores}"
                )
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as error:
        first = str(error).strip().splitlines()[0]
        raise ClusterError(
            f"worker {worker} of {workers}: a worker of the cluster failed ({first}); restart the workers: "
            f"training resumes from the latest checkpoint in {checkpoints}"
        ) from None
    seconds = time.perf_counter() - started
    if not chief:
        shutil.rmtree(save_dir, ignore_errors=True)
        return {"worker": worker, "steps": int(optimizer.step.numpy())}
    speed = round(examples / seconds, 1) if seconds > 0 else None
    steps = int(optimizer.step.numpy())
    extra = {"strategy": run.strategy, "workers": workers, "examples_per_second": speed}
    return finish(model, eval_files, settings, meta, (auc, logloss), steps, seconds, 0, **extra)
