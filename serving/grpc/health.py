"""grpc.health.v1 on the gRPC port (`--enable_grpc_healthcheck_service`).

Upstream marks "ModelService" and "PredictionService" (short names, not fully qualified) SERVING as
soon as the port opens; the overall server ("") is marked too so generic probes (grpc_health_probe
without -service) work. On shutdown every service turns NOT_SERVING before the port closes.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICES = ("", "ModelService", "PredictionService")


async def add_health(server: grpc.aio.Server) -> health.aio.HealthServicer:
    """Register the health service on `server` with every kit service SERVING."""
    servicer = health.aio.HealthServicer()
    for name in SERVICES:
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer
