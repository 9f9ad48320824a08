"""pad_variable_length_inputs and allowed_batch_sizes padding, as batching/batching_util.cc and
batching/batching_session.cc do it (cases from batching_util_test.cc and batching_session_test.cc)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np
import pytest

from serving.batch_tensors import merge_inputs, pad_tensor
from serving.batching import BatchScheduler
from serving.settings import BatchingSettings
from serving.status import FailedPrecondition, InvalidArgument

GUARD = 30.0


def test_add_padding_grows_every_dimension_but_the_first() -> None:
    """batching_util_test.cc BatchingUtilTest.AddPadding: [10,20,30] to max [20,100,200] -> [10,100,200],
    for numeric, bool and string tensors."""
    for tensor in (
        np.zeros((10, 20, 30), np.float32),
        np.zeros((10, 20, 30), np.int64),
        np.zeros((10, 20, 30), bool),
        np.full((10, 20, 30), b"", dtype=object),
    ):
        assert pad_tensor(tensor, (20, 100, 200)).shape == (10, 100, 200)


def test_add_padding_rejects_rank_above_six() -> None:
    """batching_util_test.cc BatchingUtilTest.AddPaddingTensorWithUnsupportedRank."""
    with pytest.raises(InvalidArgument, match=r"^Only tensors with rank from 1 to 6 can be padded\.$"):
        pad_tensor(np.zeros((1,) * 7, np.float32), (1,) * 7)


def test_padding_value_is_the_tensors_first_element() -> None:
    """PadTensor pads with `input.flat<T>()(0)`."""
    padded = pad_tensor(np.array([[[1, 2], [3, 4]]], np.float32), (1, 3, 3))
    np.testing.assert_array_equal(padded, [[[1, 2, 1], [3, 4, 1], [1, 1, 1]]])


def test_empty_tensor_that_needs_padding_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"^Got empty tensor in batch of non-empty tensors\.$"):
        pad_tensor(np.zeros((0, 2), np.float32), (3, 4))


def test_merge_pads_to_the_largest_dimensions_and_adds_allowed_size_rows() -> None:
    """CalculateMaxDimSizes over the batch, then padding rows copy the last task's first row."""
    merged = merge_inputs(
        [{"x": np.ones((1, 2), np.float32)}, {"x": np.full((2, 3), 5, np.float32)}], 1, True
    )
    np.testing.assert_array_equal(merged["x"], [[1, 1, 1], [5, 5, 5], [5, 5, 5], [5, 5, 5]])


def test_batching_with_padding_runs_both_requests_in_one_batch() -> None:
    """batching_session_test.cc BatchingSessionTest.BatchingWithPadding: matrix half_plus_two, inputs
    [1,2,2] and [1,3,3] batched together; the first is padded with its first element to [1,3,3]."""
    seen: list[tuple[int, ...]] = []

    def half_plus_two(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(inputs["x"].shape)
        return {"y": inputs["x"] * 0.5 + 2}

    settings = BatchingSettings(
        max_batch_size=2, batch_timeout_micros=1_000_000, num_batch_threads=1, pad_variable_length_inputs=True
    )
    scheduler = BatchScheduler(settings)
    batcher = scheduler.batcher("matrix", half_plus_two)

    async def body() -> list[dict[str, np.ndarray]]:
        first = np.array([1, 2, 3, 4], np.float32).reshape(1, 2, 2)
        second = np.arange(5, 14, dtype=np.float32).reshape(1, 3, 3)
        return await asyncio.wait_for(
            asyncio.gather(batcher.submit({"x": first}), batcher.submit({"x": second})), GUARD
        )

    one, two = asyncio.run(body())
    scheduler.shutdown()
    assert seen == [(2, 3, 3)]
    np.testing.assert_allclose(one["y"].ravel(), [2.5, 3, 2.5, 3.5, 4, 2.5, 2.5, 2.5, 2.5])
    np.testing.assert_allclose(two["y"].ravel(), [4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5])


def test_unequal_shapes_without_padding_are_refused() -> None:
    """batching_session_test.cc BatchingSessionTest.UnequalTensorShapesWithPaddingTurnedOff (text)."""

    def identity(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": inputs["x"]}

    scheduler = BatchScheduler(
        BatchingSettings(max_batch_size=2, batch_timeout_micros=1_000_000, num_batch_threads=1)
    )
    batcher = scheduler.batcher("matrix", identity)

    async def body() -> list[object]:
        return await asyncio.wait_for(
            asyncio.gather(
                batcher.submit({"x": np.zeros((1, 2, 2), np.float32)}),
                batcher.submit({"x": np.zeros((1, 3, 3), np.float32)}),
                return_exceptions=True,
            ),
            GUARD,
        )

    ok, refused = asyncio.run(body())
    scheduler.shutdown()
    assert isinstance(ok, dict)
    assert isinstance(refused, FailedPrecondition)
    assert "padding is turned off. Set pad_variable_length_inputs to true" in refused.message
