"""ModelManager on real SavedModels: resolution texts, policies, labels, polling, availability-preserving
transitions, failed versions, config reload."""

from __future__ import annotations

import gc
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.settings import ServerSettings
from serving.status import Code, FailedPrecondition, InvalidArgument, NotFound, ServingError, Unknown
from serving.types import ModelConfig, ModelSpec, State, VersionPolicy
from tests.unit.core_savedmodels import add_corrupt_version, add_version

X = np.array([1.0, 2.0, 5.0], np.float32)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def states(manager: ModelManager, name: str) -> dict[int, State]:
    return {s.version: s.state for s in manager.status(name)}


@pytest.fixture
def make_manager() -> Iterator[Callable[..., ModelManager]]:
    managers: list[ModelManager] = []

    def make(**flags: object) -> ModelManager:
        settings = ServerSettings(file_system_poll_wait_seconds=1, max_num_load_retries=0, **flags)  # type: ignore[arg-type]
        manager = ModelManager(settings, Metrics())
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.close()


def config(base: Path, name: str = "half", **kwargs: object) -> ModelConfig:
    return ModelConfig(name=name, base_path=str(base), **kwargs)  # type: ignore[arg-type]


def test_resolution_and_status_texts(tmp_path: Path, make_manager: Callable[..., ModelManager]) -> None:
    add_version(tmp_path / "half", 1)
    (tmp_path / "half" / "not-a-version").mkdir()
    manager = make_manager()
    manager.start([config(tmp_path / "half")])
    servable = manager.resolve(ModelSpec("half"))
    assert servable.version == 1
    np.testing.assert_allclose(servable.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    assert manager.resolve(ModelSpec("half", version=1)) is servable
    cases: list[tuple[ModelSpec, type[ServingError], str]] = [
        (ModelSpec("nope"), NotFound, "Servable not found for request: Latest(nope)"),
        (ModelSpec("half", version=7), NotFound, "Servable not found for request: Specific(half, 7)"),
        (ModelSpec("half", label="stable"), InvalidArgument, "Unrecognized servable version label: stable"),
        (ModelSpec(""), InvalidArgument, "ModelSpec has no name specified."),
    ]
    for spec, error, text in cases:
        with pytest.raises(error) as info:
            manager.resolve(spec)
        assert str(info.value) == text
    assert [(s.version, s.state, s.error_code) for s in manager.status("half")] == [
        (1, State.AVAILABLE, Code.OK)
    ]
    with pytest.raises(NotFound, match=r"^Could not find any versions of model nope$"):
        manager.status("nope")
    with pytest.raises(NotFound, match=r"^Could not find version 9 of model half$"):
        manager.status("half", 9)


def test_hot_add_is_availability_preserving(
    tmp_path: Path, make_manager: Callable[..., ModelManager]
) -> None:
    base = tmp_path / "half"
    add_version(base, 1)
    manager = make_manager()
    manager.start([config(base)])
    failures: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                servable = manager.resolve(ModelSpec("half"))
                servable.predict("", {"x": X})
                seen.add(servable.version)
            except BaseException as err:
                failures.append(err)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        add_version(base, 2, offset=3.0)
        wait_until(lambda: states(manager, "half") == {2: State.AVAILABLE, 1: State.END})
        wait_until(lambda: 2 in seen)
    finally:
        stop.set()
        worker.join()
    assert failures == []
    np.testing.assert_allclose(manager.resolve(ModelSpec("half")).predict("", {"x": X})["y"], [3.5, 4.0, 5.5])
    assert [s.version for s in manager.status("half")] == [2, 1]  # descending, END kept


def test_replaced_version_is_freed(tmp_path: Path, make_manager: Callable[..., ModelManager]) -> None:
    """core/basic_manager.cc BasicManager::ExecuteUnload: once a version is END its harness has unloaded
    the servable, so nothing keeps the model's graph and variables; each rollout frees the version it
    replaces (the kit once kept every version ever loaded: ~1.2 MiB more RSS per linear version)."""
    base = tmp_path / "half"
    add_version(base, 1)
    manager = make_manager()
    manager.start([config(base)])
    first = weakref.ref(manager.resolve(ModelSpec("half")))
    add_version(base, 2, offset=3.0)
    wait_until(lambda: states(manager, "half") == {2: State.AVAILABLE, 1: State.END})
    gc.collect()
    assert first() is None
    assert manager.resolve(ModelSpec("half")).version == 2


def test_unload_collects_the_version_in_a_frozen_heap(
    tmp_path: Path, make_manager: Callable[..., ModelManager]
) -> None:
    """As a server runs (serving.server freezes the module heap before loading): the manager's collection
    at unload frees the replaced version, with no collection of the test's own."""
    base = tmp_path / "half"
    add_version(base, 1)
    gc.collect()
    gc.freeze()
    try:
        manager = make_manager()
        manager.start([config(base)])
        first = weakref.ref(manager.resolve(ModelSpec("half")))
        add_version(base, 2, offset=3.0)
        wait_until(lambda: states(manager, "half") == {2: State.AVAILABLE, 1: State.END})
        assert first() is None
    finally:
        gc.unfreeze()


def test_corrupt_version_never_replaces_serving_one(
    tmp_path: Path, make_manager: Callable[..., ModelManager]
) -> None:
    base = tmp_path / "half"
    add_version(base, 1)
    manager = make_manager()
    manager.start([config(base)])
    add_corrupt_version(base, 2)
    wait_until(lambda: states(manager, "half").get(2) == State.END)
    status = {s.version: s for s in manager.status("half")}
    assert status[1].state == State.AVAILABLE
    assert status[2].error_code != Code.OK and str(base / "2") in status[2].error_message
    assert manager.resolve(ModelSpec("half")).version == 1
    # The failed version is not retried while aspired; a good newer version still replaces v1.
    add_version(base, 3)
    wait_until(lambda: states(manager, "half") == {3: State.AVAILABLE, 2: State.END, 1: State.END})


def test_removed_version_directory_unloads(tmp_path: Path, make_manager: Callable[..., ModelManager]) -> None:
    base = tmp_path / "half"
    add_version(base, 1)
    add_version(base, 2)
    manager = make_manager()
    manager.start([config(base, version_policy=VersionPolicy(kind="all"))])
    wait_until(lambda: states(manager, "half") == {2: State.AVAILABLE, 1: State.AVAILABLE})
    shutil.rmtree(base / "2")
    wait_until(lambda: states(manager, "half") == {2: State.END, 1: State.AVAILABLE})
    assert manager.resolve(ModelSpec("half")).version == 1


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (VersionPolicy(kind="latest", num_versions=2), {3: State.AVAILABLE, 2: State.AVAILABLE}),
        (VersionPolicy(kind="all"), {3: State.AVAILABLE, 2: State.AVAILABLE, 1: State.AVAILABLE}),
        (VersionPolicy(kind="specific", versions=(1, 7)), {1: State.AVAILABLE}),
        (VersionPolicy(), {3: State.AVAILABLE}),
    ],
)
def test_version_policies(
    tmp_path: Path,
    make_manager: Callable[..., ModelManager],
    policy: VersionPolicy,
    expected: dict[int, State],
) -> None:
    base = tmp_path / "half"
    for version in (1, 2, 3):
        add_version(base, version)
    manager = make_manager()
    manager.start([config(base, version_policy=policy)])  # returns once the first version settled
    wait_until(lambda: states(manager, "half") == expected)
    assert manager.resolve(ModelSpec("half")).version == max(expected)


