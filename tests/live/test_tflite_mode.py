"""`make export`'s `<version>/model.tflite` served under `--prefer_tflite_model=true`: the server exposes the
SavedModel's signature (key, method, aliases, dtypes, shapes) from the model's SignatureDefs metadata
(servables/tensorflow/tflite_session.cc TfLiteSession::Create, GetSignatureDefMap), not upstream's mock
`serving_default` of tensor names, and answers as the SavedModel does within the float32 parity gate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from export.samples import sample_inputs
from tests.conftest import serve_flags
from tests.support.server import LiveServer, running_server

pytestmark = [pytest.mark.live, pytest.mark.needs_export]
MODELS = ("linear", "ctr")
FLOAT32_GATE = 1e-5  # export/convert/settings.py DEFAULT_GATES[("tflite", "float32")]


@pytest.fixture(scope="module")
def lite_server(artifacts: Path) -> Iterator[LiveServer]:
    with running_server(
        serve_flags(artifacts, "--prefer_tflite_model=true"), wait_models=list(MODELS)
    ) as server:
        yield server


def _signature(server: LiveServer, model: str) -> dict[str, Any]:
    body = requests.get(f"{server.rest_url}/v1/models/{model}/metadata", timeout=30).json()
    signature: dict[str, Any] = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    for kind in ("inputs", "outputs"):
        for info in signature[kind].values():
            info.pop("name")  # TFLite tensor names, not the SavedModel's graph names
    return signature


@pytest.mark.parametrize("model", MODELS)
def test_tflite_mode_exposes_the_savedmodel_signature(
    model: str, lite_server: LiveServer, live_server: LiveServer
) -> None:
    lite = requests.get(f"{lite_server.rest_url}/v1/models/{model}/metadata", timeout=30).json()
    assert list(lite["metadata"]["signature_def"]["signature_def"]) == ["serving_default"]
    assert _signature(lite_server, model) == _signature(live_server, model)


@pytest.mark.parametrize("model", MODELS)
def test_tflite_mode_answers_as_the_savedmodel(
    model: str, artifacts: Path, lite_server: LiveServer, live_server: LiveServer
) -> None:
    inputs = sample_inputs(model, artifacts, 32, seed=3)
    body = {"inputs": {k: v.tolist() for k, v in inputs.items()}}
    answers = [
        requests.post(f"{s.rest_url}/v1/models/{model}:predict", json=body, timeout=60).json()["outputs"]
        for s in (lite_server, live_server)
    ]
    lite, saved = (np.asarray(a if not isinstance(a, dict) else next(iter(a.values()))) for a in answers)
    assert lite.shape == saved.shape
    assert float(np.max(np.abs(lite - saved))) <= FLOAT32_GATE
