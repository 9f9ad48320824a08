"""Contract-suite fixtures: the two endpoints (see targets.py), clients on them, in-process references."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.openapi_check import problems as openapi_problems
from tests.contract.reference import Reference
from tests.contract.runner import Case
from tests.contract.targets import (
    TFLITE_FLAG,
    Endpoint,
    build_pair_models,
    docker_endpoint,
    external_endpoint,
    pair_config,
    tflite_mode,
    tflite_not_applicable,
)
from tests.support.server import LiveServer, running_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """TFLite mode: skip the contract cases TFLite cannot serve, each with its reason (targets.py)."""
    if not tflite_mode():
        return
    for item in items:
        case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
        reason = tflite_not_applicable(case.spec) if isinstance(case, Case) else None
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@contextlib.contextmanager
def _main_server(request: pytest.FixtureRequest, artifacts: Path) -> Iterator[LiveServer]:
    """The shared live server, or in TFLite mode one of its own preferring model.tflite."""
    if not tflite_mode():
        yield request.getfixturevalue("live_server")
        return
    from tests.conftest import serve_flags

    with running_server(serve_flags(artifacts, TFLITE_FLAG), wait_models=["linear", "ctr"]) as server:
        yield server


@pytest.fixture(scope="session")
def endpoints(
    request: pytest.FixtureRequest, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Endpoint]]:
    """{"main": ..., "extra": ...} for the target chosen by the environment (targets.py)."""
    external = external_endpoint()
    if external is not None:
        yield {"main": external, "extra": external}
        return
    if os.environ.get("TFSERVING_TARGET") == "docker":
        with docker_endpoint(artifacts, tmp_path_factory.mktemp("docker")) as endpoint:
            yield {"main": endpoint, "extra": endpoint}
        return
    work = build_pair_models(artifacts, tmp_path_factory.mktemp("pair"))
    (work / "pair.config").write_text(pair_config("/models"))
    flags = [
        f"--model_config_file={work / 'pair.config'}",
        f"--tfkit_path_map=/models={work}",
        "--enable_batching=true",
        "--batching_parameters_file=serving/batching.config",
        "--allow_version_labels_for_unavailable_models=true",  # labels at startup (server_core.cc)
        *([TFLITE_FLAG] if tflite_mode() else []),
    ]
    with _main_server(request, artifacts) as live, running_server(flags, wait_models=["pair"]) as extra:
        for version in (1, 2):  # both labelled versions, not only the first one to load
            extra.wait_for("pair", version=version)
        yield {
            "main": Endpoint(live.rest_url, live.grpc_target, "tfkit"),
            "extra": Endpoint(extra.rest_url, extra.grpc_target, "tfkit"),
        }


@pytest.fixture(scope="session")
def clients_by_name(endpoints: dict[str, Endpoint]) -> Iterator[dict[tuple[str, str], Any]]:
    """(server, transport) -> client; transports: rest (auto format), rest-columnar, grpc."""
    from clients.grpc import GrpcClient
    from clients.rest import RestClient

    made: dict[tuple[str, str], Any] = {}
    for server, endpoint in endpoints.items():
        made[(server, "rest")] = RestClient(endpoint.rest_url, timeout=60)
        made[(server, "rest-columnar")] = RestClient(endpoint.rest_url, timeout=60, request_format="columnar")
        made[(server, "grpc")] = GrpcClient(endpoint.grpc_target, timeout=60)
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(scope="session")
def reference(artifacts: Path) -> Reference:
    return Reference(artifacts)


@pytest.fixture(scope="package", autouse=True)
def rest_responses() -> Iterator[list[tuple[int, bytes]]]:
    """Every REST response the suite receives (kit clients and raw requests alike) is checked against
    serving/rest/openapi.json as it arrives (a non-conforming one fails the test that got it) and logged
    as (status, body), so a case can tell a server's answer from its client's own refusal."""
    import requests.adapters

    seen: list[tuple[int, bytes]] = []
    original = requests.adapters.HTTPAdapter.send

    def send(self: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, request, *args, **kwargs)
        found = openapi_problems(
            str(request.method),
            str(request.url),
            response.status_code,
            response.headers.get("Content-Type", ""),
            response.content,
        )
        seen.append((response.status_code, response.content))
        assert not found, "response does not match serving/rest/openapi.json:\n" + "\n".join(found)
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.adapters.HTTPAdapter, "send", send)
        yield seen