def test_labels(tmp_path: Path, make_manager: Callable[..., ModelManager]) -> None:
    """server_core.cc ReloadConfig: labels are checked against what is AVAILABLE before the models load, so
    they are set by a reload once the versions are up."""
    base = tmp_path / "half"
    add_version(base, 1)
    add_version(base, 2, offset=3.0)
    manager = make_manager()
    policy = VersionPolicy(kind="all")
    manager.start([config(base, version_policy=policy)])
    wait_until(lambda: states(manager, "half") == {2: State.AVAILABLE, 1: State.AVAILABLE})
    manager.reload([config(base, version_policy=policy, version_labels={"stable": 1, "canary": 2})])
    assert manager.resolve(ModelSpec("half", label="stable")).version == 1
    assert manager.resolve(ModelSpec("half", label="canary")).version == 2
    with pytest.raises(InvalidArgument, match=r"^Unrecognized servable version label: beta$"):
        manager.resolve(ModelSpec("half", label="beta"))
    # Moving a label onto a version that is not loaded fails and keeps the old labels.
    with pytest.raises(FailedPrecondition) as info:
        manager.reload([config(base, version_policy=policy, version_labels={"stable": 5})])
    assert str(info.value) == (
        "Request to assign label to version 5 of model half, which is not currently available for inference"
    )
    assert manager.resolve(ModelSpec("half", label="stable")).version == 1
    # A config without labels drops them.
    manager.reload([config(base, version_policy=policy)])
    with pytest.raises(InvalidArgument, match=r"^Unrecognized servable version label: stable$"):
        manager.resolve(ModelSpec("half", label="stable"))


