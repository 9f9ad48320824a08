"""Every case of cases.yaml over each of its transports, against the target chosen in targets.py."""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from clients._types import status_to_json
from clients.errors import ServingError
from tests.contract.reference import Reference
from tests.contract.runner import Case, Values, check_error, check_http, check_outputs, load_cases, matches
from tests.contract.targets import Endpoint

CASES = load_cases()
PARAMS = [pytest.param(c, t, id=f"{c.id}[{t}]") for c in CASES for t in c.transports()]


@pytest.fixture(scope="session")
def grpc_stubs(endpoints: dict[str, Endpoint]) -> Any:
    import grpc
    from grpc_health.v1 import health_pb2_grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channels = {name: grpc.insecure_channel(e.grpc_target) for name, e in endpoints.items()}
    yield {
        name: (
            prediction_service_pb2_grpc.PredictionServiceStub(c),
            model_service_pb2_grpc.ModelServiceStub(c),
            health_pb2_grpc.HealthStub(c),
        )
        for name, c in channels.items()
    }
    for channel in channels.values():
        channel.close()


@pytest.fixture(scope="session")
def latest(endpoints: dict[str, Endpoint]) -> Any:
    @cache
    def version(server: str, model: str) -> int:
        body = requests.get(f"{endpoints[server].rest_url}/v1/models/{model}", timeout=30).json()
        return max(int(v["version"]) for v in body["model_version_status"] if v["state"] == "AVAILABLE")

    return version


def _served(endpoint: Endpoint, model: str) -> bool:
    return requests.get(f"{endpoint.rest_url}/v1/models/{model}", timeout=30).status_code == 200


@pytest.mark.parametrize(("case", "transport"), PARAMS)
def test_contract_case(
    case: Case,
    transport: str,
    endpoints: dict[str, Endpoint],
    clients_by_name: dict[tuple[str, str], Any],
    grpc_stubs: Any,
    latest: Any,
    reference: Reference,
    artifacts: Path,
    rest_responses: list[tuple[int, bytes]],
) -> None:
    endpoint = endpoints[case.server]
    if case.server == "extra" and endpoint.kind == "external" and not _served(endpoint, "pair"):
        pytest.skip("the external server does not serve the contract's `pair` model (see targets.py)")
    values = Values(artifacts, lambda model: int(latest(case.server, model)))
    if case.call == "http":
        return run_http(case, endpoint, values)
    if case.call == "grpc_raw":
        return run_grpc_raw(case, grpc_stubs[case.server])
    client = clients_by_name[(case.server, transport)]
    model = case.spec["model"]
    expect = values(case.expect, model)
    mark = len(rest_responses)
    try:
        got = call_client(case, client, values)
    except ServingError as error:
        if "error" not in expect:
            raise
        answered = server_answered(error, transport, rest_responses[mark:])
        if transport in case.spec.get("client_side", []):
            assert not answered, "a client_side case got its error from the server"
        else:
            assert answered, f"the kit's client refused the request itself ({error!r}); mark it client_side"
        return check_error(expect, transport, error)
    if "error" in expect:
        check_error(expect, transport, None)
    check_result(case, expect, got, reference, values)


def server_answered(error: ServingError, transport: str, responses: list[tuple[int, bytes]]) -> bool:
    """True when `error` is the server's answer: over gRPC the client re-raised an RpcError, over REST
    an error response with this status and message arrived during the call."""
    if transport == "grpc":
        import grpc

        return isinstance(error.__context__, grpc.RpcError)
    from clients._json import loads

    for status, body in responses:
        if status == error.http_status and body.strip():
            doc = loads(body)
            if isinstance(doc, dict) and doc.get("error") == error.message:
                return True
    return False


def call_client(case: Case, client: Any, values: Values) -> Any:
    spec, model = case.spec, case.spec["model"]
    version = values(spec.get("version"), model)
    common = {"version": version, "label": spec.get("label")}
    if case.call == "predict":
        return client.predict(
            model,
            values(spec["inputs"], model),
            signature=spec.get("signature"),
            output_filter=spec.get("output_filter"),
            **common,
        )
    if case.call in ("classify", "regress"):
        method = client.classify if case.call == "classify" else client.regress
        context = values(spec.get("context"), model)
        return method(
            model, values(spec["examples"], model), context=context, signature=spec.get("signature"), **common
        )
    if case.call == "metadata":
        return client.metadata(model, version, label=spec.get("label"))
    if case.call == "status":
        return client.status(model, version)
    raise ValueError(f"unknown call {case.call}")


