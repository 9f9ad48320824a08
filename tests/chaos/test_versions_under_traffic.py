"""Version changes while REST and gRPC clients call `tfkit serve` the whole time (live, real subprocess).

- hot swap to a version that answers differently (half_plus_two with another offset), batching off and on:
  zero failed requests, every answer comes from exactly one of the two versions, each client thread
  switches once (old -> new, never back), and the status API shows the new AVAILABLE, the old END;
- corrupt or half-written versions arriving (truncated saved_model.pb, no variables/, an empty version
  directory): never served, the old version keeps answering, status shows each as END with its error,
  metrics and the log say why; a good version after them is served;
- rollback: deleting the newest version under the `latest` policy brings the previous one back without
  a failed request.

Upstream behaviours: availability-preserving transitions (core/aspired_versions_manager.cc: the new version
loads before the old one unloads); a failed load ends in kEnd with its error (core/loader_harness.cc
Load -> ErrorInternal) and is logged as "Loading servable: {name: .. version: ..} failed: <status>"
(util/retrier.cc); `:tensorflow:cc:saved_model:load_attempt_count{model_path,status}` counts it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from serving.launcher import LiveServer, running_server
from tests.chaos.traffic import metrics, server_flags, traffic, version_states, version_status, wait_until
from tests.support.half_plus_two import version_dir, write_half_plus_two

pytestmark = pytest.mark.live
MODEL = "hpt"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    write_half_plus_two(tmp_path / MODEL, 1, offset=1.0)
    return tmp_path


@contextmanager
def serve(base: Path, batching: bool) -> Iterator[LiveServer]:
    with running_server(server_flags(base, MODEL, batching), wait_models=[MODEL]) as server:
        yield server


@pytest.mark.parametrize("batching", [False, True], ids=["batching_off", "batching_on"])
def test_hot_swap_to_a_different_version(base: Path, batching: bool) -> None:
    with serve(base, batching) as server:
        with traffic(server, MODEL) as load:
            write_half_plus_two(base / MODEL, 2, offset=2.0)
            wait_until(lambda: version_states(server, MODEL) == {2: "AVAILABLE", 1: "END"}, 120, "swap")
            wait_until(lambda: load.count(2.0) >= 20, 60, "answers of version 2")
        assert load.failures == []
        assert load.offsets() == {1.0, 2.0}
        assert load.transports() == {"rest", "grpc"}
        # Each thread switched at most once, old -> new: no answer of the old version after the new one.
        assert set(load.switches) == {(1.0, 2.0)}
        assert len(load.switches) <= load.rest + load.grpc


def _staged_copy(source: Path, base: Path, name: str) -> Path:
    staging = base / f".staging-{name}"
    shutil.copytree(source, staging)
    return staging


def test_corrupt_versions_are_never_served(base: Path) -> None:
    model = base / MODEL
    good = version_dir(model, 1)
    with serve(base, batching=True) as server:
        with traffic(server, MODEL) as load:
            # A truncated saved_model.pb.
            truncated = _staged_copy(good, base, "truncated")
            pb = truncated / "saved_model.pb"
            pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 2])
            truncated.rename(version_dir(model, 2))
            wait_until(lambda: version_states(server, MODEL).get(2) == "END", 120, "v2 END")
            # No variables/ directory.
            no_vars = _staged_copy(good, base, "novars")
            shutil.rmtree(no_vars / "variables")
            no_vars.rename(version_dir(model, 3))
            wait_until(lambda: version_states(server, MODEL).get(3) == "END", 120, "v3 END")
            # A version directory that appears before its files (copied in place, not renamed).
            version_dir(model, 4).mkdir()
            wait_until(lambda: version_states(server, MODEL).get(4) == "END", 120, "v4 END")
            load.wait_more(20)
            assert load.offsets() == {1.0}
            # A good version after the broken ones is served.
            write_half_plus_two(model, 5, offset=5.0)
            wait_until(lambda: version_states(server, MODEL).get(5) == "AVAILABLE", 120, "v5")
            wait_until(lambda: load.count(5.0) >= 10, 60, "answers of version 5")
        assert load.failures == []
        assert load.offsets() == {1.0, 5.0}
        states = version_states(server, MODEL)
        assert states == {5: "AVAILABLE", 4: "END", 3: "END", 2: "END", 1: "END"}
        v2, v3, v4 = (version_status(server, MODEL, v) for v in (2, 3, 4))
        assert v2["error_code"] == "DATA_LOSS"
        assert (
            v2["error_message"] == f"Can't parse {version_dir(model, 2) / 'saved_model.pb'} as binary proto"
        )
        # TF's C++ loader skips the restore when variables/ is missing (tensorflow/cc/saved_model/loader.cc)
        # and the version then fails every request; the kit refuses the load (INTERNAL, reason in the log).
        assert v3["error_code"] == "INTERNAL"
        assert f"not a valid checkpoint: {version_dir(model, 3) / 'variables' / 'variables'}" in server.log()
        assert (v4["error_code"], v4["error_message"]) == (
            "NOT_FOUND",
            "Could not find SavedModel .pb or .pbtxt at supplied export directory path: "
            f"{version_dir(model, 4)}. Check that the directory exists and that you have the right "
            "permissions for accessing it.",
        )
        text = metrics(server)
        for version in (2, 3, 4):
            attempt = f'load_attempt_count{{model_path="{version_dir(model, version)}",status="fail"}} 1'
            assert attempt in text
            assert f"Loading servable: {{name: {MODEL} version: {version}}} failed: " in server.log()


def test_rollback_by_deleting_the_newest_version(base: Path) -> None:
    write_half_plus_two(base / MODEL, 2, offset=2.0)
    with serve(base, batching=False) as server:
        assert version_states(server, MODEL) == {2: "AVAILABLE"}
        with traffic(server, MODEL) as load:
            shutil.rmtree(version_dir(base / MODEL, 2))
            wait_until(lambda: version_states(server, MODEL) == {2: "END", 1: "AVAILABLE"}, 120, "rollback")
            wait_until(lambda: load.count(1.0) >= 20, 60, "answers of version 1")
        assert load.failures == []
        assert load.offsets() == {1.0, 2.0}
        assert set(load.switches) == {(2.0, 1.0)}
