"""Runs one contract case (cases.yaml) over one transport and checks its expectations.

Kept apart from the test module so the case data, the value tags and the matchers are readable alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml

from clients.errors import ServingError

CASES = Path(__file__).with_name("cases.yaml")
TRANSPORTS = ("rest", "rest-columnar", "grpc")


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]

    @property
    def call(self) -> str:
        return str(self.spec["call"])

    @property
    def server(self) -> str:
        return str(self.spec.get("server", "main"))

    @property
    def expect(self) -> dict[str, Any]:
        return dict(self.spec.get("expect", {}))

    def transports(self) -> list[str]:
        if self.call == "http":
            return ["http"]
        if self.call == "grpc_raw":
            return ["grpc"]
        return list(self.spec.get("transports", ["rest", "grpc"]))


def load_cases() -> list[Case]:
    raw = yaml.safe_load(CASES.read_text())
    ids = [c["id"] for c in raw]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids in {CASES}: {sorted(duplicates)}")
    for case in raw:
        unknown = set(case.get("transports", [])) - set(TRANSPORTS)
        if unknown:
            raise ValueError(f"case {case['id']}: unknown transports {sorted(unknown)}")
    return [Case(c["id"], c) for c in raw]


class Values:
    """Resolves the $-tags of cases.yaml into numpy arrays, dict examples and serialized Examples."""

    def __init__(self, artifacts: Path, latest: Callable[[str], int]) -> None:
        self.artifacts = artifacts
        self.latest = latest

    def __call__(self, value: Any, model: str | None = None) -> Any:
        if isinstance(value, list):
            return [self(v, model) for v in value]
        if isinstance(value, str) and value == "$latest" and model is not None:
            return self.latest(model)
        if not isinstance(value, dict):
            return value
        tags = [k for k in value if isinstance(k, str) and k.startswith("$") and k != "$more"]
        if not tags:
            return {k: self(v, model) for k, v in value.items()}
        tag = tags[0]
        arg = self(value[tag], model)
        if tag == "$array":
            return np.asarray(arg, dtype=value.get("dtype"))
        if tag == "$repeat":
            return [arg] * int(value["n"])
        if tag == "$f64":
            return np.asarray(arg, dtype="<f8").tobytes()
        if tag == "$serialize":
            return np.asarray([serialize(e) for e in arg], dtype=object)
        if tag == "$sample_inputs":
            from export.samples import sample_inputs

            return sample_inputs(arg["model"], self.artifacts, int(arg["n"]), seed=0)
        if tag == "$serialized_ctr":
            from export.samples import sample_examples

            return np.asarray(sample_examples(self.artifacts, int(arg), seed=0), dtype=object)
        if tag == "$ctr_examples":
            from export.samples import sample_examples

            return [ctr_example_dict(r) for r in sample_examples(self.artifacts, int(arg), seed=0)]
        raise ValueError(f"unknown value tag {tag}")


def ctr_example_dict(serialized: bytes) -> dict[str, Any]:
    """A CTR record as the clients take it: feature bytes (float64 LE vector), integer ids."""
    from export.schema import decode_example

    row = decode_example(serialized)
    return {
        "feature": np.asarray(row["feature"], dtype="<f8").tobytes(),
        "user_id": row["user_id"],
        "article_id": row["article_id"],
    }


def serialize(example: Mapping[str, Any]) -> bytes:
    from clients.grpc import example_proto

    return bytes(example_proto(example, "example").SerializeToString())


# -- matchers ---------------------------------------------------------------------------------------------
def matches(expected: Any, actual: Any, where: str = "body") -> list[str]:
    """Problems found comparing `actual` with the `expected` pattern ($any, $string, $number; dicts must
    have exactly the expected keys unless the pattern says `$more: true`; lists must have equal length)."""
    if expected == "$any":
        return []
    if expected == "$string":
        return [] if isinstance(actual, str) else [f"{where}: expected a string, got {actual!r}"]
    if expected == "$number":
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
        return [] if ok else [f"{where}: expected a number, got {actual!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {str(actual)[:120]}"]
        problems = []
        keys = {k for k in expected if k != "$more"}
        extra = sorted(set(actual) - keys)
        if extra and not expected.get("$more"):
            problems.append(f"{where}: unexpected keys {extra} (expected only {sorted(keys)})")
        for key, sub in expected.items():
            if key == "$more":
                continue
            if key not in actual:
                problems.append(f"{where}: missing key {key!r} (has {sorted(actual)})")
            else:
                problems += matches(sub, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected a list of {len(expected)}, got {str(actual)[:120]}"]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in matches(e, a, f"{where}[{i}]")
        ]
    if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected):
        return [] if math.isnan(actual) else [f"{where}: expected NaN, got {actual}"]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def check_error(expect: Mapping[str, Any], transport: str, error: ServingError | None) -> None:
    """The typed error a client raised against the case's {rest: status, grpc: code, message...}."""
    spec = expect["error"]
    kind = "grpc" if transport == "grpc" else "rest"
    assert error is not None, f"expected an error {spec}, the call succeeded"
    if kind == "rest":
        assert error.http_status == spec["rest"], (
            f"HTTP {error.http_status} != {spec['rest']}: {error.message}"
        )
    else:
        assert error.code.name == spec["grpc"], f"{error.code.name} != {spec['grpc']}: {error.message}"
    # the most specific group of keys wins: <transport>_message*, then <kind>_message*, then message*
    group = next(
        (g for g in (f"{transport}_", f"{kind}_") if any(k.startswith(g + "message") for k in spec)), ""
    )

    def wanted(suffix: str) -> Any:
        return spec.get(group + suffix)

    text, prefix, tail = wanted("message"), wanted("message_prefix"), wanted("message_suffix")
    if text is not None:
        assert error.message == text, f"message {error.message!r} != upstream's {text!r}"
    if prefix is not None:
        assert error.message.startswith(prefix), f"message {error.message!r} does not start with {prefix!r}"
    if tail is not None:
        assert error.message.endswith(tail), f"message {error.message!r} does not end with {tail!r}"


