"""The TF-free client: `pip install ./clients` into a fresh venv without TensorFlow, then the contract's
smoke cases over REST and gRPC against a live `tfkit serve`, checked with the contract suite's own checks.

Smoke cases: every case of tests/contract/cases.yaml on the main server that calls a client method and
needs no exported sample data (its values are literals, `$array`, `$repeat`, `$f64`, `$serialize`,
`$latest`). The calls are recorded here with the contract's `call_client`, replayed in the venv by
tests/live/client_smoke.py, and the answers checked with `check_error` / `check_result`.
"""

from __future__ import annotations

import pickle
import subprocess
import venv
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

from clients.errors import Code, ServingError
from tests.contract.reference import Reference
from tests.contract.runner import Case, Values, check_error, load_cases
from tests.contract.test_contract_cases import call_client, check_result
from tests.support.server import REPO, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]

CLIENT_CALLS = ("predict", "classify", "regress", "metadata", "status")
PORTABLE_TAGS = {"$array", "$repeat", "$f64", "$serialize"}


def _tags(value: Any) -> set[str]:
    if isinstance(value, dict):
        own = {k for k in value if isinstance(k, str) and k.startswith("$")}
        return own.union(*(_tags(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_tags(v) for v in value))
    return set()


def smoke_cases() -> list[Case]:
    return [
        c
        for c in load_cases()
        if c.call in CLIENT_CALLS
        and c.server == "main"
        and _tags({k: v for k, v in c.spec.items() if k != "expect"}) <= PORTABLE_TAGS
    ]


class _Recorder:
    """Stands in for a client: records each call instead of sending it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((method, args, kwargs))

        return record


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only tfkit-client and its dependencies."""
    where = tmp_path_factory.mktemp("client-venv")
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(REPO / "clients")],
        check=True,
        cwd=where,
        timeout=900,
    )
    probe = subprocess.run(
        [str(python), "-c", "import tensorflow"], capture_output=True, text=True, cwd=where
    )
    assert probe.returncode != 0 and "No module named 'tensorflow'" in probe.stderr
    return python


def test_client_without_tensorflow_passes_the_smoke_cases(
    client_python: Path, live_server: LiveServer, artifacts: Path, tmp_path: Path
) -> None:
    @cache
    def latest(model: str) -> int:
        body = requests.get(f"{live_server.rest_url}/v1/models/{model}", timeout=30).json()
        return max(int(v["version"]) for v in body["model_version_status"] if v["state"] == "AVAILABLE")

    values = Values(artifacts, latest)
    cases = {c.id: c for c in smoke_cases()}
    assert len(cases) >= 20
    jobs = []
    for case in cases.values():
        for transport in case.transports():
            recorder = _Recorder()
            call_client(case, recorder, values)
            ((method, args, kwargs),) = recorder.calls
            jobs.append((case.id, transport, method, args, kwargs))
    (tmp_path / "jobs.pkl").write_bytes(pickle.dumps(jobs))
    subprocess.run(
        [
            str(client_python),
            str(Path(__file__).with_name("client_smoke.py")),
            str(tmp_path / "jobs.pkl"),
            str(tmp_path / "results.pkl"),
            live_server.rest_url,
            live_server.grpc_target,
        ],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    *results, (_, _, _, env) = pickle.loads((tmp_path / "results.pkl").read_bytes())
    assert str(client_python.parent.parent) in env["clients"] and env["loaded"] == []
    assert len(results) == len(jobs)
    reference = Reference(artifacts)
    for case_id, transport, kind, value in results:
        case = cases[case_id]
        expect = values(case.expect, case.spec["model"])
        if kind == "error":
            code, message = value
            error = ServingError.from_code(Code[code], message)
            assert "error" in expect, f"{case_id}[{transport}]: unexpected {code}: {message}"
            check_error(expect, transport, error)
        else:
            if "error" in expect:
                check_error(expect, transport, None)
            check_result(case, expect, value, reference, values)
