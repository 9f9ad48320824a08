"""TF Serving REST GET documents: model status and model metadata (proto3 JSON shapes, contract §1.7-1.8).

Status is assembled directly (it is tiny and hot for readiness probes). Metadata renders the
SignatureDefMap through protobuf's json_format with upstream's options (field names preserved, fields
without presence always printed, int64 as strings, enums by name), nested twice under `signature_def`.
"""

from __future__ import annotations

from typing import Any

import orjson

from serving.types import ModelMetadata, VersionStatus


def status_response(statuses: list[VersionStatus]) -> bytes:
    """GetModelStatusResponse as JSON: versions as strings, state and error_code by name."""
    body = {
        "model_version_status": [
            {
                "version": str(s.version),
                "state": s.state.name,
                "status": {"error_code": s.error_code.name, "error_message": s.error_message},
            }
            for s in statuses
        ]
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def signature_def_map_json(serialized: bytes) -> dict[str, Any]:
    """A serialized tensorflow.serving.SignatureDefMap as upstream prints it."""
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    message = get_model_metadata_pb2.SignatureDefMap.FromString(serialized)
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def metadata_response(metadata: ModelMetadata) -> bytes:
    """`{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": {...}}}}`."""
    body = {
        "model_spec": {
            "name": metadata.spec.name,
            "signature_name": "",
            "version": str(metadata.spec.version),
        },
        "metadata": {"signature_def": signature_def_map_json(metadata.signature_def_map)},
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)
