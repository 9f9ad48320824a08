"""Upstream's ServerCore cases as data, run end to end against live `tfkit serve` processes.

Sources (TF Serving 2.19.0): model_servers/server_core_test.cc (one row per TEST_P named below),
model_servers/server_core.cc (ReloadConfig, UpdateModelVersionLabelMap, WaitUntilModelsAvailable),
model_servers/server.cc (PollFilesystemAndReloadConfig), model_servers/model_service_impl.cc
(HandleReloadConfigRequest) and model_servers/tensorflow_model_server_test.py (testModelConfigReload).

Each row is a list of steps on one of three servers (rows run in order; a reload replaces the whole
model list, so the rows about each server's startup config come first): `core` (default flags), `allow`
(--allow_version_labels_for_unavailable_models) and `poll` (--model_config_file_poll_wait_seconds=1,
steps rewrite its config file). Every row uses its own model names, so rows do not see each other's
versions. Rows about a failing start run `tfkit serve` to its exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import start_server
from tests.support.upstream_core import (
    AVAILABLE,
    BOGUS_VERSION,
    END,
    LARGER_VERSION,
    VERSION,
    Case,
    Predict,
    Reload,
    Running,
    Start,
    States,
    cfg,
    first_response_is_available,
    half_plus_models,
    model_config,
    run_step,
    wait_up,
)

pytestmark = pytest.mark.live
TWO_VERSIONS = {VERSION: AVAILABLE, LARGER_VERSION: AVAILABLE}
NOT_AVAILABLE = "which is not currently available for inference"


# fmt: off
CASES = [
    Case("server_core_test.cc CreateWaitsTillModelsAvailable (ports open only after the load)", "core", (
        States("start", {VERSION: AVAILABLE}, now=True),
        Predict("start", {"version": VERSION}, 3.0, VERSION),
    )),
    Case("server_core.cc ReloadConfig + --allow_version_labels_for_unavailable_models: labels at startup",
         "allow", (
        States("canary", TWO_VERSIONS),
        Predict("canary", {"version_label": "stable"}, 3.0, VERSION),
        Predict("canary", {"version_label": "canary"}, 4.0, LARGER_VERSION),
    )),
    Case("server_core_test.cc ReloadConfigWaitsTillModelsAvailable", "core",
         (Reload((("m_wait", "one"),)), States("m_wait", {VERSION: AVAILABLE}, now=True))),
    Case("server_core_test.cc ReloadConfigUnloadsModels", "core",
         (Reload((("m_unload", "one"),)), Reload(()), States("m_unload", {VERSION: END}))),
    Case("server_core_test.cc ReloadConfigHandlesLoadingAPreviouslyUnloadedModel", "core", (
        Reload((("m_again", "one"),)),
        Reload(()),
        States("m_again", {VERSION: END}),
        Reload((("m_again", "one"),)),
        States("m_again", {VERSION: AVAILABLE}, now=True),
    )),
    Case("server_core_test.cc ReloadConfigChangeModelBasePath", "core", (
        Reload((("m_path", "one"),)),
        Reload((("m_path", "two"),), policy="all {}"),
        Predict("m_path", {}, 4.0, LARGER_VERSION),
        Reload((("m_path", "one"),)),
        States("m_path", {VERSION: AVAILABLE, LARGER_VERSION: END}),
        Predict("m_path", {}, 3.0, VERSION),
    )),
    Case("server_core_test.cc RelativePathFails", "core", (
        Reload(
            (("m_rel", "relative/one"),),
            code="INVALID_ARGUMENT",
            text="Expected model m_rel to have an absolute path or URI; got base_path()=relative/one",
        ),
    )),
    Case("server_core_test.cc MixedAbsoluteRelativeFails", "core", (
        Reload(
            (("m_abs", "one"), ("m_rel2", "relative/one")),
            code="INVALID_ARGUMENT",
            text="Expected model m_rel2 to have an absolute path or URI",
        ),
        States("m_abs", {}, now=True),
    )),
    Case("server_core_test.cc AbsolutePathSucceeds", "core",
         (Reload((("m_absolute", "one"),)), Predict("m_absolute", {}, 3.0, VERSION))),
    Case("server_core_test.cc ErroringModel (first config: servable(s) text, exit 255 as main.cc)", "none", (
        Start(
            model_config(("broken", Path("{broken}"))),
            text="Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available: "
            f"{{{{{{name: broken version: {VERSION}}} due to error: ",
            ends_with="}, }",
        ),
    )),
    Case("server_core.cc WaitUntilModelsAvailable: a new model failing on reload (model(s) text)", "core", (
        Reload(
            (("m_broken", "broken"),),
            code="UNKNOWN",
            text="1 model(s) did not become available: "
            f"{{{{{{name: m_broken version: {VERSION}}} due to error: ",
        ),
    )),
    Case("server_core_test.cc IllegalReconfigurationToCustomConfig (HandleReloadConfigRequest)", "core", (
        Reload(
            (),
            raw='custom_model_config { type_url: "x" }',
            code="INVALID_ARGUMENT",
            text="ServerModelConfig type not supported by HandleReloadConfigRequest. "
            "Only ModelConfigList "
            "is currently supported",
        ),
    )),
    Case("server_core_test.cc IllegalReconfigurationToCustomConfig (config file poll)", "poll", (
        Reload(
            (),
            raw='custom_model_config { type_url: "x" }',
            text="PollFilesystemAndReloadConfig failed to ReloadConfig: Cannot transition to requested "
            "config. It is only legal to transition from one ModelConfigList to another.",
        ),
    )),
    Case("server_core_test.cc IllegalReconfigurationFromCustomConfig (custom config at start)", "none", (
        Start(
            'custom_model_config { type_url: "x" }',
            text="ModelServer does not yet support custom model config.",
        ),
    )),
    Case("server_core_test.cc IllegalConfigModelTypeAndPlatformSet", "core", (
        Reload(
            (),
            raw="model_config_list { "
            + cfg("m_both", "one", 'model_type: TENSORFLOW model_platform: "tensorflow"')
            + " }",
            code="INVALID_ARGUMENT",
            text="Illegal setting both ModelServerConfig::model_type (deprecated) and "
            "ModelServerConfig::model_platform, model name is m_both",
        ),
    )),
    Case("server_core_test.cc DeprecatedModelTypeConfig", "core", (
        Reload((), raw="model_config_list { " + cfg("m_type", "one", "model_type: TENSORFLOW") + " }"),
        Predict("m_type", {}, 3.0, VERSION),
    )),
    Case("server_core_test.cc DuplicateModelNameInConfig", "core", (
        Reload(
            (("m_dup", "one"), ("m_dup", "three")),
            code="INVALID_ARGUMENT",
            text="Illegal to list model m_dup multiple times in config list",
        ),
    )),
    Case("server_core_test.cc UnknownModelPlatform", "core", (
        Reload(
            (),
            raw="model_config_list { "
            + cfg("m_platform", "one", 'model_platform: "not_a_known_platform"')
            + " }",
            code="INVALID_ARGUMENT",
            text="Model m_platform requests unsupported platform not_a_known_platform",
        ),
    )),
    Case("server_core_test.cc IllegalToChangeModelPlatform", "core", (
        Reload((("m_change", "one"),)),
        Reload(
            (),
            raw="model_config_list { " + cfg("m_change", "one", 'model_platform: "platform_1"') + " }",
            code="INVALID_ARGUMENT",
            text="Illegal to change a model's platform. For model m_change platform was tensorflow "
            "and new "
            "platform requested is platform_1",
        ),
    )),
    Case("server_core_test.cc ModelSpecMultipleVersionsAvailable", "core", (
        Reload((("m_multi", "two"),), policy="all {}"),
        States("m_multi", TWO_VERSIONS),
        Predict("m_multi", {}, 4.0, LARGER_VERSION),
        Predict("m_multi", {"version": VERSION}, 3.0, VERSION),
        Reload((("m_multi", "two"),), policy="all {}", labels={"A": VERSION, "B": LARGER_VERSION}),
        Predict("m_multi", {"version_label": "A"}, 3.0, VERSION),
        Predict("m_multi", {"version_label": "B"}, 4.0, LARGER_VERSION),
        Predict(
            "m_multi",
            {"version_label": "nonexistent label"},
            code="INVALID_ARGUMENT",
            text="Unrecognized servable version label: nonexistent label",
        ),
    )),
    Case("server_core_test.cc AssignLabelToUnavailableVersion", "core", (
        Reload((("m_label", "two"),), policy="all {}"),
        States("m_label", TWO_VERSIONS),
        Reload(
            (("m_label", "two"),),
            policy="all {}",
            labels={"nice try": BOGUS_VERSION},
            code="FAILED_PRECONDITION",
            text=f"Request to assign label to version {BOGUS_VERSION} of model m_label, {NOT_AVAILABLE}",
        ),
    )),
    Case("server_core_test.cc AssignLabelToUnavailableVersionAllowed", "allow", (
        Reload((("m_label_ok", "two"),), policy="all {}"),
        States("m_label_ok", TWO_VERSIONS),
        Reload((("m_label_ok", "two"),), policy="all {}", labels={"nice try": BOGUS_VERSION}),
    )),
    Case("server_core_test.cc AssignExistingLabelToUnavailableVersionDisallowed", "allow", (
        Reload((("m_move", "two"),), policy="all {}"),
        States("m_move", TWO_VERSIONS),
        Reload((("m_move", "two"),), policy="all {}", labels={"A": VERSION, "B": LARGER_VERSION}),
        Reload(
            (("m_move", "two"),),
            policy="all {}",
            labels={"A": BOGUS_VERSION, "B": LARGER_VERSION},
            code="FAILED_PRECONDITION",
            text=f"Request to assign label to version {BOGUS_VERSION} of model m_move, {NOT_AVAILABLE}",
        ),
        Predict("m_move", {"version_label": "A"}, 3.0, VERSION),
    )),
    Case("server_core_test.cc AssignExistingLabelToUnavailableVersionAllowed (force_allow_any_version_labels_"
         "for_unavailable_models has no flag in main.cc)", "none", (
        Start(
            "",
            flags=("--force_allow_any_version_labels_for_unavailable_models=true",),
            exit_code=2,
            text="Unknown flag --force_allow_any_version_labels_for_unavailable_models",
        ),
    )),
    Case("server_core.cc ReloadConfig: labels are checked before the first config's models load", "none", (
        Start(
            model_config(("linear", Path("{one}")), labels={"stable": VERSION}),
            text="Failed to start server. Error: FAILED_PRECONDITION: Request to assign label to version "
            f"{VERSION} of model linear, {NOT_AVAILABLE}",
        ),
    )),
    Case("server_core.cc ReloadConfig: adding a version and labelling it in one reload fails", "core", (
        Reload((("m_same", "two"),), policy=f"specific {{ versions: {VERSION} }}"),
        Reload(
            (("m_same", "two"),),
            policy=f"specific {{ versions: {VERSION} versions: {LARGER_VERSION} }}",
            labels={"canary": LARGER_VERSION},
            code="FAILED_PRECONDITION",
            text=f"Request to assign label to version {LARGER_VERSION} of model m_same, {NOT_AVAILABLE}",
        ),
        States("m_same", {VERSION: AVAILABLE}, now=True),
    )),
    Case("server.cc PollFilesystemAndReloadConfig: a version labelled in the update that adds it", "poll", (
        Reload((("m_poll", "two"),), policy=f"specific {{ versions: {VERSION} }}"),
        States("m_poll", {VERSION: AVAILABLE}),
        Reload(
            (("m_poll", "two"),),
            policy=f"specific {{ versions: {VERSION} versions: {LARGER_VERSION} }}",
            labels={"canary": LARGER_VERSION},
            text="PollFilesystemAndReloadConfig failed to ReloadConfig: "
            "Request to assign label to version "
            f"{LARGER_VERSION} of model m_poll, {NOT_AVAILABLE}",
        ),
        States("m_poll", {VERSION: AVAILABLE}, now=True),
    )),
    Case("server.cc PollFilesystemAndReloadConfig: a file that does not parse keeps the models", "poll", (
        Reload((("m_keep", "one"),)),
        States("m_keep", {VERSION: AVAILABLE}),
        Reload((), raw="model_config_list { nonsense }", text="Failed to read ModelServerConfig file: "),
        Predict("m_keep", {}, 3.0, VERSION),
    )),
    Case("tensorflow_model_server_test.py testModelConfigReload", "poll", (
        Reload((("half_plus_two", "one"),)),
        Predict("half_plus_two", {}, 3.0, VERSION),
        Reload((("half_plus_three", "three"),)),
        Predict("half_plus_three", {}, 4.0, VERSION),
    )),
]
# fmt: on


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return half_plus_models(tmp_path_factory.mktemp("upstream-models"))


@pytest.fixture(scope="module")
def servers(
    models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Running]]:
    root = tmp_path_factory.mktemp("upstream-configs")
    started: dict[str, Running] = {}
    setups = {
        "core": (model_config(("start", models["one"])), ()),
        "allow": (
            model_config(
                ("canary", models["two"]),
                policy="all {}",
                labels={"stable": VERSION, "canary": LARGER_VERSION},
            ),
            ("--allow_version_labels_for_unavailable_models=true",),
        ),
        "poll": ("model_config_list {}", ("--model_config_file_poll_wait_seconds=1",)),
    }
    try:
        for name, (text, flags) in setups.items():
            config_file = root / f"{name}.config"
            config_file.write_text(text)
            base = [f"--model_config_file={config_file}", "--max_num_load_retries=0", *flags]
            started[name] = Running(start_server(base), config_file)
        first_response_is_available(started["core"].live, "start")
        started["allow"].live.wait_for("canary")
        wait_up(started["poll"].live)
        yield started
    finally:
        for running in started.values():
            running.live.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_server_core_case(case: Case, servers: dict[str, Running], models: dict[str, Path]) -> None:
    running = servers.get(case.server)
    for step in case.steps:
        run_step(step, running, models, poll=case.server == "poll")
