"""`make demo`: serve the browser demo on localhost next to a `tfkit serve` with CORS on.

    python -m web.serve_demo --artifacts DIR [--port 8080] [--rest-port 0] [--server-url URL | --no-server]

Starts `tfkit serve` over DIR/models (the kit's serving flags plus --rest_api_enable_cors_support=true),
waits until both models are AVAILABLE, then serves the page, TF.js from node_modules and DIR/tfjs, and
prints the URL. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.launcher import free_port, running_server
from web.demo_app import SiteContent, check_content, create_app, sample_rows

MODELS = ("linear", "ctr")


@dataclass(frozen=True)
class DemoSettings:
    """Every knob of the demo, typed; built once in `main` and passed down."""

    artifacts: Path
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int = 0  # 0: pick a free port
    rest_port: int = 0
    server_url: str = ""  # use this running server instead of starting one
    start_server: bool = True
    samples: int = 8
    server_timeout: float = 180.0


def parse_settings(argv: Sequence[str] | None = None) -> DemoSettings:
    parser = argparse.ArgumentParser(prog="python -m web.serve_demo", description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", type=Path, required=True, help="directory written by `make export`")
    parser.add_argument("--host", default="127.0.0.1", help="page server address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="page server port (default 8080)")
    parser.add_argument("--rest-port", type=int, default=0, help="tfkit serve REST port (default: free)")
    parser.add_argument("--grpc-port", type=int, default=0, help="tfkit serve gRPC port (default: free)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--server-url", default="", help="compare with this running server (CORS on)")
    group.add_argument("--no-server", action="store_true", help="browser-only: start no server")
    parser.add_argument("--samples", type=int, default=8, help="sample rows offered by the page")
    parser.add_argument("--server-timeout", type=float, default=180.0, help="seconds to wait for tfkit serve")
    args = parser.parse_args(argv)
    for name in ("port", "rest_port", "grpc_port"):
        if not 0 <= getattr(args, name) <= 65535:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 65535], got {getattr(args, name)}")
    if args.samples < 0:
        parser.error(f"--samples must be >= 0, got {args.samples}")
    return DemoSettings(
        artifacts=args.artifacts.resolve(),
        host=args.host,
        port=args.port,
        grpc_port=args.grpc_port,
        rest_port=args.rest_port,
        server_url=args.server_url.rstrip("/"),
        start_server=not (args.no_server or args.server_url),
        samples=args.samples,
        server_timeout=args.server_timeout,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one. Clear error when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({err.strerror}): choose another port") from err
    sock.listen(128)
    return sock


def tfkit_serve_flags(settings: DemoSettings) -> list[str]:
    """The kit's serving flags with CORS on and /models mapped onto the artifacts."""
    return [
        "--model_config_file=serving/models.config",
        "--monitoring_config_file=serving/monitoring.config",
        "--enable_grpc_healthcheck_service=true",
        "--rest_api_enable_cors_support=true",
        f"--tfkit_path_map=/models={settings.artifacts / 'models'}",
    ]


@contextlib.contextmanager
def tfkit_server(settings: DemoSettings) -> Iterator[str]:
    """Run `tfkit serve` (CORS on) for the demo's lifetime; yield its REST URL once both models load."""
    ports = (settings.grpc_port or free_port(), settings.rest_port or free_port())
    print(f"starting tfkit serve (REST http://127.0.0.1:{ports[1]}, gRPC :{ports[0]}) ...", flush=True)
    with running_server(tfkit_serve_flags(settings), MODELS, settings.server_timeout, ports=ports) as server:
        print(f"tfkit serve log: {server.log_path}", flush=True)
        yield server.rest_url


def run_page_server(settings: DemoSettings, content: SiteContent) -> None:
    import uvicorn

    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    server = f"TF Serving REST {content.server_url}" if content.server_url else "no server: browser only"
    print(f"demo: http://{settings.host}:{port}/   ({server}; Ctrl-C stops)", flush=True)
    config = uvicorn.Config(create_app(content), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    # SIGTERM like Ctrl-C: unwind so the `tfkit serve` child is stopped too (uvicorn re-raises it on exit).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        check_content(SiteContent(artifacts=settings.artifacts))
        samples = sample_rows(settings.artifacts, settings.samples) if settings.samples else {}
        with contextlib.ExitStack() as stack:
            server_url = settings.server_url
            if settings.start_server:
                server_url = stack.enter_context(tfkit_server(settings))
            run_page_server(settings, SiteContent(settings.artifacts, server_url, samples))
    except (OSError, RuntimeError, TimeoutError, ValueError) as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
