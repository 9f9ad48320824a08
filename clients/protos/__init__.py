"""TF Serving's API messages for the clients, without TensorFlow.

`serving_apis.binpb` is the FileDescriptorSet of tensorflow-serving-api 2.19.0's predict, classification,
regression, get_model_metadata and get_model_status protos and every TensorFlow / protobuf file they
import (written by `python -m clients.protos.generate` from the installed packages; a unit test keeps it
in step). `messages()` loads it into a private descriptor pool on first use, so the classes are
wire-identical to tensorflow_serving.apis' but never clash with them: a process may import TensorFlow too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

DESCRIPTOR_SET = "serving_apis.binpb"

PREDICTION_SERVICE = "/tensorflow.serving.PredictionService/"
MODEL_SERVICE = "/tensorflow.serving.ModelService/"


@dataclass(frozen=True)
class Messages:
    """Message classes of the private pool (each a protobuf Message subclass)."""

    PredictRequest: Any
    PredictResponse: Any
    ClassificationRequest: Any
    ClassificationResponse: Any
    RegressionRequest: Any
    RegressionResponse: Any
    GetModelMetadataRequest: Any
    GetModelMetadataResponse: Any
    SignatureDefMap: Any
    GetModelStatusRequest: Any
    GetModelStatusResponse: Any
    Example: Any
    TensorProto: Any


_NAMES = {
    "PredictRequest": "tensorflow.serving.PredictRequest",
    "PredictResponse": "tensorflow.serving.PredictResponse",
    "ClassificationRequest": "tensorflow.serving.ClassificationRequest",
    "ClassificationResponse": "tensorflow.serving.ClassificationResponse",
    "RegressionRequest": "tensorflow.serving.RegressionRequest",
    "RegressionResponse": "tensorflow.serving.RegressionResponse",
    "GetModelMetadataRequest": "tensorflow.serving.GetModelMetadataRequest",
    "GetModelMetadataResponse": "tensorflow.serving.GetModelMetadataResponse",
    "SignatureDefMap": "tensorflow.serving.SignatureDefMap",
    "GetModelStatusRequest": "tensorflow.serving.GetModelStatusRequest",
    "GetModelStatusResponse": "tensorflow.serving.GetModelStatusResponse",
    "Example": "tensorflow.Example",
    "TensorProto": "tensorflow.TensorProto",
}


@functools.cache
def messages() -> Messages:
    """Build the private pool and its classes (once per process)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    data = resources.files(__package__).joinpath(DESCRIPTOR_SET).read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        pool.Add(file)
    return Messages(
        **{
            attr: message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
            for attr, full_name in _NAMES.items()
        }
    )