def test_labels_at_startup_need_the_allow_flag(
    tmp_path: Path, make_manager: Callable[..., ModelManager]
) -> None:
    """Nothing is AVAILABLE when the first config's labels are checked: even a label on the version
    that is about to load fails without --allow_version_labels_for_unavailable_models."""
    base = tmp_path / "half"
    add_version(base, 1)
    for labels in ({"next": 2}, {"now": 1}):
        manager = make_manager()
        with pytest.raises(FailedPrecondition) as info:
            manager.start([config(base, version_labels=labels)])
        version = next(iter(labels.values()))
        assert str(info.value) == (
            f"Request to assign label to version {version} of model half, which is not currently available "
            "for inference"
        )
        with pytest.raises(NotFound):
            manager.status("half")  # nothing was loaded: the labels failed first
    manager = make_manager(allow_version_labels_for_unavailable_models=True)
    manager.start([config(base, version_labels={"next": 2})])
    with pytest.raises(NotFound, match=r"^Servable not found for request: Specific\(half, 2\)$"):
        manager.resolve(ModelSpec("half", label="next"))
    add_version(base, 2)
    wait_until(lambda: states(manager, "half").get(2) == State.AVAILABLE)
    assert manager.resolve(ModelSpec("half", label="next")).version == 2
    # Moving an existing label to a version that is not AVAILABLE fails even with the flag.
    with pytest.raises(FailedPrecondition, match="version 7 of model half"):
        manager.reload([config(base, version_labels={"next": 7})])
    manager.reload([config(base, version_labels={"next": 2, "later": 9})])  # a new label may point anywhere
    assert manager.resolve(ModelSpec("half", label="next")).version == 2


def test_failed_initial_load_text(tmp_path: Path, make_manager: Callable[..., ModelManager]) -> None:
    add_corrupt_version(tmp_path / "bad", 4)
    with pytest.raises(Unknown) as info:
        make_manager().start([config(tmp_path / "bad", name="bad")])
    assert str(info.value).startswith(
        "1 servable(s) did not become available: {{{name: bad version: 4} due to error: "
    )
    assert str(info.value).endswith("}, }")


def test_reload_replaces_models(tmp_path: Path, make_manager: Callable[..., ModelManager]) -> None:
    add_version(tmp_path / "half", 1)
    add_version(tmp_path / "other", 5, offset=3.0)
    manager = make_manager()
    manager.start([config(tmp_path / "half")])
    manager.reload([config(tmp_path / "other", name="other")])  # blocks until "other" is AVAILABLE
    assert manager.resolve(ModelSpec("other")).version == 5
    wait_until(lambda: states(manager, "half") == {1: State.END})
    with pytest.raises(NotFound, match=r"Latest\(half\)"):
        manager.resolve(ModelSpec("half"))
    assert [c.name for c in manager.configs()] == ["other"]
    add_corrupt_version(tmp_path / "broken", 1)
    with pytest.raises(
        Unknown, match=r"^1 model\(s\) did not become available: \{\{\{name: broken version: 1\}"
    ):
        manager.reload([config(tmp_path / "other", name="other"), config(tmp_path / "broken", name="broken")])
    assert manager.resolve(ModelSpec("other")).version == 5


