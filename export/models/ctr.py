"""ctr: the wide-and-deep click-through-rate model, trained from TFRecords of `tf.train.Example`.

serving_default  feature float32 [None,F], user_id int64 [None], article_id int64 [None]
                                         -> probability float32 [None,1]
classification   inputs string [None]    -> classes string [None,2], scores float32 [None,2]
predict_examples examples string [None]  -> probability float32 [None,1]
(F = the trained feature length, 121 by default; the record schema is export/schema.py.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from export.models.base import KitModel, Log, Stage
from export.schema import ID_INPUTS, MAX_ID, decode_example, feature_layout, serving_feature_spec
from export.settings import CtrSettings, GenerateSettings, add_setting

CLASS_LABELS = (b"0", b"1")
FEATURE_NOTES = {"channel_id": "the channel id as a float"}


def data_dir(artifacts: Path) -> Path:
    return Path(artifacts) / "data" / "ctr"


def rows_dir(artifacts: Path) -> Path:
    """Where sample rows come from: the data `<artifacts>/train/ctr` was trained on (its config.json names
    it, e.g. `tfkit train ctr --data-dir D --export`), else the kit's default data directory."""
    from export.ctr_train import CONFIG_FILE, load_config

    model_dir = Path(artifacts) / "train" / "ctr"
    if (model_dir / CONFIG_FILE).is_file():
        return load_config(model_dir).data_dir
    return data_dir(artifacts)


def _run_train(args: argparse.Namespace) -> int:
    from export.ctr_train import train_ctr
    from export.distributed import ClusterError, DistributedRun, train_distributed
    from export.reader import BadRecordError

    settings = CtrSettings(
        data_dir=args.data_dir or data_dir(args.artifacts),
        model_dir=args.model_dir or MODEL.train_dir(args.artifacts),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        skip_bad=args.skip_bad,
    )
    run = DistributedRun(strategy=args.strategy, checkpoint_every=args.checkpoint_every)
    try:
        m = train_ctr(settings) if run.strategy == "one" else train_distributed(settings, run)
        if args.export and "auc" in m:  # the chief (or the single worker) publishes the version
            from export.exporter import export_model
            from export.settings import ExportSettings

            export_model(
                ExportSettings(artifacts=args.artifacts, model=MODEL.name, model_dir=settings.model_dir)
            )
    except (BadRecordError, FileNotFoundError, ValueError, ClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if "auc" not in m:
        print(f"ctr: worker {m['worker']} done at step {m['steps']}")
        return 0
    bayes = "unknown" if m["bayes_auc"] is None else f"{m['bayes_auc']:.4f}"
    print(
        f"ctr: auc={m['auc']:.4f} bayes_auc={bayes} logloss={m['logloss']:.4f} "
        f"skipped={m['skipped_records']} -> {settings.model_dir}"
    )
    return 0


def records(data: Path, n: int, seed: int = 0) -> list[bytes]:
    """n serialized records drawn (seeded, with replacement when n exceeds the split) from eval shards."""
    import tensorflow as tf

    from export.shards import split_files
    from export.split import compression_type

    files = split_files(data, "eval")
    wanted = max(n, 1)
    found: list[bytes] = []
    shards = tf.data.TFRecordDataset([str(f) for f in files], compression_type(files[0]))
    for record in shards.take(max(4 * wanted, 1024)):
        found.append(bytes(record.numpy()))
    if not found:
        raise ValueError(f"no records in the eval shards of {data}")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(found), size=n, replace=n > len(found))
    return [found[int(i)] for i in picks]


def inputs_from_records(serialized: list[bytes]) -> dict[str, np.ndarray]:
    """serving_default inputs from serialized records."""
    rows = [decode_example(r) for r in serialized]
    return {
        "feature": np.stack([row["feature"] for row in rows]).astype(np.float32),
        "user_id": np.array([row["user_id"] for row in rows], dtype=np.int64),
        "article_id": np.array([row["article_id"] for row in rows], dtype=np.int64),
    }


