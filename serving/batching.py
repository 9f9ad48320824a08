"""Server-side request batching, modelled on TF Serving's SharedBatchScheduler + BatchingSession.

One `BatchScheduler` per server owns the batch threads (`num_batch_threads`, shared by every model, as
upstream). One `Batcher` per (model, version, signature) owns a queue of batches:

- `await batcher.submit(inputs)` validates the request (upstream texts), then adds its rows to the open
  batch; a request that does not fit closes that batch and opens a new one. The queue holds at most
  `max_enqueued_batches` batches (the open one included; running batches do not count); a request that
  would need one more gets UNAVAILABLE `The batch scheduling queue to which this task was submitted is
  full` at once, so memory stays bounded.
- The oldest batch is scheduled when it is full, or once `batch_timeout_micros` have passed since its
  first request (0 = at once); it still accepts requests while it waits for a free batch thread.
- A scheduled batch is merged along axis 0 (padded with copies of the last task's first row up to the
  next `allowed_batch_sizes` entry), run through the injected blocking function on a batch thread, and
  its outputs are split back by row counts: each caller gets exactly its rows.
- With `pad_variable_length_inputs`, tensors of one name whose non-batch dimensions differ are padded
  (dimensions 1.., with the tensor's own first element) to the largest size in the batch before the
  merge, as batching_util.cc's AddPadding; without it such a task is refused with upstream's text.
- Metrics as batching_session.cc: each input's rows (`input_batch_size`), each task's queueing time
  when its batch is dequeued, the processed and padding sizes of each merged batch, each wrapped run.
- With `enable_large_batch_splitting`, a request up to `max_batch_size` rows is split over batches of
  `max_execution_batch_size` rows and its outputs are joined again.

All methods must be called on the event loop's thread; only the merged run happens on a batch thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from serving.batch_tensors import Tensors, merge_inputs, task_rows
from serving.metrics import Metrics
from serving.settings import BatchingSettings
from serving.status import FailedPrecondition, Internal, InvalidArgument, ServingError, Unavailable

RunFn = Callable[[Tensors], Mapping[str, np.ndarray]]

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


@dataclass(eq=False)
class _Task:
    inputs: Tensors
    rows: int
    future: asyncio.Future[Tensors]
    enqueued: float
    parts_left: int = 0
    results: list[tuple[int, Tensors]] = field(default_factory=list)


@dataclass(eq=False)
class _Part:
    task: _Task
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(eq=False)
class _Batch:
    created: float
    layout: dict[str, tuple[tuple[int, ...], np.dtype]]  # input -> (non-batch shape, dtype)
    parts: list[_Part] = field(default_factory=list)
    size: int = 0
    closed: bool = False
    full: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, part: _Part, capacity: int) -> None:
        self.parts.append(part)
        self.size += part.rows
        if self.size >= capacity:
            self.close()

    def close(self) -> None:
        self.closed = True
        self.full.set()


def _layout(inputs: Tensors) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    return {name: (tuple(value.shape[1:]), value.dtype) for name, value in inputs.items()}


class BatchScheduler:
    """The shared batch threads and their settings; create once per server, `shutdown()` at exit."""

    def __init__(self, settings: BatchingSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(
            max_workers=settings.num_batch_threads, thread_name_prefix=settings.thread_pool_name
        )
        self._slots: asyncio.Semaphore | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        """Free batch threads (created on first use, inside the running loop)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.num_batch_threads)
        return self._slots

    def batcher(self, model: str, run: RunFn, settings: BatchingSettings | None = None) -> Batcher:
        """A queue on the shared batch threads; `settings` overrides the queue options (per-model
        `batching_params.pbtxt`)."""
        return Batcher(self, model, run, settings)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class Batcher:
    """The batch queue of one (model, version, signature); `run` executes one merged batch (blocking)."""

    def __init__(
        self, scheduler: BatchScheduler, model: str, run: RunFn, settings: BatchingSettings | None = None
    ) -> None:
        self._scheduler = scheduler
        self._settings = settings or scheduler.settings
        self._metrics = scheduler.metrics
        self._model = model
        self._run = run
        self._batches: deque[_Batch] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = 0
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def capacity(self) -> int:
        """Rows per executed batch."""
        s = self._settings
        return s.max_execution_batch_size if s.enable_large_batch_splitting else s.max_batch_size

    @property
    def queued_batches(self) -> int:
        return len(self._batches)

    async def submit(self, inputs: Mapping[str, np.ndarray]) -> Tensors:
        """Run `inputs` as part of a batch; returns this request's rows of every output."""
        if self._closed:
            raise Unavailable(f"Batching queue of model {self._model} is shut down")
        tensors = {name: np.asarray(value) for name, value in inputs.items()}
        rows = task_rows(tensors)
        if rows > self._settings.max_batch_size:
            raise InvalidArgument(
                f"Task size {rows} is larger than maximum input batch size {self._settings.max_batch_size}"
            )
        if self._metrics is not None:
            for _ in tensors:
                self._metrics.observe_input_batch(rows)
        loop = asyncio.get_running_loop()
        task = _Task(tensors, rows, loop.create_future(), time.monotonic())
        self._enqueue(task)
        if self._dispatcher is None:
            self._dispatcher = loop.create_task(self._dispatch(), name=f"batcher-{self._model}")
        return await task.future

    def _enqueue(self, task: _Task) -> None:
        """Place the task's rows into the open batch and/or new batches (atomic: no await)."""
        capacity, layout = self.capacity, _layout(task.inputs)
        open_batch = self._batches[-1] if self._batches and not self._batches[-1].closed else None
        if open_batch is not None and open_batch.layout.keys() != layout.keys():
            open_batch.close()  # other input names: never merged together
            open_batch = None
        room = capacity - open_batch.size if open_batch is not None else 0
        joins = open_batch is not None and (task.rows <= room or self._settings.enable_large_batch_splitting)
        if joins and open_batch is not None and not self._settings.pad_variable_length_inputs:
            self._check_shapes(open_batch, layout)
        first = min(room, task.rows) if joins else 0
        new_batches = math.ceil((task.rows - first) / capacity) if task.rows > first else 0
        if task.rows == 0 and not joins:
            new_batches = 1
        if new_batches and len(self._batches) + new_batches > self._settings.max_enqueued_batches:
            raise Unavailable(QUEUE_FULL)
        now = time.monotonic()
        parts: list[tuple[_Batch, int, int]] = []
        if joins and open_batch is not None:
            parts.append((open_batch, 0, first))
        elif open_batch is not None:
            open_batch.close()
        start = first
        for _ in range(new_batches):
            batch = _Batch(created=now, layout=layout)
            self._batches.append(batch)
            stop = min(task.rows, start + capacity)
            parts.append((batch, start, stop))
            start = stop
        task.parts_left = len(parts)
        for batch, lo, hi in parts:
            batch.add(_Part(task, lo, hi), capacity)
        self._idle.clear()
        self._wakeup.set()

    @staticmethod
    def _check_shapes(batch: _Batch, layout: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
        for name, (shape, dtype) in layout.items():
            ref_shape, ref_dtype = batch.layout[name]
            if shape != ref_shape or dtype != ref_dtype:
                raise FailedPrecondition(
                    f"Tensors with name '{name}' from different tasks have different shapes and padding "
                    "is turned off. Set pad_variable_length_inputs to true, or ensure that all tensors "
                    "with the same name have equal dimensions starting with the first dim."
                )

    async def _dispatch(self) -> None:
        """Schedule the oldest batch when full or timed out and a batch thread is free; forever."""
        loop = asyncio.get_running_loop()
        timeout = self._settings.batch_timeout_seconds
        while True:
            if not self._batches:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._batches[0]
            wait = batch.created + timeout - time.monotonic()
            if not batch.closed and wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(batch.full.wait(), wait)
            await self._scheduler.slots.acquire()
            self._batches.popleft()
            batch.closed = True
            parts = [part for part in batch.parts if not part.task.future.done()]  # drop cancelled callers
            if not parts:
                self._scheduler.slots.release()
                self._mark_idle()
                continue
            self._running += 1
            try:
                self._start(loop, parts)
            except Exception as exc:  # never let the dispatcher die: fail this batch, keep serving
                self._fail(parts, exc)

    def _start(self, loop: asyncio.AbstractEventLoop, parts: list[_Part]) -> None:
        started = time.monotonic()
        if self._metrics is not None:
            for part in parts:
                self._metrics.observe_queue(started - part.task.enqueued)
        future = loop.run_in_executor(self._scheduler.executor, self._run_batch, parts)
        future.add_done_callback(functools.partial(self._finish, parts))

    def _fail(self, parts: list[_Part], exc: BaseException) -> None:
        self._scheduler.slots.release()
        self._running -= 1
        error = exc if isinstance(exc, ServingError) else Unavailable(f"Batch could not be scheduled: {exc}")
        for part in parts:
            if not part.task.future.done():
                part.task.future.set_exception(error)
        self._mark_idle()

    def _padded_size(self, rows: int) -> int:
        for allowed in self._settings.allowed_batch_sizes:
            if allowed >= rows:
                return allowed
        return rows

    def _run_batch(self, parts: list[_Part]) -> list[Tensors]:
        """On a batch thread: merge, run, split back per part (upstream Merge/SplitOutputTensors)."""
        rows = sum(part.rows for part in parts)
        total = self._padded_size(rows)
        merged = merge_inputs(
            [
                {name: value[part.start : part.stop] for name, value in part.task.inputs.items()}
                for part in parts
            ],
            total - rows,
            self._settings.pad_variable_length_inputs,
        )
        if self._metrics is not None:
            self._metrics.observe_batch(total, total - rows)
        outputs = self._run(merged)
        if self._metrics is not None:
            self._metrics.observe_wrapped_run()
        for value in outputs.values():
            if np.ndim(value) == 0:
                raise FailedPrecondition("Batched output tensor has 0 dimensions")
            if np.shape(value)[0] != total:
                raise FailedPrecondition(
                    "Batched output tensor's 0th dimension does not equal the sum of the 0th dimension "
                    "sizes of the input tensors"
                )
        bounds = list(itertools.accumulate(part.rows for part in parts))
        starts = [0, *bounds[:-1]]
        return [
            {name: np.asarray(value)[lo:hi] for name, value in outputs.items()}
            for lo, hi in zip(starts, bounds, strict=True)
        ]

    def _finish(self, parts: list[_Part], future: asyncio.Future[list[Tensors]]) -> None:
        """On the loop: hand each caller its rows (or the batch's error), free the batch thread."""
        self._scheduler.slots.release()
        self._running -= 1
        error = None if future.cancelled() else future.exception()
        if future.cancelled():
            error = Unavailable(f"Batching queue of model {self._model} is shut down")
        results = None if error is not None else future.result()
        for index, part in enumerate(parts):
            task = part.task
            if task.future.done():
                continue
            if error is not None or results is None:
                task.future.set_exception(
                    error if error is not None else Internal("batch produced no output")
                )
                continue
            task.results.append((part.start, results[index]))
            task.parts_left -= 1
            if task.parts_left == 0:
                task.future.set_result(_join(task.results))
        self._mark_idle()

    def _mark_idle(self) -> None:
        if not self._batches and self._running == 0:
            self._idle.set()

    async def close(self) -> None:
        """Stop accepting requests, let queued and running batches finish, stop the dispatcher."""
        self._closed = True
        for batch in self._batches:
            batch.close()
        self._wakeup.set()
        if self._dispatcher is not None:
            await self._idle.wait()
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None


def _join(results: list[tuple[int, Tensors]]) -> Tensors:
    """One task's outputs from its parts (one part unless large batch splitting split it)."""
    if len(results) == 1:
        return results[0][1]
    ordered = [outputs for _, outputs in sorted(results, key=lambda item: item[0])]
    return {name: np.concatenate([outputs[name] for outputs in ordered], axis=0) for name in ordered[0]}
