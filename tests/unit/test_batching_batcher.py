"""serving.batching: merging, splitting back, bounded queue and upstream error texts (real threads)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
import pytest

from serving.batching import QUEUE_FULL, Batcher, BatchScheduler
from serving.metrics import Metrics
from serving.settings import BatchingSettings
from serving.status import FailedPrecondition, InvalidArgument, ServingError, Unavailable

Tensors = dict[str, np.ndarray]
GUARD = 30.0  # seconds: a hang fails the test instead of blocking the suite


class Recorder:
    """The blocking batch function: y = 2x + 1, id echoed; remembers every merged batch it saw."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.batches: list[Tensors] = []
        self.delay = delay
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> Tensors:
        if self.gate is not None:
            self.gate.wait(GUARD)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.batches.append(dict(inputs))
        return {"y": inputs["x"] * 2 + 1, "id": inputs["id"].copy()}

    @property
    def sizes(self) -> list[int]:
        return [len(batch["x"]) for batch in self.batches]


def run(body: Callable[[], Awaitable[Any]]) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(body(), GUARD)

    return asyncio.run(guarded())


def request(ident: int, rows: int) -> Tensors:
    x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) + ident * 1000
    return {"x": x, "id": np.full((rows,), ident, dtype=np.int64)}


def make(fn: Recorder, metrics: Metrics | None = None, **kw: Any) -> tuple[BatchScheduler, Batcher]:
    settings = BatchingSettings(**{"num_batch_threads": 2, **kw})
    scheduler = BatchScheduler(settings, metrics)
    return scheduler, scheduler.batcher("m", fn)


def test_concurrent_callers_each_get_exactly_their_rows() -> None:
    fn = Recorder(delay=0.002)
    scheduler, batcher = make(fn, max_batch_size=16, max_enqueued_batches=1000)
    rng = np.random.default_rng(0)
    rows = [int(r) for r in rng.integers(1, 6, size=300)]

    async def body() -> list[Tensors]:
        return await asyncio.gather(*(batcher.submit(request(i, n)) for i, n in enumerate(rows)))

    results = run(body)
    scheduler.shutdown()
    for i, (n, out) in enumerate(zip(rows, results, strict=True)):
        expected = request(i, n)
        np.testing.assert_array_equal(out["id"], expected["id"])
        np.testing.assert_array_equal(out["y"], expected["x"] * 2 + 1)
    assert sum(fn.sizes) == sum(rows)
    assert max(fn.sizes) <= 16
    assert max(fn.sizes) > 5, "concurrent requests were never merged"
    assert len(fn.batches) < len(rows)


def test_concurrent_callers_from_many_tasks_with_staggered_arrival() -> None:
    fn = Recorder(delay=0.001)
    scheduler, batcher = make(fn, max_batch_size=8, batch_timeout_micros=500, max_enqueued_batches=1000)

    async def client(ident: int) -> None:
        for k in range(10):
            n = 1 + (ident + k) % 3
            req = request(ident * 100 + k, n)
            out = await batcher.submit(req)
            np.testing.assert_array_equal(out["id"], req["id"])
            np.testing.assert_array_equal(out["y"], req["x"] * 2 + 1)
            await asyncio.sleep(0)

    async def body() -> None:
        await asyncio.gather(*(client(i) for i in range(24)))
        await batcher.close()

    run(body)
    scheduler.shutdown()
    assert max(fn.sizes) <= 8