class Ctr(KitModel):
    name = "ctr"
    metric_keys = ("auc", "logloss", "bayes_auc")
    tflite_variants = ("float32", "dynamic", "float16", "int8")
    tfjs_variants = ("float32", "float16", "uint8")
    id_inputs = ID_INPUTS
    max_id = MAX_ID

    def add_train_command(
        self, models: Any, artifacts_flag: Callable[[argparse.ArgumentParser], None]
    ) -> None:
        p = models.add_parser("ctr", help="the wide-and-deep CTR model from TFRecords")
        artifacts_flag(p)
        p.add_argument("--data-dir", type=Path, help="shards + meta.json (default: ARTIFACTS/data/ctr)")
        p.add_argument(
            "--model-dir", type=Path, help="TensorBoard logs + checkpoints (default: ARTIFACTS/train/ctr)"
        )
        add_setting(p, "--epochs", CtrSettings, "epochs")
        add_setting(p, "--batch-size", CtrSettings, "batch_size")
        add_setting(p, "--learning-rate", CtrSettings, "learning_rate", "Adam, linear decay")
        add_setting(p, "--seed", CtrSettings, "seed")
        p.add_argument(
            "--skip-bad", action="store_true", help="skip and count malformed records instead of stopping"
        )
        from export.distributed import STRATEGIES, DistributedRun

        p.add_argument(
            "--strategy",
            choices=STRATEGIES,
            default=DistributedRun.strategy,
            help="tf.distribute strategy; multi-worker reads TF_CONFIG (default: %(default)s)",
        )
        add_setting(p, "--checkpoint-every", DistributedRun, "checkpoint_every", "mid-epoch checkpoint steps")
        p.add_argument(
            "--export", action="store_true", help="publish the next SavedModel version after training"
        )
        p.set_defaults(run=_run_train)

    def pipeline_stages(self, artifacts: Path, verbose: bool, log: Log) -> list[Stage]:
        data = data_dir(artifacts)

        def generate() -> str:
            from export.synthetic import generate

            if (data / "meta.json").is_file():
                return f"reusing {data}"
            meta = generate(GenerateSettings(out_dir=data))
            return f"{meta['n_train']} train + {meta['n_eval']} eval rows, bayes_auc {meta['bayes_auc']:.4f}"

        def train() -> str:
            from export.ctr_train import train_ctr

            m = train_ctr(CtrSettings(data_dir=data, model_dir=self.train_dir(artifacts)), log=log)
            return f"auc {m['auc']:.4f} (bayes {m['bayes_auc']:.4f}) logloss {m['logloss']:.4f}"

        return [("generate data", generate), ("train ctr", train)]

    def serving_module(self, model_dir: Path) -> tuple[Any, dict[str, Any]]:
        import tensorflow as tf

        from export.ctr_train import load_config, restore_model

        model = restore_model(model_dir)
        feature_len = load_config(model_dir).feature_len

        class CtrServing(tf.Module):
            def __init__(self) -> None:
                super().__init__(name="ctr_serving")
                self.model = model

            def _from_examples(self, serialized: Any) -> Any:
                parsed = tf.io.parse_example(serialized, serving_feature_spec())
                vectors = tf.io.decode_raw(parsed["feature"], tf.float64)
                feature = tf.reshape(tf.cast(vectors, tf.float32), [-1, feature_len])
                return self.model.probability(feature, parsed["user_id"], parsed["article_id"])

            @tf.function(
                input_signature=[
                    tf.TensorSpec([None, feature_len], tf.float32, name="feature"),
                    tf.TensorSpec([None], tf.int64, name="user_id"),
                    tf.TensorSpec([None], tf.int64, name="article_id"),
                ]
            )
            def predict(self, feature: Any, user_id: Any, article_id: Any) -> dict[str, Any]:
                return {"probability": self.model.probability(feature, user_id, article_id)}

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
            def classify(self, inputs: Any) -> dict[str, Any]:
                p = self._from_examples(inputs)
                classes = tf.tile(tf.constant([list(CLASS_LABELS)]), [tf.shape(p)[0], 1])
                return {"classes": classes, "scores": tf.concat([1.0 - p, p], axis=1)}

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
            def predict_examples(self, examples: Any) -> dict[str, Any]:
                return {"probability": self._from_examples(examples)}

        module = CtrServing()
        return module, {
            "serving_default": module.predict,
            "classification": module.classify,
            "predict_examples": module.predict_examples,
        }

    def warmup_logs(self, model_dir: Path, rows: int) -> list[Any]:
        from export.ctr_train import load_config
        from export.warmup import classify_log, predict_log

        picked = records(load_config(model_dir).data_dir, rows, seed=1)
        return [
            predict_log(self.name, "serving_default", inputs_from_records(picked)),
            classify_log(self.name, "classification", picked),
            predict_log(self.name, "predict_examples", {"examples": np.array(picked, dtype=object)}),
        ]

    def sample_inputs(self, artifacts: Path, n: int, seed: int) -> dict[str, np.ndarray]:
        """Rows of the held-out shards under `<artifacts>/data/ctr`."""
        return inputs_from_records(records(rows_dir(artifacts), n, seed))

    def sample_examples(self, artifacts: Path, n: int, seed: int) -> list[bytes]:
        """The same rows as `sample_inputs` as serialized records (label, feature, user_id, article_id)."""
        return records(rows_dir(artifacts), n, seed)

    def sample_labels(self, artifacts: Path, n: int, seed: int) -> np.ndarray | None:
        labels = [decode_example(raw)["label"] for raw in self.sample_examples(artifacts, n, seed)]
        return None if None in labels else np.array(labels, dtype=np.int64)

    def preprocessing(self, inputs: dict[str, tuple[int | None, ...]], target: str) -> dict[str, Any]:
        width = int(inputs["feature"][-1] or 0)
        order = [
            {"slice": [start, stop], "name": name, "note": FEATURE_NOTES.get(name, f"{stop - start} floats")}
            for name, start, stop in feature_layout(width)
        ]
        tfjs = "int32 (TF.js has no int64; ids are fed as int32 tensors)"
        id_dtype = tfjs if target == "tfjs" else "int64"
        return {
            "feature": {
                "dtype": "float32",
                "width": width,
                "order": order,
                "note": "concatenate in this order; float64 source values are cast to float32",
            },
            "ids": {
                "inputs": list(self.id_inputs),
                "dtype": id_dtype,
                "min": 0,
                "max": MAX_ID - 1,
                "note": "valid ids: 0 <= id < 2**31; the model hashes them into embedding buckets by integer "
                "modulo, so any id in range is accepted; map larger or string ids into this range in the app",
            },
            "output": "probability: float32 [batch, 1], the click probability",
        }


MODEL = Ctr()
