"""Runs recorded client calls with the installed `tfkit-client` (no TensorFlow, no repo on sys.path).

    python client_smoke.py JOBS.pkl RESULTS.pkl REST_URL GRPC_TARGET

JOBS is a pickled list of (case id, transport, method, args, kwargs); RESULTS receives, per job,
(case id, transport, "ok", value) or (case id, transport, "error", (code name, message)), then a final
("env", "", "modules", {...}) row saying where `clients` came from and whether TensorFlow was loaded.
Used by tests/live/test_client_no_tf.py; pickles carry only numpy, bytes and the clients' own values.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any


def main(jobs_path: str, results_path: str, rest_url: str, grpc_target: str) -> int:
    import clients
    from clients import GrpcClient, RestClient, ServingError

    made: dict[str, Any] = {
        "rest": RestClient(rest_url, timeout=60),
        "rest-columnar": RestClient(rest_url, timeout=60, request_format="columnar"),
        "grpc": GrpcClient(grpc_target, timeout=60),
    }
    with open(jobs_path, "rb") as f:
        jobs = pickle.load(f)
    results: list[tuple[str, str, str, Any]] = []
    for case_id, transport, method, args, kwargs in jobs:
        try:
            value = getattr(made[transport], method)(*args, **kwargs)
        except ServingError as error:
            results.append((case_id, transport, "error", (error.code.name, error.message)))
        else:
            results.append((case_id, transport, "ok", value))
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tensorflow_serving"})
    results.append(("env", "", "modules", {"clients": clients.__file__, "loaded": loaded}))
    with open(results_path, "wb") as f:
        pickle.dump(results, f)
    for client in made.values():
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:5]))
