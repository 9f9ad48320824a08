"""Message classes for the three TF Serving config protos that tensorflow-serving-api does not ship.

The pip package ships `tensorflow_serving.config.model_server_config_pb2` but neither
`servables/tensorflow/session_bundle_config.proto` (BatchingParameters) nor
`config/monitoring_config.proto` (MonitoringConfig) nor `config/ssl_config.proto` (SSLConfig). They are
rebuilt here from their upstream schema
(same package, message names, field names, numbers and types, at tensorflow/serving 2.19) in a private
descriptor pool, so text-format files written for `tensorflow_model_server` parse identically and no
generated code is committed. Built lazily on first use (no work at import).
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_FDP = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "tensorflow.serving"


def _field(
    msg: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    ftype: int,
    type_name: str = "",
    repeated: bool = False,
) -> None:
    f = msg.field.add(name=name, number=number, type=ftype)
    f.label = _FDP.LABEL_REPEATED if repeated else _FDP.LABEL_OPTIONAL
    if type_name:
        f.type_name = type_name


def _batching_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    msg = fd.message_type.add(name="BatchingParameters")
    int64 = ".google.protobuf.Int64Value"
    _field(msg, "max_batch_size", 1, _FDP.TYPE_MESSAGE, int64)
    _field(msg, "batch_timeout_micros", 2, _FDP.TYPE_MESSAGE, int64)
    _field(msg, "max_enqueued_batches", 3, _FDP.TYPE_MESSAGE, int64)
    _field(msg, "num_batch_threads", 4, _FDP.TYPE_MESSAGE, int64)
    _field(msg, "thread_pool_name", 5, _FDP.TYPE_MESSAGE, ".google.protobuf.StringValue")
    _field(msg, "allowed_batch_sizes", 6, _FDP.TYPE_INT64, repeated=True)
    _field(msg, "pad_variable_length_inputs", 7, _FDP.TYPE_BOOL)
    _field(msg, "enable_large_batch_splitting", 8, _FDP.TYPE_MESSAGE, ".google.protobuf.BoolValue")
    _field(msg, "max_execution_batch_size", 9, _FDP.TYPE_MESSAGE, int64)
    return fd


def _monitoring_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto", package=_PACKAGE, syntax="proto3"
    )
    prom = fd.message_type.add(name="PrometheusConfig")
    _field(prom, "enable", 1, _FDP.TYPE_BOOL)
    _field(prom, "path", 2, _FDP.TYPE_STRING)
    mon = fd.message_type.add(name="MonitoringConfig")
    _field(mon, "prometheus_config", 1, _FDP.TYPE_MESSAGE, f".{_PACKAGE}.PrometheusConfig")
    return fd


def _ssl_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto", package=_PACKAGE, syntax="proto3"
    )
    msg = fd.message_type.add(name="SSLConfig")
    _field(msg, "server_key", 1, _FDP.TYPE_STRING)
    _field(msg, "server_cert", 2, _FDP.TYPE_STRING)
    _field(msg, "custom_ca", 3, _FDP.TYPE_STRING)
    _field(msg, "client_verify", 4, _FDP.TYPE_BOOL)
    return fd


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    pool.Add(_batching_file())
    pool.Add(_monitoring_file())
    pool.Add(_ssl_file())
    return pool


def batching_parameters_class() -> Any:
    """The `tensorflow.serving.BatchingParameters` message class."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{_PACKAGE}.BatchingParameters"))


def monitoring_config_class() -> Any:
    """The `tensorflow.serving.MonitoringConfig` message class."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{_PACKAGE}.MonitoringConfig"))


def ssl_config_class() -> Any:
    """The `tensorflow.serving.SSLConfig` message class."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{_PACKAGE}.SSLConfig"))
