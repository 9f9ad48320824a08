"""Writes `serving_apis.binpb`: the FileDescriptorSet of TF Serving's client-side API protos.

Run in the development environment (it reads the descriptors of the installed tensorflow-serving-api and
TensorFlow protos, so the set matches the server's messages exactly):

    .venv/bin/python -m clients.protos.generate            # rewrite the committed file
    .venv/bin/python -m clients.protos.generate --check    # exit 1 when the committed file is stale

The set holds the request/response files the clients use and everything they import, dependencies first.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("serving_apis.binpb")
ROOTS = (
    "tensorflow_serving.apis.predict_pb2",
    "tensorflow_serving.apis.classification_pb2",
    "tensorflow_serving.apis.regression_pb2",
    "tensorflow_serving.apis.get_model_metadata_pb2",
    "tensorflow_serving.apis.get_model_status_pb2",
)


def _ordered(files: list[Any]) -> list[Any]:
    """Each file after its dependencies (depth first, in declaration order: deterministic)."""
    seen: dict[str, Any] = {}

    def visit(fd: Any) -> None:
        if fd.name in seen:
            return
        for dep in fd.dependencies:
            visit(dep)
        seen[fd.name] = fd

    for fd in files:
        visit(fd)
    return list(seen.values())


def descriptor_set() -> bytes:
    from google.protobuf import descriptor_pb2

    roots = [importlib.import_module(name).DESCRIPTOR for name in ROOTS]
    out = descriptor_pb2.FileDescriptorSet()
    for fd in _ordered(roots):
        out.file.add().MergeFromString(fd.serialized_pb)
    return out.SerializeToString(deterministic=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    data = descriptor_set()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_bytes() != data:
            print(f"{OUTPUT} is stale: run python -m clients.protos.generate", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