def test_queue_overflow_is_unavailable_with_upstream_text_and_recovers() -> None:
    gate = threading.Event()
    fn = Recorder(gate=gate)
    scheduler, batcher = make(fn, max_batch_size=2, max_enqueued_batches=2, num_batch_threads=1)

    async def body() -> list[Any]:
        tasks = [asyncio.ensure_future(batcher.submit(request(i, 1))) for i in range(20)]
        await asyncio.sleep(0.05)  # let the first batch start (blocked on the gate) and the queue fill
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        after = await batcher.submit(request(99, 2))  # still serving after the overload
        return [*results, after]

    results = run(body)
    scheduler.shutdown()
    errors = [r for r in results if isinstance(r, BaseException)]
    served = [r for r in results if not isinstance(r, BaseException)]
    assert errors, "the bounded queue never overflowed"
    assert all(isinstance(e, Unavailable) and e.message == QUEUE_FULL for e in errors)
    assert e_text(errors[0]) == "The batch scheduling queue to which this task was submitted is full"
    # 1 running batch + at most 2 queued batches of 2 rows were accepted before the gate opened.
    assert len(served) - 1 <= 6
    np.testing.assert_array_equal(served[-1]["id"], [99, 99])


def e_text(error: BaseException) -> str:
    assert isinstance(error, ServingError)
    return error.message


def test_task_larger_than_max_batch_size_is_invalid_argument() -> None:
    scheduler, batcher = make(Recorder(), max_batch_size=4)
    with pytest.raises(InvalidArgument) as err:
        run(lambda: batcher.submit(request(1, 5)))
    scheduler.shutdown()
    assert err.value.message == "Task size 5 is larger than maximum input batch size 4"


@pytest.mark.parametrize(
    ("inputs", "text"),
    [
        ({}, "Batching Run() must have at least one input tensor"),
        (
            {"x": np.float32(1.0), "id": np.int64(1)},
            "Batching Run() input tensors must have at least one dimension",
        ),
        (
            {"x": np.zeros((2, 3), np.float32), "id": np.zeros((3,), np.int64)},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
    ],
)
def test_malformed_requests_get_upstream_invalid_argument(inputs: Tensors, text: str) -> None:
    scheduler, batcher = make(Recorder())
    with pytest.raises(InvalidArgument) as err:
        run(lambda: batcher.submit(inputs))
    scheduler.shutdown()
    assert err.value.message == text


def test_different_non_batch_shapes_in_one_batch_fail_only_the_odd_request() -> None:
    gate = threading.Event()
    fn = Recorder(gate=gate)
    scheduler, batcher = make(fn, max_batch_size=8, num_batch_threads=1)

    async def body() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit(request(0, 1)))  # occupies the only batch thread
        await asyncio.sleep(0.05)
        good = asyncio.ensure_future(batcher.submit(request(1, 1)))
        odd: Tensors = {"x": np.zeros((1, 4), np.float32), "id": np.ones((1,), np.int64)}
        bad = asyncio.ensure_future(batcher.submit(odd))
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(first, good, bad, return_exceptions=True)

    first, good, bad = run(body)
    scheduler.shutdown()
    np.testing.assert_array_equal(first["id"], [0])
    np.testing.assert_array_equal(good["id"], [1])
    assert isinstance(bad, FailedPrecondition)
    assert "Tensors with name 'x' from different tasks have different shapes and padding is turned off" in (
        bad.message
    )


def test_requests_within_the_timeout_share_one_batch() -> None:
    fn = Recorder()
    scheduler, batcher = make(fn, max_batch_size=64, batch_timeout_micros=1_000_000)

    async def body() -> tuple[Tensors, Tensors]:
        a = asyncio.ensure_future(batcher.submit(request(1, 2)))
        await asyncio.sleep(0.01)
        b = asyncio.ensure_future(batcher.submit(request(2, 3)))
        return await asyncio.gather(a, b)

    a, b = run(body)
    scheduler.shutdown()
    assert fn.sizes == [5]
    np.testing.assert_array_equal(a["id"], [1, 1])
    np.testing.assert_array_equal(b["id"], [2, 2, 2])


