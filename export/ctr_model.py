"""Wide-and-deep CTR model as a `tf.Module` (plain variables: converts to TFLite builtins and TF.js).

x     = clip((feature - mean) / max(std, floor), -clip, clip)     robust standardization, bounded inputs
e     = concat(user_emb[user_id mod U], article_emb[article_id mod A])
wide  = x·w + b + e·v                 the embeddings' linear read-out carries the per-user/article effects
deep  = MLP(relu(concat(content·Kc, affinity·Ka, e·Ke) + b0))      one small first layer per input group
probability = sigmoid(wide + deep). Ids are cast to int32 (valid ids are < 2**31) and hashed by integer
modulo: no string ops anywhere. Feature groups: content = [channel_id, article_vector], affinity = the
trailing [user_weights(10), article_keyword_weights(10)].

Built to survive quantization (TFLite dynamic-range/int8, TF.js weight quantization):
- Each first-layer kernel reads one group of comparable, bounded inputs. Hybrid (dynamic-range) kernels
  quantize every input row to int8 with one scale, so one wide layer over everything (embeddings next
  to features, unbounded outliers) loses precision: ~1e-3 on probabilities. With the default sizes
  (content 101x8 = 808 weights) every dense kernel stays below TFLite's 1024-weight quantization
  threshold, so dynamic-range quantizes only the embedding tables and runs no hybrid kernel at all
  (a trained 16-unit content layer, 1616 weights, measured 9e-4 even on clipped standardized inputs).
- `snap_to_int8_grid` rounds the embedding tables (one scale per table) and the kernels (one scale per
  output unit) onto the symmetric int8 grid of the TFLite weight quantizer after every epoch. The float
  model is the snapped one (no AUC cost), so quantizing the tables is lossless: dynamic-range ~3e-7
  instead of 6e-4..8e-4 unsnapped.
"""

from __future__ import annotations

import itertools
from typing import Any

from export.schema import AFFINITY_LEN
from export.settings import CtrSettings


def feature_groups(feature_len: int) -> list[int]:
    """Widths of the feature groups (content, affinity); one group when the vector is too short."""
    if feature_len <= AFFINITY_LEN:
        return [feature_len]
    return [feature_len - AFFINITY_LEN, AFFINITY_LEN]


def _glorot(rng: Any, fan_in: int, fan_out: int, name: str) -> Any:
    import tensorflow as tf

    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return tf.Variable(rng.uniform([fan_in, fan_out], -limit, limit), name=name)


def snap(values: Any, axis: int | None) -> Any:
    """`values` rounded onto the symmetric int8 grid with scale max|v| / 127, one scale per slice along
    the reduced `axis` (None: one scale for the whole tensor)."""
    import tensorflow as tf

    peak = tf.reduce_max(tf.abs(values), axis=axis, keepdims=axis is not None)
    scale = tf.where(peak > 0, peak / 127.0, tf.ones_like(peak))
    return tf.round(values / scale) * scale


