"""start_core + DataPlane: the async API the adapters call, with batching, deadlines, metadata checks,
MultiInference rules, the one request lifecycle (metrics, catch-all INTERNAL), startup failure and
config-file polling."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from serving.core import Core, StartupError, start_core
from serving.dataplane import INTERNAL_TEXT, DataPlane
from serving.settings import BatchingSettings, ServerSettings
from serving.status import DeadlineExceeded, Internal, InvalidArgument, NotFound
from serving.types import (
    CallContext,
    ExamplesRequest,
    InferenceTask,
    ModelConfig,
    ModelSpec,
    MultiInferenceRequest,
    PredictRequest,
    SignatureInfo,
    State,
    Tensors,
    VersionPolicy,
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
            seen: list[SignatureInfo] = []

            async def decode(info: SignatureInfo) -> Tensors:
                seen.append(info)
                return {"x": X}

            decoded = await dp.predict(PredictRequest(ModelSpec("half"), decode=decode), CTX)
            assert (seen[0].name, seen[0].inputs["x"].dtype) == ("serving_default", "DT_FLOAT")
            assert (decoded.spec.version, decoded.spec.signature_name) == (123, "serving_default")
            with pytest.raises(
                InvalidArgument, match=r'^Serving signature name: "nope" not found in signature def$'
            ):
                await dp.predict(PredictRequest(ModelSpec("half", signature_name="nope"), decode=decode), CTX)
            response = await dp.predict(PredictRequest(ModelSpec("half"), {"x": X}), CTX)
            np.testing.assert_allclose(response.outputs["y"], [2.5, 3.0, 4.5])
            runtime = (
                ':tensorflow:serving:runtime_latency_count{model_name="half",API="Predict",runtime="TF1"} 2\n'
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
            assert ":tensorflow:serving:batching_session:processed_batch_size_count{}" in text
            # With batching on, each request's runtime latency (queue + batch run) is still recorded.
            assert ':runtime_latency_count{model_name="half",API="Predict",runtime="TF1"} 24\n' in text
            pool = '{thread_pool_name="model_server_batch_threads"}'
            assert ":batching_session:queuing_latency_count" + pool + " 24\n" in text
        finally:
            await core.shutdown()

    asyncio.run(scenario())


def test_batching_covers_classify_and_regress(tmp_path: Path) -> None:
    """Upstream batches every SignatureDef of the session (bundle_factory_util.cc WrapSessionForBatching):
    Classify and Regress requests share batches too, and each caller gets its own results back."""
    add_version(tmp_path / "half", 1)
    batching = BatchingSettings(max_batch_size=64, batch_timeout_micros=20_000, num_batch_threads=1)

    async def scenario() -> None:
        core = await start_core(settings_for(ModelConfig("half", str(tmp_path / "half")), batching=batching))
        dp = core.dataplane
        try:
            regress_spec = ModelSpec("half", signature_name="regress_x_to_y")
            classify_spec = ModelSpec("half", signature_name="classify_classes")
            values = [float(i) for i in range(8)]
            regressed = await asyncio.gather(
                *(
                    dp.regress(ExamplesRequest(regress_spec, [example(v), example(v + 1)]), CTX)
                    for v in values
                )
            )
            classified = await asyncio.gather(
                *(dp.classify(ExamplesRequest(classify_spec, [example(v)]), CTX) for v in values)
            )
            for v, r, c in zip(values, regressed, classified, strict=True):
                assert r.values == [0.5 * v + 2, 0.5 * (v + 1) + 2]
                assert [label for label, _ in c.classifications[0]] == [b"low", b"high"]
                assert c.classifications[0][1][1] == pytest.approx((0.5 * v + 2) / 10)
            text = core.metrics.render().decode()
            batches = int(
                text.split(":tensorflow:serving:batching_session:wrapped_run_count{} ")[1].split()[0]
            )
            assert 2 <= batches < 16  # requests were merged
            assert ':runtime_latency_count{model_name="half",API="Regress",runtime="TF1"} 8\n' in text
            assert ':runtime_latency_count{model_name="half",API="Classify",runtime="TF1"} 8\n' in text
            with pytest.raises(InvalidArgument, match=r"^Input is empty\.$"):
                await dp.regress(ExamplesRequest(regress_spec, []), CTX)
            # A Predict fetching only some outputs matches no batching signature: it runs directly
            # (batching_session.cc looks the run's TensorSignature up among the SignatureDefs').
            sum_ab = ModelSpec("half", signature_name="sum_ab")
            ab = {"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)}
            filtered = await dp.predict(PredictRequest(sum_ab, ab, ("s",)), CTX)
            assert list(filtered.outputs) == ["s"]
            assert core.metrics.render().decode().count("wrapped_run_count{} " + str(batches)) == 1
        finally:
            await core.shutdown()

    asyncio.run(scenario())


@contextlib.asynccontextmanager
async def per_model_dataplane(settings: ServerSettings) -> AsyncIterator[tuple[Core, DataPlane]]:
    """A started core and a DataPlane with per-model batching parameters on; everything stopped after."""
    from concurrent.futures import ThreadPoolExecutor

    from serving.batching import BatchScheduler

    core = await start_core(settings)
    executor = ThreadPoolExecutor(2)
    scheduler = BatchScheduler(BatchingSettings(num_batch_threads=1), core.metrics)
    dp = DataPlane(core.manager, executor, scheduler, core.metrics, per_model_batching=True)
    try:
        yield core, dp
    finally:
        await dp.close()
        scheduler.shutdown()
        executor.shutdown()
        await core.shutdown()


def test_per_model_batching_parameters(tmp_path: Path) -> None:
    """bundle_factory_util.cc GetPerModelBatchingParams: with per-model parameters on, a version with
    batching_params.pbtxt is batched with them; a version without one is not batched at all."""
    add_version(tmp_path / "half", 1)
    add_version(tmp_path / "plain", 1)
    (tmp_path / "half" / "1" / "batching_params.pbtxt").write_text("max_batch_size { value: 4 }\n")

    async def scenario() -> None:
        settings = settings_for(
            ModelConfig("half", str(tmp_path / "half")), ModelConfig("plain", str(tmp_path / "plain"))
        )
        async with per_model_dataplane(settings) as (core, dp):
            with pytest.raises(
                InvalidArgument, match=r"^Task size 5 is larger than maximum input batch size 4$"
            ):
                await dp.predict(PredictRequest(ModelSpec("half"), {"x": np.ones(5, np.float32)}), CTX)
            out = await dp.predict(PredictRequest(ModelSpec("plain"), {"x": np.ones(5, np.float32)}), CTX)
            np.testing.assert_allclose(out.outputs["y"], [2.5] * 5)
            assert ":wrapped_run_count{} " not in core.metrics.render().decode()

    asyncio.run(scenario())


def test_replaced_versions_are_freed_with_per_model_batching(tmp_path: Path) -> None:
    """core/basic_manager.cc BasicManager::ExecuteUnload frees an unloaded version; the kit's execution
    caches (per-version batching parameters, batch queues) must not keep it alive either, also when the
    batched version 1 is replaced by an unbatched version 2 (no batching_params.pbtxt)."""
    add_version(tmp_path / "half", 1)
    add_version(tmp_path / "batched", 1)
    (tmp_path / "batched" / "1" / "batching_params.pbtxt").write_text("max_batch_size { value: 4 }\n")

    async def scenario() -> None:
        names = ("half", "batched")
        settings = settings_for(*(ModelConfig(n, str(tmp_path / n)) for n in names))
        async with per_model_dataplane(settings) as (core, dp):
            first = {}
            for name in names:
                await dp.predict(PredictRequest(ModelSpec(name), {"x": X}), CTX)
                first[name] = weakref.ref(core.manager.resolve(ModelSpec(name)))
                add_version(tmp_path / name, 2, offset=3.0)
            deadline = time.monotonic() + 60
            while any(_version(dp, name) != 2 for name in names):
                assert time.monotonic() < deadline, "version 2 never became AVAILABLE"
                await asyncio.sleep(0.05)
            for name in names:
                out = await dp.predict(PredictRequest(ModelSpec(name), {"x": X}), CTX)
                np.testing.assert_allclose(out.outputs["y"], [3.5, 4.0, 5.5])
            await asyncio.sleep(0)  # the stale batch queue's close task runs
            gc.collect()
            assert {name: ref() for name, ref in first.items()} == {"half": None, "batched": None}

    asyncio.run(scenario())


def test_inputs_typed_against_a_version_run_on_that_version(tmp_path: Path) -> None:
    """The servable is resolved once: a version swap while the request decodes does not move the run."""
    add_version(tmp_path / "half", 1, offset=2.0)

    async def scenario() -> None:
        core = await start_core(settings_for(ModelConfig("half", str(tmp_path / "half"))))
        dp = core.dataplane
        try:

            async def decode_during_swap(info: SignatureInfo) -> Tensors:
                add_version(tmp_path / "half", 2, offset=3.0)
                await dp.reload_config(
                    [
                        ModelConfig(
                            "half",
                            str(tmp_path / "half"),
                            version_policy=VersionPolicy("specific", versions=(2,)),
                        )
                    ]
                )
                # server_core.cc: a reload waits only for newly named models; wait for version 2 here.
                await _until(lambda: _version(dp, "half") == 2)
                return {"x": X}

            response = await dp.predict(PredictRequest(ModelSpec("half"), decode=decode_during_swap), CTX)
            assert response.spec.version == 1
            np.testing.assert_allclose(response.outputs["y"], [2.5, 3.0, 4.5])
        finally:
            await core.shutdown()

    asyncio.run(scenario())


def test_serve_records_each_request_once_and_hides_exception_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """http_server.cc counts every REST request; prediction_service_impl.cc counts gRPC Predict, Classify
    and Regress only; latency for OK only. A bug becomes INTERNAL with a fixed text, traceback logged."""

    async def scenario() -> str:
        core = await start_core(settings_for())
        dp = core.dataplane
        try:

            async def ok(ctx: CallContext) -> str:
                return "done"

            async def bug(ctx: CallContext) -> str:
                raise ZeroDivisionError("secret internals")

            async def missing(ctx: CallContext) -> str:
                raise NotFound("Servable not found")

            assert await dp.serve(CallContext("GRPC", api="Predict", model="m"), ok) == "done"
            assert await dp.serve(CallContext("GRPC", api="GetModelMetadata", model="m"), ok) == "done"
            assert await dp.serve(CallContext("GRPC", api="MultiInference", model="m"), ok) == "done"
            assert await dp.serve(CallContext("REST", api="", model="m"), ok) == "done"
            with pytest.raises(NotFound):
                await dp.serve(CallContext("GRPC", api="Regress", model="m"), missing)
            with pytest.raises(Internal) as err:
                await dp.serve(CallContext("REST", api="predict", model="m"), bug)
            assert err.value.message == INTERNAL_TEXT and "secret" not in err.value.message
            return core.metrics.render().decode()
        finally:
            await core.shutdown()

    with caplog.at_level(logging.ERROR, logger="serving.dataplane"):
        text = asyncio.run(scenario())
    assert "ZeroDivisionError: secret internals" in caplog.text  # the traceback is in the log
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 2\n' in text
    assert ':tensorflow:serving:request_count{model_name="m",status="NOT_FOUND"} 1\n' in text
    assert ':tensorflow:serving:request_count{model_name="m",status="INTERNAL"} 1\n' in text
    assert ':request_latency_count{model_name="m",API="Predict",entrypoint="GRPC"} 1\n' in text
    assert ':request_latency_count{model_name="m",API="",entrypoint="REST"} 1\n' in text
    assert 'API="GetModelMetadata"' not in text and 'API="MultiInference"' not in text


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
            assert _version(dp, "other") == 2
            # The file poller reverts RPC changes to the file's content (upstream behaviour) ...
            await _eventually(lambda: _missing(dp, "other"))
            # ... keeps the old config when the file does not parse ...
            config_file.write_text("model_config_list { config { name: ")
            assert not await asyncio.to_thread(core.reload_config_file)
            assert _version(dp, "half") == 1
            write_config("half", "other")  # ... and applies a valid edit.
            await _eventually(lambda: not _missing(dp, "other"))
        finally:
            await core.shutdown()

    asyncio.run(scenario())


async def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `condition` (a state the manager reaches on its own threads) until true, else fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def _version(dp: object, name: str) -> int:
    return int(dp.metadata(ModelSpec(name), ["signature_def"]).spec.version)  # type: ignore[attr-defined]


def _missing(dp: object, name: str) -> bool:
    try:
        _version(dp, name)
    except NotFound:
        return True
    return False


async def _eventually(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)