def test_full_batch_runs_without_waiting_for_the_timeout() -> None:
    fn = Recorder()
    scheduler, batcher = make(fn, max_batch_size=4, batch_timeout_micros=600_000_000)

    async def body() -> tuple[Tensors, Tensors]:
        return await asyncio.gather(batcher.submit(request(1, 2)), batcher.submit(request(2, 2)))

    run(body)  # would hang (and fail on GUARD) if the full batch waited for its 10-minute timeout
    scheduler.shutdown()
    assert fn.sizes == [4]


def test_zero_timeout_runs_a_lone_request_at_once() -> None:
    fn = Recorder()
    scheduler, batcher = make(fn, batch_timeout_micros=0)
    out = run(lambda: batcher.submit(request(7, 1)))
    scheduler.shutdown()
    np.testing.assert_array_equal(out["id"], [7])
    assert fn.sizes == [1]


def test_allowed_batch_sizes_pad_with_the_first_row() -> None:
    fn = Recorder()
    scheduler, batcher = make(fn, max_batch_size=8, allowed_batch_sizes=(4, 8))
    out = run(lambda: batcher.submit(request(3, 3)))
    scheduler.shutdown()
    assert fn.sizes == [4]
    np.testing.assert_array_equal(fn.batches[0]["x"][3], fn.batches[0]["x"][0])
    assert out["y"].shape == (3, 3)


def test_large_batch_splitting_splits_and_rejoins_one_request() -> None:
    fn = Recorder()
    scheduler, batcher = make(
        fn, max_batch_size=10, enable_large_batch_splitting=True, max_execution_batch_size=4
    )
    req = request(5, 10)
    out = run(lambda: batcher.submit(req))
    scheduler.shutdown()
    assert sorted(fn.sizes) == [2, 4, 4]
    np.testing.assert_array_equal(out["y"], req["x"] * 2 + 1)


def test_errors_of_the_batch_function_reach_every_caller_and_serving_continues() -> None:
    calls = {"n": 0}

    def flaky(inputs: Mapping[str, np.ndarray]) -> Tensors:
        calls["n"] += 1
        if calls["n"] == 1:
            raise InvalidArgument("Matrix size-incompatible")
        return {"y": np.asarray(inputs["x"])}

    scheduler = BatchScheduler(BatchingSettings(num_batch_threads=1))
    batcher = scheduler.batcher("m", flaky)

    async def body() -> list[Any]:
        first = await asyncio.gather(
            *(batcher.submit(request(i, 1)) for i in range(3)), return_exceptions=True
        )
        return [*first, await batcher.submit(request(9, 1))]

    results = run(body)
    scheduler.shutdown()
    assert all(isinstance(r, InvalidArgument) for r in results[:3])
    assert results[3]["y"].shape == (1, 3)


def test_output_with_wrong_batch_dimension_is_failed_precondition() -> None:
    scheduler = BatchScheduler(BatchingSettings(num_batch_threads=1))
    batcher = scheduler.batcher("m", lambda inputs: {"y": np.zeros((1, 1), np.float32)})
    with pytest.raises(FailedPrecondition) as err:
        run(lambda: batcher.submit(request(1, 2)))
    scheduler.shutdown()
    assert "0th dimension does not equal the sum" in err.value.message


def test_cancelled_caller_does_not_disturb_the_others() -> None:
    gate = threading.Event()
    fn = Recorder(gate=gate)
    scheduler, batcher = make(fn, num_batch_threads=1)

    async def body() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit(request(0, 1)))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batcher.submit(request(1, 1)))
        kept = asyncio.ensure_future(batcher.submit(request(2, 1)))
        await asyncio.sleep(0)
        gone.cancel()
        gate.set()
        return await asyncio.gather(first, kept)

    first, kept = run(body)
    np.testing.assert_array_equal(first["id"], [0])
    scheduler.shutdown()
    np.testing.assert_array_equal(kept["id"], [2])
    assert sum(fn.sizes) == 2


