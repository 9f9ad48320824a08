"""gRPC adapter: TensorProto codec, PredictionService / ModelService servicers, health service."""
