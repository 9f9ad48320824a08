"""Seeded synthetic CTR click logs from a known logistic ground truth (`tfkit data generate`).

The true click probability is sigmoid(bias + w·feature + user_effect[user] + article_effect[article]).
Article vectors and keyword weights belong to the article, user weights to the user, each observed with
per-impression noise. meta.json records the Bayes-optimal AUC: the AUC of the true probabilities on the
held-out split, the ceiling any model can reach there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from export.metrics import log_loss, roc_auc
from export.schema import KEYWORD_WEIGHTS, USER_WEIGHTS, encode_example, feature_layout
from export.settings import GenerateSettings
from export.shards import write_meta, write_shards

USER_ID_BASE = 100_000
ARTICLE_ID_BASE = 5_000_000
N_CHANNELS = 10


@dataclass(frozen=True)
class World:
    """The ground truth: entity attributes and the logistic click model's parameters."""

    channel: np.ndarray
    article_vector: np.ndarray
    keyword_weights: np.ndarray
    user_weights: np.ndarray
    user_effect: np.ndarray
    article_effect: np.ndarray
    weights: np.ndarray
    bias: float


@dataclass(frozen=True)
class Rows:
    """One split: features float64 [n, len], ids int64 [n], labels int64 [n], true probabilities [n]."""

    feature: np.ndarray
    user_id: np.ndarray
    article_id: np.ndarray
    label: np.ndarray
    probability: np.ndarray


def make_world(settings: GenerateSettings, rng: np.random.Generator) -> World:
    """Draw the entities and the true model."""
    widths = {name: stop - start for name, start, stop in feature_layout(settings.feature_len)}
    n_vec = widths["article_vector"]
    weights = np.concatenate(
        [
            [0.06],
            rng.normal(0.0, 0.15, n_vec),
            rng.normal(0.0, 1.5, USER_WEIGHTS),
            rng.normal(0.0, 1.5, KEYWORD_WEIGHTS),
        ]
    )
    return World(
        channel=rng.integers(0, N_CHANNELS, settings.n_articles).astype(np.float64),
        article_vector=rng.normal(0.0, 1.0, (settings.n_articles, n_vec)),
        keyword_weights=rng.dirichlet(np.ones(KEYWORD_WEIGHTS), settings.n_articles),
        user_weights=rng.dirichlet(np.ones(USER_WEIGHTS), settings.n_users),
        user_effect=rng.normal(0.0, 0.5, settings.n_users),
        article_effect=rng.normal(0.0, 0.5, settings.n_articles),
        weights=weights,
        bias=-1.3,
    )


def draw_rows(world: World, n: int, rng: np.random.Generator) -> Rows:
    """Sample n impressions and their clicks from the true model."""
    users = rng.integers(0, world.user_effect.size, n)
    articles = rng.integers(0, world.article_effect.size, n)
    n_vec = world.article_vector.shape[1]
    feature = np.concatenate(
        [
            world.channel[articles, None],
            world.article_vector[articles] + rng.normal(0.0, 0.5, (n, n_vec)),
            world.user_weights[users] + rng.normal(0.0, 0.05, (n, USER_WEIGHTS)),
            world.keyword_weights[articles] + rng.normal(0.0, 0.05, (n, KEYWORD_WEIGHTS)),
        ],
        axis=1,
    )
    logit = world.bias + feature @ world.weights + world.user_effect[users] + world.article_effect[articles]
    probability = 1.0 / (1.0 + np.exp(-logit))
    label = (rng.random(n) < probability).astype(np.int64)
    return Rows(
        feature=feature,
        user_id=USER_ID_BASE + users.astype(np.int64),
        article_id=ARTICLE_ID_BASE + articles.astype(np.int64),
        label=label,
        probability=probability,
    )


def encoded(rows: Rows) -> list[bytes]:
    """Serialize every row in the CTR schema."""
    return [
        encode_example(int(rows.label[i]), rows.feature[i], int(rows.user_id[i]), int(rows.article_id[i]))
        for i in range(rows.label.size)
    ]


def generate(settings: GenerateSettings) -> dict[str, Any]:
    """Write train/eval shards and meta.json into settings.out_dir; return the meta."""
    rng = np.random.default_rng(settings.seed)
    world = make_world(settings, rng)
    train = draw_rows(world, settings.n_train, rng)
    held_out = draw_rows(world, settings.n_eval, rng)
    out = settings.out_dir
    train_files = write_shards(out, "train", encoded(train), settings.shards)
    eval_files = write_shards(out, "eval", encoded(held_out), max(1, settings.shards // 2))
    meta = {
        "source": "synthetic",
        "seed": settings.seed,
        "feature_len": settings.feature_len,
        "n_train": settings.n_train,
        "n_eval": settings.n_eval,
        "n_users": settings.n_users,
        "n_articles": settings.n_articles,
        "train_files": train_files,
        "eval_files": eval_files,
        "ctr": float(held_out.label.mean()),
        "bayes_auc": roc_auc(held_out.label, held_out.probability),
        "bayes_logloss": log_loss(held_out.label, held_out.probability),
    }
    write_meta(out, meta)
    return meta