def check_http(expect: Mapping[str, Any], response: requests.Response) -> None:
    from clients._json import loads

    assert response.status_code == expect["status"], f"{response.status_code}: {response.text[:300]}"
    if "content_type" in expect:
        assert response.headers.get("Content-Type", "").startswith(expect["content_type"])
    for name, value in expect.get("headers", {}).items():
        assert response.headers.get(name) == value, (
            f"header {name}: {response.headers.get(name)!r} != {value!r}"
        )
    if "text" in expect:
        assert expect["text"] in response.text, f"{expect['text']!r} not in {response.text[:300]!r}"
    if expect.get("body_empty"):
        assert response.content.strip() == b"", f"expected an empty body, got {response.text[:200]!r}"
    if "error" in expect:
        body = loads(response.content)
        assert isinstance(body, dict) and set(body) == {"error"}, f"not an error body: {response.text[:200]}"
        assert body["error"] == expect["error"], (
            f"message {body['error']!r} != upstream's {expect['error']!r}"
        )
    if "error_prefix" in expect:
        body = loads(response.content)
        assert isinstance(body, dict) and set(body) == {"error"}, f"not an error body: {response.text[:200]}"
        assert body["error"].startswith(expect["error_prefix"]), (
            f"{body['error']!r} !~ {expect['error_prefix']!r}"
        )
        assert body["error"].endswith(expect["error_suffix"]), (
            f"{body['error']!r} !~ {expect['error_suffix']!r}"
        )
    if "body" in expect:
        problems = matches(expect["body"], loads(response.content))
        assert not problems, "\n".join(problems)


def check_outputs(
    expect: Mapping[str, Any], got: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None
) -> None:
    for alias, spec in expect.get("outputs", {}).items():
        assert alias in got, f"output {alias!r} missing (got {sorted(got)})"
        assert got[alias].dtype == np.dtype(spec["dtype"]), (
            f"{alias}: dtype {got[alias].dtype} != {spec['dtype']}"
        )
        assert list(got[alias].shape) == spec["shape"], (
            f"{alias}: shape {got[alias].shape} != {spec['shape']}"
        )
    if reference is None:
        return
    assert sorted(got) == sorted(reference), f"outputs {sorted(got)} != reference {sorted(reference)}"
    for alias, ref in reference.items():
        value = got[alias]
        assert value.shape == ref.shape, f"{alias}: shape {value.shape} != reference {ref.shape}"
        assert value.dtype == ref.dtype, f"{alias}: dtype {value.dtype} != reference {ref.dtype}"
        if ref.dtype == object:
            assert value.tolist() == ref.tolist(), f"{alias}: {value.tolist()} != {ref.tolist()}"
        else:
            np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=alias)
