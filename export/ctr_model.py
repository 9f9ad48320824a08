"""Wide-and-deep CTR model as a `tf.Module` (plain variables: converts to TFLite builtins and TF.js).

wide:  feature·w + b + user_bias[user_id mod U] + article_bias[article_id mod A]
deep:  MLP(concat(feature, user_emb[user_id mod U], article_emb[article_id mod A]))
probability = sigmoid(wide + deep). Ids are cast to int32 (valid ids are < 2**31) and hashed by integer
modulo: no string ops anywhere.
"""

from __future__ import annotations

import itertools
from typing import Any

from export.settings import CtrSettings


def _dense_init(rng: Any, fan_in: int, fan_out: int) -> Any:
    import tensorflow as tf

    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return tf.Variable(rng.uniform([fan_in, fan_out], -limit, limit), name="kernel")


def build_model(settings: CtrSettings) -> Any:
    """Create the CTR tf.Module (defined inside so importing this module stays TF-free)."""
    import tensorflow as tf

    class WideDeep(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="ctr")
            rng = tf.random.Generator.from_seed(settings.seed)
            length = settings.feature_len
            dim = settings.embedding_dim
            self.user_buckets = settings.user_buckets
            self.article_buckets = settings.article_buckets
            self.wide_w = tf.Variable(tf.zeros([length, 1]), name="wide_w")
            self.wide_b = tf.Variable(tf.zeros([1]), name="wide_b")
            self.user_bias = tf.Variable(tf.zeros([settings.user_buckets, 1]), name="user_bias")
            self.article_bias = tf.Variable(tf.zeros([settings.article_buckets, 1]), name="article_bias")
            self.user_emb = tf.Variable(
                rng.normal([settings.user_buckets, dim], stddev=0.05), name="user_emb"
            )
            self.article_emb = tf.Variable(
                rng.normal([settings.article_buckets, dim], stddev=0.05), name="article_emb"
            )
            sizes = [length + 2 * dim, *settings.hidden, 1]
            self.kernels = [_dense_init(rng, a, b) for a, b in itertools.pairwise(sizes)]
            self.biases = [tf.Variable(tf.zeros([b]), name="bias") for b in sizes[1:]]
            self.feature_mean = tf.Variable(tf.zeros([length]), trainable=False, name="feature_mean")
            self.feature_scale = tf.Variable(tf.ones([length]), trainable=False, name="feature_scale")

        def logits(self, feature: Any, user_id: Any, article_id: Any) -> Any:
            x = (feature - self.feature_mean) * self.feature_scale
            users = tf.math.floormod(tf.cast(user_id, tf.int32), self.user_buckets)
            articles = tf.math.floormod(tf.cast(article_id, tf.int32), self.article_buckets)
            wide = (
                tf.matmul(x, self.wide_w)
                + self.wide_b
                + tf.gather(self.user_bias, users)
                + tf.gather(self.article_bias, articles)
            )
            h = tf.concat([x, tf.gather(self.user_emb, users), tf.gather(self.article_emb, articles)], axis=1)
            for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases, strict=True)):
                h = tf.matmul(h, kernel) + bias
                if i < len(self.kernels) - 1:
                    h = tf.nn.relu(h)
            return wide + h

        def probability(self, feature: Any, user_id: Any, article_id: Any) -> Any:
            return tf.sigmoid(self.logits(feature, user_id, article_id))

        def l2_penalty(self) -> Any:
            terms = [tf.reduce_sum(tf.square(k)) for k in self.kernels]
            terms += [tf.reduce_sum(tf.square(self.user_emb)), tf.reduce_sum(tf.square(self.article_emb))]
            return tf.add_n(terms)

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
