"""`--tfkit_workers=N` (kit extension): N full server processes sharing the gRPC and REST ports.

One Python process serves everything by default, and its GIL caps it at about one core. With N > 1,
`tfkit serve` becomes a supervisor that starts N worker processes (multiprocessing "spawn": each one a
fresh interpreter running the ordinary server with the same settings). Every worker loads every model
itself and opens the ports with SO_REUSEPORT once its models are AVAILABLE, so the kernel spreads new
connections over the workers that are ready (a connection stays on its worker).

What is per worker, and how the workers stay coherent:
- Models: each worker loads the same config from the same paths and polls the file system on its own
  (--file_system_poll_wait_seconds), so versions converge within one poll period. Memory: each worker
  holds its own TensorFlow runtime and copy of every model (the benchmark states the measured RSS).
- Reloads: `--model_config_file` polling runs in every worker. A gRPC HandleReloadConfigRequest reaches one
  worker through the shared port; that worker applies it, then forwards it to every sibling over the
  siblings' private UNIX sockets (in a 0700 directory of the supervisor) and answers OK only when all of
  them applied it (else the first sibling's error). Forwarded calls carry `FANOUT_HEADER` and are not
  forwarded again.
- Metrics (/monitoring/prometheus/metrics), batch queues and the request log are per worker: a scrape
  shows the worker its connection landed on.
- Lifecycle: SIGTERM / SIGINT to the supervisor is passed to every worker (each drains as usual); the
  supervisor exits 0 once all stopped. A worker that exits on its own (e.g. a failed initial load, 255)
  stops the others and its exit code becomes the supervisor's.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from typing import Any

from serving.settings import ServerSettings, WorkerSlot

log = logging.getLogger("tfkit.serve")
FANOUT_HEADER = "tfkit-worker-fanout"
FANOUT_TIMEOUT_S = 600.0


def _worker_main(settings: ServerSettings) -> None:
    from serving.server import serve

    raise SystemExit(serve(settings))


def supervise(settings: ServerSettings) -> int:
    """Start `settings.tfkit_workers` server processes and wait for them; returns the exit code."""
    count = settings.tfkit_workers
    control_dir = tempfile.mkdtemp(prefix="tfkit-workers-")
    sockets = tuple(os.path.join(control_dir, f"worker-{i}.sock") for i in range(count))
    context = multiprocessing.get_context("spawn")
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGTERM)

    procs: list[Any] = []
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(count):
            slot = WorkerSlot(index=index, control_sockets=sockets)
            proc = context.Process(
                target=_worker_main,
                args=(dataclasses.replace(settings, worker=slot),),
                name=f"tfkit-worker-{index}",
            )
            proc.start()
            procs.append(proc)
        log.info("Started %d workers sharing the ports: pids %s", count, [p.pid for p in procs])
        code = _wait(procs, lambda: stopping)
        if not stopping:
            request_stop(signal.SIGTERM, None)
        for proc in procs:
            proc.join()
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(control_dir, ignore_errors=True)


def _wait(procs: list[Any], stopping: Any) -> int:
    """Until every worker exited (after a stop) or one exited on its own; that worker's exit code."""
    while True:
        for proc in procs:
            if proc.exitcode is not None and not stopping():
                log.error("Worker %s exited with %s; stopping the others", proc.name, proc.exitcode)
                return int(proc.exitcode)
        if stopping() and all(p.exitcode is not None for p in procs):
            return max((int(p.exitcode) for p in procs if p.exitcode and p.exitcode > 0), default=0)
        time.sleep(0.1)


async def forward_reload(slot: WorkerSlot, request: Any) -> tuple[int, str]:
    """Send a ReloadConfigRequest to every sibling; (0, "") or the first failure's (code, message)."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc

    for index, path in enumerate(slot.control_sockets):
        if index == slot.index:
            continue
        async with grpc.aio.insecure_channel(f"unix:{path}") as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            try:
                response = await stub.HandleReloadConfigRequest(
                    request, metadata=((FANOUT_HEADER, "1"),), timeout=FANOUT_TIMEOUT_S
                )
            except grpc.aio.AioRpcError as err:
                return err.code().value[0], f"worker {index}: {err.details()}"
            if response.status.error_code:
                return response.status.error_code, f"worker {index}: {response.status.error_message}"
    return 0, ""
