"""`tfkit predict`, `tfkit status`, `tfkit metadata`: call a TF Serving-compatible server, print JSON.

    tfkit predict --rest http://localhost:8501 --model linear --instances '[[1.0], [2.0]]'
    tfkit predict --grpc localhost:8500 --model ctr --file rows.npz
    tfkit status --grpc localhost:8500 --model ctr

Exit codes: 0 ok, 1 the server (or the connection) reported an error (its message goes to stderr),
2 a usage error (bad flags, unreadable --file, invalid JSON).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

    from clients._types import Client, Inputs


class UsageError(ValueError):
    """A request that cannot be built from the command line (exit 2)."""


@dataclass(frozen=True)
class Target:
    """Where and how to call: the one settings object the commands pass down."""

    transport: Literal["rest", "grpc"]
    address: str
    timeout: float | None

    @staticmethod
    def from_args(args: argparse.Namespace) -> Target:
        timeout = None if args.timeout <= 0 else float(args.timeout)
        if args.rest:
            return Target("rest", args.rest, timeout)
        return Target("grpc", args.grpc, timeout)

    def open(self) -> Client:
        """A client for this target (gRPC imports its protos, and so TensorFlow, only here)."""
        if self.transport == "rest":
            from clients.rest import RestClient

            return RestClient(self.address, timeout=self.timeout)
        from clients.grpc import GrpcClient

        return GrpcClient(self.address, timeout=self.timeout)


def _target_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    where = parent.add_mutually_exclusive_group(required=True)
    where.add_argument("--rest", metavar="URL", help="REST endpoint, e.g. http://localhost:8501")
    where.add_argument("--grpc", metavar="HOST:PORT", help="gRPC endpoint, e.g. localhost:8500")
    parent.add_argument("--model", required=True, help="model name")
    parent.add_argument("--timeout", type=float, default=30.0, help="seconds per call; <= 0: none")
    return parent


def register(sub: Any) -> None:
    """Add `predict`, `status` and `metadata` to the `tfkit` parser."""
    parent = _target_parser()
    predict = sub.add_parser("predict", parents=[parent], help="call Predict; print outputs as JSON")
    predict.add_argument("--signature", help="signature key (default serving_default)")
    spec = predict.add_mutually_exclusive_group()
    spec.add_argument("--version", type=int, help="model version")
    spec.add_argument("--label", help="version label")
    body = predict.add_mutually_exclusive_group(required=True)
    body.add_argument("--instances", metavar="JSON", help="row format: a list of rows (or of objects)")
    body.add_argument("--inputs", metavar="JSON", help="columnar: a tensor, or an object alias -> tensor")
    body.add_argument("--file", metavar="PATH", type=Path, help=".npz of named arrays, or a JSON request")
    predict.add_argument("--output-filter", action="append", metavar="ALIAS", help="keep this output")
    predict.set_defaults(run=run_predict)

    status = sub.add_parser("status", parents=[parent], help="print model version states as JSON")
    status.add_argument("--version", type=int, help="one version only")
    status.set_defaults(run=run_status)

    metadata = sub.add_parser("metadata", parents=[parent], help="print signatures as JSON")
    which = metadata.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="model version")
    which.add_argument("--label", help="version label")
    metadata.set_defaults(run=run_metadata)


def _decode_b64(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"], validate=True)
    if isinstance(value, dict):
        return {k: _decode_b64(v) for k, v in value.items()}
    return value


def _parse_json(text: str, what: str) -> Any:
    try:
        return _decode_b64(json.loads(text))
    except (ValueError, TypeError) as error:
        raise UsageError(f"{what} is not valid JSON: {error}") from None


def inputs_from_instances(rows: Any) -> Inputs:
    """Row format -> the clients' inputs: a list of objects becomes alias -> list of row values."""
    if not isinstance(rows, list) or not rows:
        raise UsageError("--instances must be a non-empty JSON list")
    if all(isinstance(r, dict) for r in rows):
        keys = list(rows[0])
        for i, row in enumerate(rows):
            if list(row) != keys and set(row) != set(keys):
                raise UsageError(f"--instances element {i} has keys {sorted(row)}, expected {sorted(keys)}")
        return {k: [row[k] for row in rows] for k in keys}
    if any(isinstance(r, dict) for r in rows):
        raise UsageError("--instances mixes objects and plain values")
    inputs: Inputs = rows
    return inputs


def load_request(args: argparse.Namespace) -> tuple[Inputs, str | None]:
    """(inputs, signature from a JSON request file) from --instances / --inputs / --file."""
    if args.instances is not None:
        return inputs_from_instances(_parse_json(args.instances, "--instances")), None
    if args.inputs is not None:
        return _parse_json(args.inputs, "--inputs"), None
    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"--file {path}: no such file")
    if path.suffix == ".npz":
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}, None
        except (OSError, ValueError) as error:
            raise UsageError(f"--file {path}: not a readable .npz ({error})") from None
    request = _parse_json(path.read_text(), f"--file {path}")
    if not isinstance(request, dict) or ("instances" in request) == ("inputs" in request):
        raise UsageError(f"--file {path}: expected a JSON object with one of 'instances' or 'inputs'")
    signature = request.get("signature_name")
    if "instances" in request:
        return inputs_from_instances(request["instances"]), signature
    return request["inputs"], signature


def _jsonable(array: np.ndarray) -> Any:
    """numpy -> what the JSON output holds: numbers as is, bytes as text (or {"b64"} if not UTF-8)."""
    if array.dtype != object:
        return array

    def leaf(value: Any) -> Any:
        if isinstance(value, list):
            return [leaf(v) for v in value]
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}

    return leaf(array.tolist())


def _print_json(payload: Any, arrays: Mapping[str, np.ndarray] | None = None) -> None:
    import numpy as np

    from clients import _json

    finite = arrays is None or all(
        a.dtype.kind not in "fc" or bool(np.isfinite(a).all()) for a in arrays.values()
    )
    sys.stdout.write(_json.dumps(payload, finite).decode() + "\n")


def _fail(command: str, error: Exception) -> int:
    from clients.errors import ServingError

    if isinstance(error, UsageError):
        print(f"tfkit {command}: error: {error}", file=sys.stderr)
        return 2
    if isinstance(error, ServingError):
        print(f"tfkit {command}: {error.code.name}: {error.message}", file=sys.stderr)
        return 1
    raise error


def run_predict(args: argparse.Namespace) -> int:
    from clients.errors import ServingError

    try:
        inputs, file_signature = load_request(args)
        with Target.from_args(args).open() as client:
            outputs = client.predict(
                args.model,
                inputs,
                signature=args.signature or file_signature,
                version=args.version,
                label=args.label,
                output_filter=args.output_filter,
            )
    except (UsageError, ServingError) as error:
        return _fail("predict", error)
    _print_json({"outputs": {k: _jsonable(v) for k, v in outputs.items()}}, outputs)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from clients._types import status_to_json
    from clients.errors import ServingError

    try:
        with Target.from_args(args).open() as client:
            versions = client.status(args.model, args.version)
    except ServingError as error:
        return _fail("status", error)
    _print_json({"model": args.model, "model_version_status": status_to_json(versions)})
    return 0


def run_metadata(args: argparse.Namespace) -> int:
    from clients.errors import ServingError

    try:
        with Target.from_args(args).open() as client:
            meta = client.metadata(args.model, args.version, label=args.label)
    except ServingError as error:
        return _fail("metadata", error)
    _print_json(meta.to_json())
    return 0
