"""Trainers: linear convergence, resume and checkpoint retention; a small CTR run learns the signal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export.ctr_model import build_model
from export.ctr_train import restore_model, train_ctr
from export.linear import train_linear
from export.settings import CtrSettings, GenerateSettings, LinearSettings
from export.synthetic import ARTICLE_ID_BASE, USER_ID_BASE, generate, make_world


def test_linear_recovers_weights_logs_each_step_and_keeps_five_checkpoints(tmp_path: Path) -> None:
    lines: list[str] = []
    metrics = train_linear(LinearSettings(model_dir=tmp_path), log=lines.append)
    assert abs(metrics["w"] - 0.8) < 0.01 and abs(metrics["b"] - 0.7) < 0.01
    assert len(lines) == 1000
    assert lines[0].startswith("linear: step 1 loss ") and " W " in lines[0] and " b " in lines[0]
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == [f"ckpt-{s}.index" for s in (1000, 600, 700, 800, 900)]
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 1000
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_linear_rerun_resumes_from_latest_checkpoint(tmp_path: Path) -> None:
    train_linear(LinearSettings(model_dir=tmp_path, max_steps=200, log_every=0))
    lines: list[str] = []
    metrics = train_linear(LinearSettings(model_dir=tmp_path, max_steps=300, log_every=50), log=lines.append)
    assert lines[0] == f"linear: resumed from {tmp_path / 'checkpoints' / 'ckpt-200'} at step 200"
    assert [line.split()[2] for line in lines[1:]] == ["250", "300"]
    assert metrics["steps"] == 300


def test_linear_tensorboard_has_loss_histograms_and_graph(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_linear(LinearSettings(model_dir=tmp_path, max_steps=20, log_every=0))
    plugins: dict[str, str] = {}
    for event_file in tmp_path.glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(event_file))
        acc.Reload()
        for tag in acc.Tags()["tensors"]:
            plugins[tag] = acc.SummaryMetadata(tag).plugin_data.plugin_name
    assert plugins["loss"] == "scalars"
    assert plugins["weights"] == plugins["bias"] == "histograms"
    assert plugins["linear_train_step"] == "graph_run_metadata_graph"  # read by the Graphs dashboard


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ctr-data")
    generate(small_settings(out))
    return out


def small_settings(out: Path) -> GenerateSettings:
    return GenerateSettings(out_dir=out, n_train=8000, n_eval=2000, n_users=20, n_articles=30, shards=2)


def test_ctr_small_run_learns_and_resumes(small_data: Path, tmp_path: Path) -> None:
    settings = CtrSettings(data_dir=small_data, model_dir=tmp_path, epochs=2, batch_size=128)
    lines: list[str] = []
    metrics = train_ctr(settings, log=lines.append)
    assert metrics["auc"] > metrics["bayes_auc"] - 0.05
    assert 0.0 < metrics["logloss"] < 0.69
    assert len(lines) == 2 and "eval_auc" in lines[-1]
    assert len(list((tmp_path / "checkpoints").glob("ckpt-*.index"))) == 2
    more = CtrSettings(data_dir=small_data, model_dir=tmp_path, epochs=3, batch_size=128)
    lines.clear()
    train_ctr(more, log=lines.append)
    assert lines[0].startswith("ctr: resumed from ") and "(epoch 2)" in lines[0]
    assert lines[1].startswith("ctr: epoch 3/3")


def _on_int8_grid(values: np.ndarray, axis: int | None) -> bool:
    scale = np.max(np.abs(values), axis=axis, keepdims=axis is not None) / 127.0
    steps = values / scale
    return bool(np.allclose(steps, np.round(steps), atol=1e-3))


def test_ctr_embeddings_carry_the_per_id_effects_on_the_int8_grid(small_data: Path, tmp_path: Path) -> None:
    settings = CtrSettings(data_dir=small_data, model_dir=tmp_path, batch_size=128)
    train_ctr(settings, log=lambda _line: None)
    model = restore_model(tmp_path)
    world = make_world(small_settings(small_data), np.random.default_rng(small_settings(small_data).seed))
    users = model.user_emb.numpy()[(USER_ID_BASE + np.arange(20)) % settings.user_buckets]
    articles = model.article_emb.numpy()[(ARTICLE_ID_BASE + np.arange(30)) % settings.article_buckets]
    readout = model.id_readout.numpy().ravel()
    user_effect = users @ readout[: settings.embedding_dim]
    article_effect = articles @ readout[settings.embedding_dim :]
    assert np.corrcoef(user_effect, world.user_effect)[0, 1] > 0.7  # measured 0.85
    assert np.corrcoef(article_effect, world.article_effect)[0, 1] > 0.3  # 0.55: article vectors absorb part
    assert np.std(user_effect) > 0.5 * np.std(world.user_effect)
    assert _on_int8_grid(model.user_emb.numpy(), None) and _on_int8_grid(model.article_emb.numpy(), None)
    assert all(_on_int8_grid(k.numpy(), 0) for k in model.deep_kernels())
    assert float(np.max(model.feature_scale.numpy())) <= 1.0 / settings.std_floor


def test_ctr_features_are_clipped_after_standardization(tmp_path: Path) -> None:
    settings = CtrSettings(data_dir=tmp_path, model_dir=tmp_path, feature_len=30)
    model = build_model(settings)
    ids = np.array([3, 2**31 - 1], dtype=np.int64)
    edge = np.full([2, 30], settings.feature_clip, dtype=np.float32)
    huge = np.full([2, 30], 1e9, dtype=np.float32)
    np.testing.assert_array_equal(model.logits(huge, ids, ids).numpy(), model.logits(edge, ids, ids).numpy())


def test_ctr_resume_with_another_layout_fails_clearly(small_data: Path, tmp_path: Path) -> None:
    train_ctr(CtrSettings(data_dir=small_data, model_dir=tmp_path, epochs=1, embedding_dim=8), log=print)
    config = (tmp_path / "config.json").read_text()
    with pytest.raises(ValueError, match="different CTR model layout") as caught:
        train_ctr(CtrSettings(data_dir=small_data, model_dir=tmp_path, epochs=2), log=print)
    assert str(tmp_path / "checkpoints" / "ckpt-") in str(caught.value) and "(2048, 16)" in str(caught.value)
    assert (tmp_path / "config.json").read_text() == config  # still describes the checkpoints
    assert restore_model(tmp_path).user_emb.shape == (2048, 8)