def check_result(case: Case, expect: dict[str, Any], got: Any, reference: Reference, values: Values) -> None:
    spec, model = case.spec, case.spec["model"]
    ref_spec = expect.get("reference")
    if case.call == "predict":
        ref = None
        if ref_spec is not None:
            inputs = values(spec["inputs"], model)
            signature = ref_spec.get("signature", spec.get("signature") or "serving_default")
            ref = reference.run(reference.model_dir(ref_spec["model"]), signature, inputs)
            if spec.get("output_filter"):
                ref = {k: ref[k] for k in spec["output_filter"]}
        return check_outputs(expect, got, ref)
    if case.call in ("classify", "regress"):
        from tests.contract.runner import serialize

        assert ref_spec is not None, f"case {case.id}: classify/regress cases need expect.reference"
        context = values(spec.get("context"), model)
        prefix = serialize(context) if context else b""
        examples = np.asarray([prefix + serialize(e) for e in values(spec["examples"], model)], dtype=object)
        ref = reference.run(
            reference.model_dir(ref_spec["model"]), ref_spec["signature"], {"inputs": examples}
        )
        if case.call == "regress":
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, ref["outputs"].reshape(-1), rtol=1e-5, atol=1e-6)
            return
        labels = [[c.decode() for c in row] for row in ref["classes"].tolist()]
        assert [[label for label, _ in one] for one in got] == labels
        scores = np.asarray([[score for _, score in one] for one in got], dtype=np.float32)
        np.testing.assert_allclose(scores, ref["scores"], rtol=1e-5, atol=1e-6)
        return
    if case.call == "metadata":
        wanted = {
            "model": model,
            "version": expect.get("version", "$any"),
            "signatures": expect["signatures"],
        }
        problems = matches(wanted, got.to_json(), "metadata")
        assert not problems, "\n".join(problems)
        return
    if case.call == "status":
        problems = matches(expect["versions"], status_to_json(got), "status")
        assert not problems, "\n".join(problems)


def run_http(case: Case, endpoint: Endpoint, values: Values) -> None:
    spec = case.spec
    path = spec["path"]
    found = re.match(r"/v1/models/([^/:]+)", path)
    if "$latest" in path and found:
        path = path.replace("$latest", str(values("$latest", found.group(1))))
    body: bytes | None = None
    if "json" in spec:
        body = json.dumps(values(spec["json"])).encode()
    elif "body" in spec:
        body = str(spec["body"]).encode()
    headers = {"Content-Type": "application/json", **spec.get("headers", {})}
    if spec.get("gzip") and body is not None:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    response = requests.request(
        spec["method"], endpoint.rest_url + path, data=body, headers=headers, timeout=60
    )
    check_http(values(case.expect, found.group(1) if found else None), response)


def run_grpc_raw(case: Case, stubs: Any) -> None:
    import grpc
    from google.protobuf import text_format
    from grpc_health.v1 import health_pb2
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        predict_pb2,
        regression_pb2,
    )

    prediction, models, health = stubs
    table = {
        "HealthCheck": (health.Check, health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse),
        "Predict": (prediction.Predict, predict_pb2.PredictRequest, predict_pb2.PredictResponse),
        "Classify": (prediction.Classify, classification_pb2.ClassificationRequest, None),
        "Regress": (prediction.Regress, regression_pb2.RegressionRequest, None),
        "MultiInference": (prediction.MultiInference, inference_pb2.MultiInferenceRequest, None),
        "GetModelMetadata": (
            prediction.GetModelMetadata,
            get_model_metadata_pb2.GetModelMetadataRequest,
            None,
        ),
        "GetModelStatus": (
            models.GetModelStatus,
            get_model_status_pb2.GetModelStatusRequest,
            get_model_status_pb2.GetModelStatusResponse,
        ),
    }
    method, request_type, response_type = table[case.spec["rpc"]]
    request = text_format.Parse(case.spec.get("request", ""), request_type())
    expect = case.expect
    try:
        response = method(request, timeout=60)
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""
    assert code.name == expect["grpc"], f"{code.name} != {expect['grpc']}: {details}"
    if "message" in expect:
        assert details == expect["message"], f"details {details!r} != upstream's {expect['message']!r}"
    if "message_prefix" in expect:
        assert details.startswith(expect["message_prefix"]), f"{details!r} !~ {expect['message_prefix']!r}"
    if "response" in expect and response_type is not None:
        wanted = text_format.Parse(expect["response"], response_type())
        problems = proto_subset(wanted, response)
        assert not problems, "\n".join(problems)


def proto_subset(expected: Any, actual: Any, where: str = "response") -> list[str]:
    """Fields set in `expected` must be equal in `actual` (messages and message lists recursively)."""
    problems = []
    for field, value in expected.ListFields():
        got = getattr(actual, field.name)
        repeated = field.label == field.LABEL_REPEATED
        if field.message_type is not None and repeated and not field.message_type.GetOptions().map_entry:
            if len(value) != len(got):
                problems.append(f"{where}.{field.name}: expected {len(value)} entries, got {len(got)}")
            for i, (want, have) in enumerate(zip(value, got, strict=False)):
                problems += proto_subset(want, have, f"{where}.{field.name}[{i}]")
        elif field.message_type is not None and not repeated:
            problems += proto_subset(value, got, f"{where}.{field.name}")
        elif value != got:
            problems.append(f"{where}.{field.name}: expected {value!r}, got {got!r}")
    return problems
