"""`serve(settings)`: run tfkit's tensorflow_model_server in one asyncio loop until SIGTERM / SIGINT.

Order, as upstream (server.cc BuildAndStart): load the initial models (ports stay closed until each
model's first version settles; a failed load prints `Failed to start server. Error: ...` and exits 255,
main.cc's -1), then open gRPC on 0.0.0.0:--port and/or the UNIX socket --grpc_socket_path (TLS with
--ssl_config_file), then REST on --rest_api_port (0 = off; the same port as gRPC, or a port that cannot
be opened, is logged and the server runs without REST, as upstream). On SIGTERM / SIGINT both stop
accepting, in-flight requests get --tfkit_drain_seconds to finish, the core shuts down, exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from serving import events
from serving.settings import ServerSettings

log = logging.getLogger("tfkit.serve")
INT32_MAX = 2**31 - 1
STARTUP_FAILURE = 255  # main.cc returns -1 after "Failed to start server. Error: ..."
GRPC_OPTIONS: list[tuple[str, int | str]] = [
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
    events.configure(settings.tfkit_access_log)
    if settings.no_effect_flags:
        log.warning(
            "Accepted with no effect in tfkit serve (GPU/TPU/XLA/ALTS/profiler/C++ internals): %s",
            " ".join(f"--{name}" for name in settings.no_effect_flags),
        )
    if settings.tfkit_workers > 1 and settings.worker is None:
        from serving.workers import supervise

        return supervise(settings)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(settings))


def _rest_socket(port: int, shared: bool = False) -> socket.socket:
    """Listening socket on all interfaces (IPv6 dual-stack when available, else IPv4); `shared` sets
    SO_REUSEPORT so that the --tfkit_workers processes all accept on it."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address: tuple[Any, ...] = ("::", port)
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = ("0.0.0.0", port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
            proxy_headers=False,  # upstream ignores X-Forwarded-*; the middleware costs per request
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


def grpc_options(settings: ServerSettings) -> list[tuple[str, int | str]]:
    """--grpc_channel_arguments, then the 2 GiB message limits, which upstream's SetMaxMessageSize
    applies over any channel argument of the same name."""
    limits = dict(GRPC_OPTIONS)
    for key, _ in settings.grpc_channel_arguments:
        if key in limits:
            log.warning(
                "--grpc_channel_arguments: %s is overridden by the server's 2 GiB limit, as upstream", key
            )
    return [(k, v) for k, v in settings.grpc_channel_arguments if k not in limits] + list(limits.items())


def _credentials(settings: ServerSettings) -> Any:
    """server.cc BuildServerCredentials: SSL from --ssl_config_file, else insecure (None)."""
    import grpc

    ssl = settings.ssl
    if ssl is None:
        log.info("Using InsecureServerCredentials")
        return None
    log.info("Using SSL credentials")
    roots = ssl.custom_ca or None
    if roots is None and ssl.client_verify:  # upstream falls back to gRPC's default root certificates
        import ssl as pyssl
        from pathlib import Path

        cafile = pyssl.get_default_verify_paths().cafile
        roots = Path(cafile).read_text() if cafile and Path(cafile).is_file() else None
    return grpc.ssl_server_credentials(
        [(ssl.server_key.encode(), ssl.server_cert.encode())],
        root_certificates=roots.encode() if roots else None,
        require_client_auth=ssl.client_verify,
    )


def _listen(server: Any, address: str, credentials: Any) -> None:
    try:
        bound = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except (RuntimeError, ValueError) as err:  # recent grpcio raises instead of returning 0
        log.error("Failed to listen on %s: %s", address, err)
        bound = 0
    if bound == 0:
        raise OSError("Failed to BuildAndStart gRPC server")


async def _start_grpc(core: Any, settings: ServerSettings) -> Any:
    import grpc

    from serving.grpc.health import add_health
    from serving.grpc.servicer import add_services

    limit = settings.grpc_max_threads or None
    server = grpc.aio.server(options=grpc_options(settings), maximum_concurrent_rpcs=limit)
    add_services(server, core.dataplane, settings)
    health = await add_health(server) if settings.enable_grpc_healthcheck_service else None
    credentials = _credentials(settings)
    if settings.port:
        _listen(server, f"0.0.0.0:{settings.port}", credentials)
    worker = settings.worker
    if settings.grpc_socket_path and (worker is None or worker.index == 0):  # a UNIX path is not shared
        _listen(server, f"unix:{settings.grpc_socket_path}", credentials)
    if worker is not None:  # the siblings forward reloads here (serving.workers)
        _listen(server, f"unix:{worker.control_sockets[worker.index]}", None)
    await server.start()
    if settings.port:
        log.info("Running gRPC ModelServer at 0.0.0.0:%d ...", settings.port)
    if settings.grpc_socket_path:
        log.info("Running gRPC ModelServer at UNIX socket %s ...", settings.grpc_socket_path)
    return server, health


async def _start_rest(core: Any, settings: ServerSettings) -> _Uvicorn | None:
    """server.cc: REST only on a non-zero port that differs from --port; a port that cannot be opened is
    logged and the server runs on without REST, as upstream."""
    port = settings.rest_api_port
    if not port:
        return None
    if port == settings.port:
        log.error(
            "server_options.http_port cannot be same as grpc_port. Please use a different port for "
            "HTTP/REST API. Skipped exporting HTTP/REST API."
        )
        return None
    from serving.rest.app import create_app

    try:
        sock = _rest_socket(port, shared=settings.worker is not None)
        rest = _Uvicorn(create_app(core.dataplane, settings), sock, settings.drain_seconds)
        await rest.started()
    except OSError as err:
        log.error("Failed to start HTTP Server at localhost:%d (%s)", port, err)
        return None
    log.info("Exporting HTTP/REST API at:localhost:%d ...", port)
    return rest


def _freeze_heap() -> None:
    """Move TensorFlow's ~415k module objects out of the garbage collector's view, before any model is
    loaded. A full collection over them stalls the process for 0.2-0.7 s on this kind of machine, and under
    load one ran every few seconds: that was the 250 ms p99 of issue 12. The models stay collectable (a
    frozen version could never be freed once unloaded), and the collection the manager runs when it
    unloads a version (serving.manager) passes over the few unfrozen objects in 1-2 ms."""
    importlib.import_module("tensorflow")  # the bulk of the heap; the gRPC adapter's protos import it anyway
    gc.collect()
    gc.freeze()


async def _serve(settings: ServerSettings) -> int:
    from serving.core import StartupError, start_core

    _freeze_heap()
    try:
        core = await start_core(settings)
    except StartupError as err:
        print(str(err), file=sys.stderr, flush=True)
        return STARTUP_FAILURE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    grpc_server: Any = None
    health: Any = None
    rest: _Uvicorn | None = None
    try:
        grpc_server, health = await _start_grpc(core, settings)
    except OSError as err:
        print(f"Failed to start server. Error: INVALID_ARGUMENT: {err}", file=sys.stderr, flush=True)
        await _shutdown(core, grpc_server, health, rest, 0.0)
        return STARTUP_FAILURE
    rest = await _start_rest(core, settings)
    _log_available(core)
    await stop.wait()
    log.info("Shutting down: draining in-flight requests (up to %.1fs)", settings.drain_seconds)
    events.drain(settings.drain_seconds)
    await _shutdown(core, grpc_server, health, rest, settings.drain_seconds)
    log.info("Server stopped")
    events.stopped()
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
