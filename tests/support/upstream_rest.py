"""A live `tfkit serve` set up the way upstream's `http_rest_api_handler_test.cc` sets up its ServerCore.

`HttpRestApiHandlerTest::CreateServerCore` serves `saved_model_half_plus_two_2_versions` with a
`specific { versions: 123 }` policy, waits until it is available, then calls `ReloadConfig` with the
same config plus the label `Version_Label -> 123`. `handler_server(root)` does the same against the
kit's own half_plus_two models (tests/support/half_plus_two.py): a config file without labels at
startup, then the labelled config through gRPC `HandleReloadConfigRequest` (ServerCore::ReloadConfig).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.half_plus_two import TWO_VERSIONS, VERSION, write_testdata
from tests.support.server import LiveServer, running_server

MODEL = TWO_VERSIONS
LABEL = "Version_Label"
MISSING_LABEL = "Version_Nonexistent"


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def model_config(root: Path, labels: dict[str, int] | None = None) -> str:
    """The upstream test's ModelServerConfig as text (models.config syntax)."""
    label_lines = "".join(
        f"    version_labels {{ key: '{key}' value: {value} }}\n" for key, value in (labels or {}).items()
    )
    return (
        "model_config_list {\n  config {\n"
        f"    name: '{MODEL}'\n"
        f"    base_path: '{root / MODEL}'\n"
        "    model_platform: 'tensorflow'\n"
        f"    model_version_policy {{ specific {{ versions: {VERSION} }} }}\n"
        f"{label_lines}  }}\n}}\n"
    )


def reload_with_labels(server: LiveServer, root: Path, labels: dict[str, int]) -> None:
    """ServerCore::ReloadConfig with `labels` added, through gRPC HandleReloadConfigRequest."""
    import grpc
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(model_config(root, labels), request.config)
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            request, timeout=120
        )
    if response.status.error_code != 0:
        raise RuntimeError(f"HandleReloadConfigRequest failed: {response.status}")


@contextlib.contextmanager
def handler_server(root: Path) -> Iterator[LiveServer]:
    """Write the models under `root`, serve them as upstream's handler test does, label version 123."""
    write_testdata(root)
    config = root / "models.config"
    config.write_text(model_config(root))
    with running_server([f"--model_config_file={config}"], wait_models=[MODEL]) as server:
        server.wait_for(MODEL, version=VERSION)
        reload_with_labels(server, root, {LABEL: VERSION})
        yield server


def call(server: LiveServer, method: str, path: str, body: str | bytes = b"") -> Reply:
    """One raw HTTP request (path sent as given, never normalised) -> status, content type, body."""
    data = body.encode() if isinstance(body, str) else body
    with requests.Session() as session:
        prepared = requests.Request(method, server.rest_url + "/", data=data or None).prepare()
        prepared.url = server.rest_url + path
        r = session.send(prepared, timeout=60)
    return Reply(r.status_code, r.headers.get("Content-Type", ""), r.content)
