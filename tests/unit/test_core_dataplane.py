"""start_core + DataPlane: the async API the adapters call, with batching, deadlines, metadata checks,
MultiInference rules, startup failure and config-file polling."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from serving.core import StartupError, start_core
from serving.settings import BatchingSettings, ServerSettings
from serving.status import DeadlineExceeded, InvalidArgument, NotFound
from serving.types import (
    CallContext,
    ExamplesRequest,
    InferenceTask,
    ModelConfig,
    ModelSpec,
    MultiInferenceRequest,
    PredictRequest,
    State,
)
from tests.unit.core_savedmodels import add_corrupt_version, add_version, example

CTX = CallContext(entrypoint="GRPC")
X = np.array([1.0, 2.0, 5.0], np.float32)


def settings_for(*models: ModelConfig, **flags: object) -> ServerSettings:
    return ServerSettings(file_system_poll_wait_seconds=1, max_num_load_retries=0, models=models, **flags)  # type: ignore[arg-type]


def test_dataplane_end_to_end(tmp_path: Path) -> None:
    add_version(tmp_path / "half", 123)

    async def scenario() -> None:
        core = await start_core(settings_for(ModelConfig("half", str(tmp_path / "half"))))
        dp = core.dataplane
        try:
            resolved, info = dp.resolve(ModelSpec("half"))
            assert (resolved.version, resolved.signature_name, info.inputs["x"].dtype) == (
                123,
                "serving_default",
                "DT_FLOAT",
            )
            with pytest.raises(
                InvalidArgument, match=r'^Serving signature name: "nope" not found in signature def$'
            ):
                dp.resolve(ModelSpec("half", signature_name="nope"))
            response = await dp.predict(PredictRequest(ModelSpec("half"), {"x": X}), CTX)
            np.testing.assert_allclose(response.outputs["y"], [2.5, 3.0, 4.5])
            runtime = (
                ':tensorflow:serving:runtime_latency_count{API="Predict",model_name="half",runtime="TF"} 1.0'
            )
            assert runtime in core.metrics.render().decode()
            assert (response.spec.name, response.spec.version) == ("half", 123)
            examples = [example(2.0)]
            regress = await dp.regress(
                ExamplesRequest(ModelSpec("half", signature_name="regress_x_to_y"), examples), CTX
            )
            assert regress.values == [3.0]
            classify = await dp.classify(
                ExamplesRequest(ModelSpec("half", signature_name="classify_x_to_y"), examples), CTX
            )
            assert classify.classifications == [[(b"", 3.0)]]
            multi = await dp.multi_inference(
                MultiInferenceRequest(
                    [
                        InferenceTask(
                            ModelSpec("half", signature_name="regress_x_to_y"), "tensorflow/serving/regress"
                        )
                    ],
                    examples,
                ),
                CTX,
            )
            assert multi.results[0].spec.signature_name == "regress_x_to_y"
            metadata = dp.metadata(ModelSpec("half"), ["signature_def"])
            assert metadata.spec.version == 123 and metadata.signature_def_map
            assert [(s.version, s.state) for s in dp.status(ModelSpec("half", label="ignored"))] == [
                (123, State.AVAILABLE)
            ]
        finally:
            await core.shutdown()

    asyncio.run(scenario())


def test_dataplane_errors(tmp_path: Path) -> None:
    add_version(tmp_path / "half", 1)
    add_version(tmp_path / "other", 1)

    async def scenario() -> None:
        core = await start_core(
            settings_for(
                ModelConfig("half", str(tmp_path / "half")), ModelConfig("other", str(tmp_path / "other"))
            )
        )
        dp = core.dataplane
        try:
            with pytest.raises(
                InvalidArgument, match=r"^GetModelMetadataRequest must specify at least one metadata_field$"
            ):
                dp.metadata(ModelSpec("half"), [])
            with pytest.raises(InvalidArgument, match=r"^Metadata field foo is not supported$"):
                dp.metadata(ModelSpec("half"), ["foo"])
            with pytest.raises(NotFound, match=r"Latest\(nope\)"):
                dp.metadata(ModelSpec("nope"), ["signature_def"])
            past = CallContext(entrypoint="REST", deadline=time.monotonic() - 1)
            with pytest.raises(DeadlineExceeded):
                await dp.predict(PredictRequest(ModelSpec("half"), {"x": X}), past)
            tasks = [
                InferenceTask(
                    ModelSpec("half", signature_name="regress_x_to_y"), "tensorflow/serving/regress"
                ),
                InferenceTask(
                    ModelSpec("other", signature_name="classify_x_to_y"), "tensorflow/serving/classify"
                ),
            ]
            with pytest.raises(InvalidArgument, match="must access the same model name"):
                await dp.multi_inference(MultiInferenceRequest(tasks, [example(1.0)]), CTX)
            with pytest.raises(InvalidArgument, match=r"^ModelSpec has no name specified\.$"):
                await dp.multi_inference(MultiInferenceRequest([], [example(1.0)]), CTX)
            with pytest.raises(InvalidArgument, match=r"^No signature was found with the name: nope$"):
                await dp.regress(
                    ExamplesRequest(ModelSpec("half", signature_name="nope"), [example(1.0)]), CTX
                )
        finally:
            await core.shutdown()

    asyncio.run(scenario())


def test_batching_splits_results_per_request(tmp_path: Path) -> None:
    add_version(tmp_path / "half", 1)
    batching = BatchingSettings(max_batch_size=64, batch_timeout_micros=20_000, num_batch_threads=1)

    async def scenario() -> None:
        core = await start_core(settings_for(ModelConfig("half", str(tmp_path / "half")), batching=batching))
        try:
            requests = [np.full(i % 3 + 1, float(i), np.float32) for i in range(24)]
            responses = await asyncio.gather(
                *(core.dataplane.predict(PredictRequest(ModelSpec("half"), {"x": x}), CTX) for x in requests)
            )
            for x, response in zip(requests, responses, strict=True):
                np.testing.assert_allclose(response.outputs["y"], 0.5 * x + 2)
            text = core.metrics.render().decode()
            assert ":tensorflow:serving:batching:processed_batch_size" in text
        finally:
            await core.shutdown()

    asyncio.run(scenario())


def test_startup_failure_text(tmp_path: Path) -> None:
    add_corrupt_version(tmp_path / "bad", 1)
    with pytest.raises(StartupError) as info:
        asyncio.run(start_core(settings_for(ModelConfig("bad", str(tmp_path / "bad")))))
    assert str(info.value).startswith(
        "Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available: "
        "{{{name: bad version: 1} due to error: "
    )


def test_reload_via_dataplane_and_config_file_polling(tmp_path: Path) -> None:
    add_version(tmp_path / "half", 1)
    add_version(tmp_path / "other", 2)
    config_file = tmp_path / "models.config"

    def write_config(*names: str) -> None:
        entries = "".join(
            f'config {{ name: "{n}" base_path: "{tmp_path / n}" model_platform: "tensorflow" }}\n'
            for n in names
        )
        config_file.write_text(f"model_config_list {{\n{entries}}}\n")

    write_config("half")

    async def scenario() -> None:
        settings = ServerSettings(
            file_system_poll_wait_seconds=1,
            max_num_load_retries=0,
            model_config_file=str(config_file),
            model_config_file_poll_wait_seconds=1,
        )
        core = await start_core(settings)
        dp = core.dataplane
        try:
            await dp.reload_config(
                [ModelConfig("half", str(tmp_path / "half")), ModelConfig("other", str(tmp_path / "other"))]
            )
            assert dp.resolve(ModelSpec("other"))[0].version == 2
            # The file poller reverts RPC changes to the file's content (upstream behaviour) ...
            await _eventually(lambda: _missing(dp, "other"))
            # ... keeps the old config when the file does not parse ...
            config_file.write_text("model_config_list { config { name: ")
            assert not await asyncio.to_thread(core.reload_config_file)
            assert dp.resolve(ModelSpec("half"))[0].version == 1
            write_config("half", "other")  # ... and applies a valid edit.
            await _eventually(lambda: not _missing(dp, "other"))
        finally:
            await core.shutdown()

    asyncio.run(scenario())


def _missing(dp: object, name: str) -> bool:
    try:
        dp.resolve(ModelSpec(name))  # type: ignore[attr-defined]
    except NotFound:
        return True
    return False


async def _eventually(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)