def test_close_drains_queued_work_then_refuses() -> None:
    fn = Recorder(delay=0.01)
    scheduler, batcher = make(fn, max_batch_size=2, num_batch_threads=1)

    async def body() -> tuple[list[Tensors], BaseException | None]:
        tasks = [asyncio.ensure_future(batcher.submit(request(i, 1))) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.close()
        done = [t.result() for t in tasks]
        try:
            await batcher.submit(request(9, 1))
        except Unavailable as exc:
            return done, exc
        return done, None

    done, refused = run(body)
    scheduler.shutdown()
    assert [int(d["id"][0]) for d in done] == list(range(6))
    assert refused is not None


def test_metrics_record_batch_and_queue() -> None:
    metrics = Metrics()
    fn = Recorder()
    scheduler, batcher = make(fn, metrics, max_batch_size=8)

    async def body() -> list[Tensors]:
        return await asyncio.gather(*(batcher.submit(request(i, 2)) for i in range(4)))

    run(body)
    scheduler.shutdown()
    text = metrics.render().decode()
    # batching_session.cc / batching_util.h: each input tensor's rows, each task's queueing time, the
    # merged batch's size and padding (labelled with the execution batch size), each wrapped run.
    assert ":tensorflow:serving:batching_session:input_batch_size_count{} 8\n" in text  # 4 tasks x 2 inputs
    assert ":tensorflow:serving:batching_session:input_batch_size_sum{} 16\n" in text
    pool = '{thread_pool_name="model_server_batch_threads"}'
    assert ":tensorflow:serving:batching_session:queuing_latency_count" + pool + " 4\n" in text
    assert ":tensorflow:serving:batching_session:processed_batch_size_sum{} 8\n" in text
    assert ':tensorflow:serving:batching_session:padding_size_sum{execution_batch_size="8"} 0\n' in text
    assert ":tensorflow:serving:batching_session:wrapped_run_count{} 1\n" in text


def test_requests_with_other_input_names_never_share_a_batch() -> None:
    seen: list[tuple[str, ...]] = []

    def fn(inputs: Mapping[str, np.ndarray]) -> Tensors:
        seen.append(tuple(sorted(inputs)))
        first = next(iter(inputs.values()))
        return {"rows": np.arange(len(first))}

    scheduler = BatchScheduler(BatchingSettings(num_batch_threads=1, max_batch_size=8))
    batcher = scheduler.batcher("m", fn)

    async def body() -> tuple[Tensors, Tensors, Tensors]:
        return await asyncio.gather(
            batcher.submit({"a": np.zeros((2, 1))}),
            batcher.submit({"b": np.zeros((3, 1))}),
            batcher.submit({"a": np.zeros((1, 1))}),
        )

    results = run(body)
    scheduler.shutdown()
    assert [len(r["rows"]) for r in results] == [2, 3, 1]
    assert all(len(names) == 1 for names in seen)  # never a merge of "a" and "b"


def test_zero_row_request_gets_zero_rows_back() -> None:
    fn = Recorder()
    scheduler, batcher = make(fn)

    async def body() -> tuple[Tensors, Tensors]:
        return await asyncio.gather(batcher.submit(request(1, 0)), batcher.submit(request(2, 2)))

    empty, two = run(body)
    scheduler.shutdown()
    assert empty["y"].shape == (0, 3) and two["y"].shape == (2, 3)


def test_split_request_needing_more_batches_than_the_queue_holds_is_rejected() -> None:
    fn = Recorder()
    scheduler, batcher = make(
        fn,
        max_batch_size=12,
        enable_large_batch_splitting=True,
        max_execution_batch_size=4,
        max_enqueued_batches=2,
    )
    with pytest.raises(Unavailable, match=QUEUE_FULL):
        run(lambda: batcher.submit(request(1, 12)))  # needs 3 batches of 4 rows
    out = run(lambda: batcher.submit(request(2, 8)))  # 2 batches fit
    scheduler.shutdown()
    assert out["id"].tolist() == [2] * 8