@pytest.mark.parametrize("enabled", [True, False])
def test_warmup_flag(tmp_path: Path, make_manager: Callable[..., ModelManager], enabled: bool) -> None:
    version = add_version(tmp_path / "half", 1)
    (version / "assets.extra").mkdir()
    (version / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"not a tfrecord")
    manager = make_manager(enable_model_warmup=enabled)
    if enabled:
        with pytest.raises(Unknown, match="Please verify your warmup data is in TFRecord format"):
            manager.start([config(tmp_path / "half")])
        assert manager.status("half")[0].error_code == Code.DATA_LOSS
    else:
        manager.start([config(tmp_path / "half")])
        assert states(manager, "half") == {1: State.AVAILABLE}


# -- serving.lifecycle: ServerCore's rules as pure functions ------------------------------------------


def test_version_labels_rules() -> None:
    """server_core.cc UpdateModelVersionLabelMap, with and without the allow flag."""
    from serving.lifecycle import version_labels

    base = "/m"
    available = {"m": {1, 2}}
    cases: list[tuple[dict[str, int], dict[str, dict[str, int]], bool, int | None]] = [
        ({"a": 1, "b": 2}, {}, False, None),  # both AVAILABLE
        ({"a": 3}, {}, False, 3),  # new label, version not AVAILABLE
        ({"a": 3}, {}, True, None),  # allowed: new label
        ({"a": 3}, {"m": {"a": 3}}, True, None),  # allowed: unchanged label
        ({"a": 3}, {"m": {"a": 3}}, False, 3),  # without the flag even an unchanged label needs AVAILABLE
        ({"a": 3}, {"m": {"a": 1}}, True, 3),  # moving an existing label needs AVAILABLE even with the flag
        ({"a": 2}, {"m": {"a": 1}}, False, None),  # moving onto an AVAILABLE version
    ]
    for labels, current, allow, failing in cases:
        configs = [ModelConfig("m", base, version_labels=labels)]
        if failing is None:
            assert version_labels(configs, available, current, allow) == {"m": labels}
        else:
            with pytest.raises(FailedPrecondition, match=f"^Request to assign label to version {failing} of"):
                version_labels(configs, available, current, allow)
    assert version_labels([ModelConfig("m", base)], available, {"m": {"a": 1}}, False) == {}


def test_platform_change_and_failure_texts() -> None:
    from serving.lifecycle import check_platforms, failure_text

    check_platforms({"m": "tensorflow"}, [ModelConfig("m", "/m"), ModelConfig("n", "/n", platform="x")])
    with pytest.raises(
        InvalidArgument, match=r"^Illegal to change a model's platform\. For model m platform"
    ):
        check_platforms({"m": "tensorflow"}, [ModelConfig("m", "/m", platform="x")])
    text = failure_text([("b", 2, None), ("a", 1, NotFound("gone"))], "model")
    assert text == (
        "2 model(s) did not become available: {{{name: a version: 1} due to error: NOT_FOUND: gone}, "
        "{{name: b version: 2}}, }"
    )


def test_slots_resize() -> None:
    from serving.lifecycle import Slots

    slots = Slots(0)  # 0 means one at a time, as upstream's num_load_threads=0
    inside: list[int] = []
    entered = threading.Event()

    def hold() -> None:
        with slots.hold():
            inside.append(1)
            entered.set()

    with slots.hold():
        worker = threading.Thread(target=hold)
        worker.start()
        assert not entered.wait(0.2) and inside == []
        slots.resize(2)  # a larger pool lets the waiting load in at once
        assert entered.wait(10)
    worker.join()
