"""`serve(settings)`: run tfkit's tensorflow_model_server in one asyncio loop until SIGTERM / SIGINT.

Order, as upstream: load every initial model (ports stay closed until each is AVAILABLE; a failed load
prints `Failed to start server. Error: ...` and exits 1), then open gRPC on 0.0.0.0:--port and REST on
--rest_api_port (0 turns either off; REST must differ from gRPC). On SIGTERM / SIGINT both stop
accepting, in-flight requests get --tfkit_drain_seconds to finish, the core shuts down, exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from serving.settings import ServerSettings

log = logging.getLogger("tfkit.serve")
INT32_MAX = 2**31 - 1
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", INT32_MAX),
    ("grpc.max_receive_message_length", INT32_MAX),
]


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def serve(settings: ServerSettings) -> int:
    """Run the server in the foreground; returns the process exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(settings))


def _rest_socket(port: int) -> socket.socket:
    """Listening socket on all interfaces (IPv6 dual-stack when available, else IPv4)."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address: tuple[Any, ...] = ("::", port)
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = ("0.0.0.0", port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise OSError(f"Failed to bind REST port {port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


class _Uvicorn:
    """uvicorn.Server without its own signal handling (this module owns SIGTERM / SIGINT)."""

    def __init__(self, app: Any, sock: socket.socket, drain_seconds: float) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                yield

        config = uvicorn.Config(
            app,
            access_log=False,
            log_config=None,
            log_level="warning",
            http="auto",  # httptools when installed, else h11
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=max(1, round(drain_seconds)),
        )
        self.server = Server(config)
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]))

    async def started(self) -> None:
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("REST server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


def _log_available(core: Any) -> None:
    from serving.status import ServingError
    from serving.types import ModelSpec, State

    for config in core.manager.configs():
        try:
            statuses = core.dataplane.status(ModelSpec(config.name))
        except ServingError:
            continue
        versions = [s.version for s in statuses if s.state == State.AVAILABLE]
        log.info("Model %s: AVAILABLE versions %s", config.name, versions)


async def _start_grpc(core: Any, settings: ServerSettings) -> Any:
    import grpc

    from serving.grpc.health import add_health
    from serving.grpc.servicer import add_services

    server = grpc.aio.server(options=GRPC_OPTIONS)
    add_services(server, core.dataplane, settings)
    health = await add_health(server) if settings.enable_grpc_healthcheck_service else None
    try:
        bound = server.add_insecure_port(f"0.0.0.0:{settings.port}")
    except RuntimeError as err:  # recent grpcio raises instead of returning 0
        raise OSError(f"Failed to bind gRPC port {settings.port}: {err}") from None
    if bound == 0:
        raise OSError(f"Failed to bind gRPC port {settings.port}")
    await server.start()
    log.info("Running gRPC ModelServer at 0.0.0.0:%d ...", settings.port)
    return server, health


async def _serve(settings: ServerSettings) -> int:
    from serving.core import StartupError, start_core

    try:
        core = await start_core(settings)
    except StartupError as err:
        print(str(err), file=sys.stderr, flush=True)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    grpc_server: Any = None
    health: Any = None
    rest: _Uvicorn | None = None
    try:
        if settings.port:
            grpc_server, health = await _start_grpc(core, settings)
        if settings.rest_api_port and settings.rest_api_port == settings.port:
            log.error("--rest_api_port cannot be the same as --port; REST API not started")
        elif settings.rest_api_port:
            from serving.rest.app import create_app

            rest = _Uvicorn(
                create_app(core.dataplane, settings),
                _rest_socket(settings.rest_api_port),
                settings.drain_seconds,
            )
            await rest.started()
            log.info("Exporting HTTP/REST API at:0.0.0.0:%d ...", settings.rest_api_port)
    except OSError as err:
        print(f"Failed to start server. Error: UNAVAILABLE: {err}", file=sys.stderr, flush=True)
        await _shutdown(core, grpc_server, health, rest, 0.0)
        return 1
    _log_available(core)
    await stop.wait()
    log.info("Shutting down: draining in-flight requests (up to %.1fs)", settings.drain_seconds)
    await _shutdown(core, grpc_server, health, rest, settings.drain_seconds)
    log.info("Server stopped")
    return 0


async def _shutdown(core: Any, grpc_server: Any, health: Any, rest: _Uvicorn | None, grace: float) -> None:
    """Stop accepting on both ports, let in-flight requests finish within `grace`, stop the core."""
    stops: list[Coroutine[Any, Any, Any]] = []
    if health is not None:
        await health.enter_graceful_shutdown()
    if grpc_server is not None:
        stops.append(grpc_server.stop(grace))
    if rest is not None:
        stops.append(rest.stop())
    results = await asyncio.gather(*stops, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            log.warning("Error while stopping a transport: %r", result)
    await core.shutdown()