def build_model(settings: CtrSettings) -> Any:
    """Create the CTR tf.Module (defined inside so importing this module stays TF-free)."""
    import tensorflow as tf

    class WideDeep(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="ctr")
            rng = tf.random.Generator.from_seed(settings.seed)
            length = settings.feature_len
            dim = settings.embedding_dim
            units = settings.group_units
            self.user_buckets = settings.user_buckets
            self.article_buckets = settings.article_buckets
            self.clip = settings.feature_clip
            self.groups = feature_groups(length)
            self.wide_w = tf.Variable(tf.zeros([length, 1]), name="wide_w")
            self.wide_b = tf.Variable(tf.zeros([1]), name="wide_b")
            self.user_emb = tf.Variable(
                rng.normal([settings.user_buckets, dim], stddev=settings.embedding_init), name="user_emb"
            )
            self.article_emb = tf.Variable(
                rng.normal([settings.article_buckets, dim], stddev=settings.embedding_init),
                name="article_emb",
            )
            self.id_readout = _glorot(rng, 2 * dim, 1, "id_readout")
            self.group_kernels = [_glorot(rng, width, units, "group_kernel") for width in self.groups]
            self.id_kernel = _glorot(rng, 2 * dim, units, "id_kernel")
            sizes = [(len(self.groups) + 1) * units, *settings.hidden, 1]
            self.kernels = [_glorot(rng, a, b, "kernel") for a, b in itertools.pairwise(sizes)]
            self.biases = [tf.Variable(tf.zeros([b]), name="bias") for b in sizes]
            self.feature_mean = tf.Variable(tf.zeros([length]), trainable=False, name="feature_mean")
            self.feature_scale = tf.Variable(tf.ones([length]), trainable=False, name="feature_scale")

        def embeddings(self, user_id: Any, article_id: Any) -> Any:
            users = tf.math.floormod(tf.cast(user_id, tf.int32), self.user_buckets)
            articles = tf.math.floormod(tf.cast(article_id, tf.int32), self.article_buckets)
            return tf.concat([tf.gather(self.user_emb, users), tf.gather(self.article_emb, articles)], axis=1)

        def logits(self, feature: Any, user_id: Any, article_id: Any) -> Any:
            x = tf.clip_by_value((feature - self.feature_mean) * self.feature_scale, -self.clip, self.clip)
            ids = self.embeddings(user_id, article_id)
            wide = tf.matmul(x, self.wide_w) + self.wide_b + tf.matmul(ids, self.id_readout)
            parts = tf.split(x, self.groups, axis=1) if len(self.groups) > 1 else [x]
            first = [tf.matmul(p, k) for p, k in zip(parts, self.group_kernels, strict=True)]
            h = tf.concat([*first, tf.matmul(ids, self.id_kernel)], axis=1) + self.biases[0]
            for kernel, bias in zip(self.kernels, self.biases[1:], strict=True):
                h = tf.matmul(tf.nn.relu(h), kernel) + bias
            return wide + h

        def probability(self, feature: Any, user_id: Any, article_id: Any) -> Any:
            return tf.sigmoid(self.logits(feature, user_id, article_id))

        def deep_kernels(self) -> list[Any]:
            return [self.id_readout, *self.group_kernels, self.id_kernel, *self.kernels]

        def penalty(self, user_id: Any, article_id: Any) -> Any:
            """L2 of the kernels and the id read-out plus the batch mean L2 of the embedding rows it looked
            up. Rows never looked up are left alone: a dense penalty over whole tables, rescaled by Adam's
            per-row step size, shrinks them geometrically to nothing."""
            rows = tf.reduce_sum(tf.square(self.embeddings(user_id, article_id)), axis=1)
            return tf.add_n([tf.reduce_sum(tf.square(k)) for k in self.deep_kernels()]) + tf.reduce_mean(rows)

        def snap_to_int8_grid(self) -> None:
            for table in (self.user_emb, self.article_emb):
                table.assign(snap(table, axis=None))
            for kernel in self.deep_kernels():
                kernel.assign(snap(kernel, axis=0))  # [in, out]: one scale per output unit

    return WideDeep()


def build_adam(variables: list[Any], learning_rate: float, decay_steps: int) -> Any:
    """A small Adam optimizer (learning rate decaying linearly to 5% over decay_steps) as a tf.Module,
    so its slots live in the same checkpoint."""
    import tensorflow as tf

    class Adam(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="adam")
            self.lr = learning_rate
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

        def apply(self, grads: list[Any], params: list[Any]) -> None:
            self.step.assign_add(1)
            t = tf.cast(self.step, tf.float32)
            correction = tf.sqrt(1.0 - 0.999**t) / (1.0 - 0.9**t)
            decay = tf.maximum(0.05, 1.0 - t / float(max(decay_steps, 1)))
            for g, p, m, v in zip(grads, params, self.m, self.v, strict=True):
                m.assign(0.9 * m + 0.1 * g)
                v.assign(0.999 * v + 0.001 * tf.square(g))
                p.assign_sub(self.lr * decay * correction * m / (tf.sqrt(v) + 1e-7))

    return Adam()
