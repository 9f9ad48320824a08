"""The package surface: lazy exports; REST imports neither TensorFlow nor grpc, GrpcClient no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import clients
from tests.support.server import REPO

PROBE = """
import json, sys
import clients
from clients import RestClient, NotFound, RetryPolicy
import clients.rest, clients.cli, clients.errors, clients.retry
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "grpc", "keras"))))
"""


def test_importing_the_rest_client_imports_neither_tensorflow_nor_grpc() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


GRPC_PROBE = """
import json, sys
from clients import GrpcClient
client = GrpcClient("127.0.0.1:1")
client.close()
from clients.grpc import example_proto
assert example_proto({"x": [1.0]}, "e").SerializeToString()
tf = ("tensorflow", "tensorflow_serving", "keras")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in tf)))
"""


def test_the_grpc_client_does_not_import_tensorflow() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GRPC_PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_all_lists_exactly_the_public_names_and_each_resolves() -> None:
    assert clients.__all__ == sorted(clients.__all__, key=lambda n: (not n.isupper(), n))
    assert set(clients.__all__) == set(dir(clients))
    for name in clients.__all__:
        assert getattr(clients, name) is not None


def test_errors_are_the_kits_one_hierarchy() -> None:
    import serving.status
    from clients import errors

    assert errors.NotFound is serving.status.NotFound
    assert issubclass(errors.ConnectionFailed, errors.Unavailable)
    assert errors.ServingError.from_http(503, "x").__class__ is errors.Unavailable
    assert errors.ServingError.from_code(errors.Code.NOT_FOUND, "x").__class__ is errors.NotFound
    assert set(errors.__all__) <= set(vars(errors))
