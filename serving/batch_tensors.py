"""The tensor side of batching, as batching/batching_util.cc and batching_session.cc do it: the rows of a
task (ComputeTensorBatchSize), padding of variable-length inputs (AddPadding) and the merge of a batch's
task slices (MergeInputTensors). Pure numpy, no scheduling.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from serving.status import Internal, InvalidArgument

Tensors = dict[str, np.ndarray]


def task_rows(inputs: Mapping[str, np.ndarray]) -> int:
    """Rows of one request: the shared 0th dimension of its inputs (upstream batching_util checks)."""
    if not inputs:
        raise InvalidArgument("Batching Run() must have at least one input tensor")
    sizes = set()
    for value in inputs.values():
        if np.ndim(value) == 0:
            raise InvalidArgument("Batching Run() input tensors must have at least one dimension")
        sizes.add(int(np.shape(value)[0]))
    if len(sizes) != 1:
        raise InvalidArgument("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


def pad_tensor(tensor: np.ndarray, max_dims: tuple[int, ...]) -> np.ndarray:
    """batching_util.cc AddPadding: grow dimensions 1.. to `max_dims`, filled with the first element."""
    if tensor.ndim < 1 or tensor.ndim > 6:
        raise InvalidArgument("Only tensors with rank from 1 to 6 can be padded.")
    shape = (tensor.shape[0], *(max(d, m) for d, m in zip(tensor.shape[1:], max_dims[1:], strict=True)))
    if shape == tensor.shape:
        return tensor
    if tensor.size < 1:
        raise InvalidArgument("Got empty tensor in batch of non-empty tensors.")
    padded = np.full(shape, tensor.flat[0], dtype=tensor.dtype)
    padded[tuple(slice(0, d) for d in tensor.shape)] = tensor
    return padded


def merge_inputs(tasks: list[Tensors], padding_rows: int, pad_variable_length: bool) -> Tensors:
    """MergeInputTensors: each input's task slices (optionally padded to the batch's largest dimensions)
    concatenated along axis 0, plus `padding_rows` copies of the last task's first row."""
    merged: Tensors = {}
    for name in tasks[0]:
        pieces = [task[name] for task in tasks]
        if pad_variable_length:
            if len({piece.ndim for piece in pieces}) != 1:
                raise Internal("Tensor concat operation failed: ranks differ within the batch")
            max_dims = tuple(int(d) for d in np.max([piece.shape for piece in pieces], axis=0))
            pieces = [pad_tensor(piece, max_dims) for piece in pieces]
        source = next((piece for piece in reversed(pieces) if len(piece)), None)
        if padding_rows > 0 and source is not None:
            pieces.append(np.repeat(source[:1], padding_rows, axis=0))
        merged[name] = np.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]
    return merged
