"""Transport floors for the serving benchmark: the same server stacks with no model behind them.

`python -m bench.floor rest PORT` serves a bare ASGI app under uvicorn (httptools, uvloop: the stack
`tfkit serve` uses) that answers every request with a fixed JSON body; `python -m bench.floor grpc PORT`
serves a bare grpc.aio server whose one unary method echoes its request bytes. Measured with the same
load tools and payloads as `tfkit serve`, their p50 is the floor no adapter code on that stack can go
below; `bench.serving` reports them next to the kit's overhead.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

REPLY = b'{"predictions": [[0.5]]}'


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Bare ASGI: drain the body, answer 200 with a fixed JSON document."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(REPLY))],
        }
    )
    await send({"type": "http.response.body", "body": REPLY})


def serve_rest(port: int) -> None:
    import uvicorn

    uvicorn.run(echo_app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
                http="httptools", loop="uvloop", lifespan="off")  # fmt: skip


async def _serve_grpc(port: int) -> None:
    import grpc

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {"Predict": grpc.unary_unary_rpc_method_handler(echo)},
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def serve_grpc(port: int) -> None:
    import uvloop

    uvloop.run(_serve_grpc(port))


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"floor server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"floor server on port {port} did not listen within {timeout}s")


@contextlib.contextmanager
def floor_servers() -> Iterator[tuple[int, int]]:
    """(REST port, gRPC port) of the bare echo servers, each in its own process."""
    from serving.launcher import REPO, free_port

    ports = (free_port(), free_port())
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench.floor", kind, str(port)], cwd=REPO)
        for kind, port in zip(("rest", "grpc"), ports, strict=True)
    ]
    try:
        for proc, port in zip(procs, ports, strict=True):
            _wait_listening(port, proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    kind, port_text = sys.argv[1], sys.argv[2]
    (serve_rest if kind == "rest" else serve_grpc)(int(port_text))
