"""serving/Dockerfile and serving/Dockerfile.models agree with the k8s manifests and `make serve`: the same
binary flags, config files, ports, image and model layout; their build contexts stay small."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from docker.utils.build import exclude_paths

from k8s.manifests import (
    ManifestError,
    container,
    find,
    flag_map,
    load_documents,
    local_flags,
    pod_spec,
)
from k8s.render import K8S_DIR, OVERLAYS_DIR, kustomize
from serving.flags import NO_EFFECT_FLAGS, UPSTREAM_FLAGS, parse_command_line
from tests.support.dockerfiles import (
    dockerfile_copies,
    dockerfile_entrypoint,
    dockerfile_instructions,
    makefile_variable,
)

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "serving" / "Dockerfile"
MODELS_DOCKERFILE = REPO / "serving" / "Dockerfile.models"
CONFIGS = ("models.config", "batching.config", "monitoring.config")


@pytest.fixture(scope="module")
def deployment() -> dict:
    return find(load_documents(kustomize(OVERLAYS_DIR / "dev")), "Deployment", "tfkit-serving")


def instruction(path: Path, keyword: str) -> list[str]:
    return [rest for key, rest in dockerfile_instructions(path) if key == keyword]


def config_dir_of(args: list[str]) -> str:
    return str(Path(flag_map(args)["--model_config_file"]).parent)


def test_entrypoint_is_the_binary_with_the_k8s_args(deployment: dict) -> None:
    entrypoint = dockerfile_entrypoint(DOCKERFILE)
    serving = container(deployment)
    assert entrypoint == [*serving["command"], *serving["args"]]


def test_make_serve_runs_the_same_flags_on_the_repo_configs(deployment: dict) -> None:
    make_flags = shlex.split(makefile_variable(REPO / "Makefile", "SERVE_FLAGS"))
    args = container(deployment)["args"]
    container_dir = config_dir_of(args)
    assert make_flags == [arg.replace(container_dir + "/", "serving/") for arg in args]


def test_dockerfile_and_make_serve_args_parse_as_the_binary_reads_them() -> None:
    """serving/flags.py is the one flag table: every argument is an upstream flag in `--name=value` form."""
    for args in (
        dockerfile_entrypoint(DOCKERFILE)[1:],
        shlex.split(makefile_variable(REPO / "Makefile", "SERVE_FLAGS")),
    ):
        given = parse_command_line(args)["__given__"]
        assert set(given) <= {f.name for f in UPSTREAM_FLAGS} and not set(given) & set(NO_EFFECT_FLAGS)


def test_the_configs_the_flags_name_are_copied_into_the_image() -> None:
    args = dockerfile_entrypoint(DOCKERFILE)[1:]
    config_dir = config_dir_of(args)
    copies = dict((dest.rstrip("/"), sources) for sources, dest in dockerfile_copies(DOCKERFILE))
    assert copies[config_dir] == [f"serving/{name}" for name in CONFIGS]
    for flag in ("--model_config_file", "--batching_parameters_file", "--monitoring_config_file"):
        local = REPO / "serving" / Path(flag_map(args)[flag]).name
        assert local.is_file(), f"{flag} names {local}, which does not exist"
    assert copies["/models"] == ["${MODELS}"]
    assert "MODELS=artifacts/models" in instruction(DOCKERFILE, "ARG")


def test_image_ports_user_and_base_match_k8s(deployment: dict) -> None:
    flags = flag_map(dockerfile_entrypoint(DOCKERFILE)[1:])
    assert instruction(DOCKERFILE, "EXPOSE") == [f"{flags['--port']} {flags['--rest_api_port']}"]
    uid, _, gid = instruction(DOCKERFILE, "USER")[-1].partition(":")
    assert int(uid) == pod_spec(deployment)["securityContext"]["runAsUser"] and int(gid) > 0
    kustomization = yaml.safe_load((K8S_DIR / "base" / "kustomization.yaml").read_text())
    server = next(i for i in kustomization["images"] if i["name"] == "tensorflow-serving")
    assert instruction(DOCKERFILE, "FROM") == [f"{server['newName']}:{server['newTag']}"]
    assert instruction(DOCKERFILE, "HEALTHCHECK"), "compose waits on the image's health check"


def test_models_image_copies_into_the_init_containers_mount(deployment: dict) -> None:
    (sources, destination), *rest = dockerfile_copies(MODELS_DOCKERFILE)
    assert sources == ["${MODELS}"] and not rest
    entrypoint = dockerfile_entrypoint(MODELS_DOCKERFILE)
    assert entrypoint[:2] == ["/bin/cp", "-R"] and entrypoint[2] == f"{destination}/."
    init = next(c for c in pod_spec(deployment)["initContainers"] if c["name"] == "models")
    assert entrypoint[3].rstrip("/") in {m["mountPath"] for m in init["volumeMounts"]}
    assert "command" not in init and "args" not in init, "the image's entrypoint does the copy"
    uid = instruction(MODELS_DOCKERFILE, "USER")[-1].partition(":")[0]
    assert int(uid) > 10000


def test_build_context_sends_configs_and_models_only(tmp_path: Path) -> None:
    ignore = REPO / "serving" / "Dockerfile.dockerignore"
    assert (REPO / "serving" / "Dockerfile.models.dockerignore").resolve() == ignore.resolve()
    wanted = [*(f"serving/{name}" for name in CONFIGS), "artifacts/models/ctr/1/saved_model.pb"]
    wanted += ["test-artifacts/export/models/linear/2/variables/variables.index"]
    unwanted = [".venv/lib/x.py", "node_modules/a/b.js", ".git/HEAD", "artifacts/data/ctr/train.tfrecord"]
    unwanted += ["artifacts/tflite/ctr/int8.tflite", "artifacts/tfjs/ctr/float32/model.json", "web/app.js"]
    for name in wanted + unwanted:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip()[:1] not in ("", "#")]
    context = exclude_paths(str(tmp_path), patterns)
    assert set(wanted) <= context
    assert not context & set(unwanted)


def test_readers_name_what_is_wrong(tmp_path: Path) -> None:
    shell_form = tmp_path / "Dockerfile"
    shell_form.write_text("FROM busybox:1.37.0\nENTRYPOINT tensorflow_model_server --port=8500\n")
    with pytest.raises(ManifestError, match="not exec form"):
        dockerfile_entrypoint(shell_form)
    shell_form.write_text("FROM busybox:1.37.0\n")
    with pytest.raises(ManifestError, match="no ENTRYPOINT"):
        dockerfile_entrypoint(shell_form)
    with pytest.raises(ManifestError, match="--flag=value"):
        flag_map(["--port", "8500"])
    with pytest.raises(ManifestError, match="no variable NOPE"):
        makefile_variable(REPO / "Makefile", "NOPE")


def test_local_flags_maps_container_paths_and_drops_ports() -> None:
    args = [
        "--port=8500",
        "--rest_api_port=8501",
        "--model_config_file=/etc/tfserving/models.config",
        "--x=1",
    ]
    mapped = local_flags(args, {"/etc/tfserving": Path("/repo/serving")}, {"/models": Path("/a/models")})
    assert mapped == [
        "--model_config_file=/repo/serving/models.config",
        "--x=1",
        "--tfkit_path_map=/models=/a/models",
    ]
