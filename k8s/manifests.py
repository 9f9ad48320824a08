"""Read what the rendered manifests say about the TF Serving process.

The tests use these to prove the drop-in claim: the exact argument list of the serving container (the k8s
Deployment), with its container paths mapped to local ones, starts `tfkit serve`. Nothing here talks to
a cluster. (The Dockerfile and Makefile readers the tests use live in tests/support/dockerfiles.py.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

SERVING_CONTAINER = "tensorflow-serving"
PORT_FLAGS = ("--port", "--rest_api_port")

Doc = dict[str, Any]


class ManifestError(ValueError):
    """A manifest or Dockerfile lacks what the kit expects (names the file/object and the missing part)."""


def load_documents(text: str) -> list[Doc]:
    """Every non-empty YAML document of a multi-document stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    """The single object of `kind` (and `name`, if given); ManifestError if there is none or several."""
    hits = [d for d in docs if d.get("kind") == kind and name in (None, d["metadata"]["name"])]
    if len(hits) != 1:
        raise ManifestError(f"expected exactly one {kind} {name or ''}, found {len(hits)}")
    return hits[0]


def pod_spec(deployment: Doc) -> Doc:
    return dict(deployment["spec"]["template"]["spec"])


def container(deployment: Doc, name: str = SERVING_CONTAINER) -> Doc:
    """A container of the Deployment's pod template by name."""
    for item in pod_spec(deployment).get("containers", []):
        if item["name"] == name:
            return dict(item)
    raise ManifestError(f"Deployment {deployment['metadata']['name']} has no container {name!r}")


def flag_map(args: Iterable[str]) -> dict[str, str]:
    """`--name=value` arguments as {"--name": "value"}; ManifestError for any other form."""
    out: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not (name.startswith("--") and sep):
            raise ManifestError(f"argument {arg!r} is not in --flag=value form")
        out[name] = value
    return out


def configmap_mounts(deployment: Doc, container_name: str = SERVING_CONTAINER) -> dict[str, str]:
    """{mountPath: ConfigMap name} for the ConfigMap volumes mounted into the container."""
    volumes = {
        v["name"]: v["configMap"]["name"] for v in pod_spec(deployment).get("volumes", []) if "configMap" in v
    }
    mounts = container(deployment, container_name).get("volumeMounts", [])
    return {m["mountPath"]: volumes[m["name"]] for m in mounts if m["name"] in volumes}


def materialize_configmap(configmap: Doc, directory: Path) -> Path:
    """Write a ConfigMap's data as files into `directory`, as the kubelet does for a volume; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in configmap.get("data", {}).items():
        (directory / key).write_text(value)
    return directory


def local_flags(
    args: Iterable[str], file_dirs: Mapping[str, Path], model_dirs: Mapping[str, Path]
) -> list[str]:
    """The container's flags for `tfkit serve` on this machine.

    File-valued flags under a container directory in `file_dirs` are rewritten to the local directory; the
    models' base paths (inside models.config) are mapped with `--tfkit_path_map=<container>=<local>`; the
    port flags are dropped (the caller picks free ports). Everything else is passed through unchanged.
    """
    out = []
    for arg in args:
        name, _, value = arg.partition("=")
        if name in PORT_FLAGS:
            continue
        for container_dir, local_dir in file_dirs.items():
            prefix = container_dir.rstrip("/") + "/"
            if value.startswith(prefix):
                arg = f"{name}={local_dir / value[len(prefix) :]}"
        out.append(arg)
    return out + [f"--tfkit_path_map={c}={local}" for c, local in model_dirs.items()]
