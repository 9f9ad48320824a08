"""k8s/training: the Spark data Job, the Indexed training Job with its headless Service, the publish Job.

Offline, like the serving manifests: `kubectl kustomize`, kubernetes-validate strict, checkov and hadolint;
plus what the kit promises: each pod's TF_CONFIG (built by the pod's own shell script, run here) lists
every worker at its DNS name, and the Jobs' command lines parse with the kit's own CLIs.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from k8s.manifests import Doc, find, load_documents
from k8s.render import K8S_DIR, kustomize

KUBERNETES_VERSION = "1.34.0"
TRAINING = K8S_DIR / "training"
REPO = K8S_DIR.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return load_documents(kustomize(TRAINING))


def _container(job: Doc, name: str) -> Doc:
    return dict(next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == name))


def _env(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_every_object_validates_strictly(docs: list[Doc]) -> None:
    kinds = sorted(d["kind"] for d in docs)
    jobs = ["Job", "Job", "Job"]
    rbac = ["Role", "RoleBinding", "ServiceAccount"]
    assert kinds == sorted(
        [*jobs, *rbac, "ConfigMap", "Namespace", "NetworkPolicy", "PersistentVolumeClaim", "Service"]
    )
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _tf_config(script: str, index: int, workers: str) -> dict[str, Any]:
    """Run the pod's own script with `exec tfkit ...` replaced by printing TF_CONFIG."""
    head, _, _ = script.partition("exec tfkit")
    env = {"PATH": os.environ["PATH"], "JOB_COMPLETION_INDEX": str(index), "WORKERS": workers}
    out = subprocess.run(["/bin/sh", "-c", head + 'printf "%s" "$TF_CONFIG"'], env=env, capture_output=True)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_each_indexed_pod_gets_its_tf_config_from_its_index(docs: list[Doc]) -> None:
    job = find(docs, "Job", "tfkit-train")
    service = find(docs, "Service", "tfkit-train")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    trainer = _container(job, "trainer")
    workers = _env(trainer)["WORKERS"]
    assert spec["completionMode"] == "Indexed" and spec["suspend"] is True  # started after the data Job
    assert find(docs, "Job", "tfkit-publish")["spec"]["suspend"] is True
    assert spec["completions"] == spec["parallelism"] == int(workers)
    assert pod["subdomain"] == service["metadata"]["name"] and pod["restartPolicy"] == "OnFailure"
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": job["metadata"]["name"]}
    port = service["spec"]["ports"][0]["port"]
    assert [p["containerPort"] for p in trainer["ports"]] == [port]
    hosts = [
        f"{job['metadata']['name']}-{i}.{service['metadata']['name']}:{port}" for i in range(int(workers))
    ]
    for index in range(int(workers)):
        config = _tf_config(trainer["args"][0], index, workers)
        assert config == {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}


def _exec_line(script: str) -> list[str]:
    tail = script.partition("exec ")[2].replace("\\\n", " ")
    return shlex.split(tail.replace('"$EPOCHS"', "4"))


def test_job_command_lines_parse_with_the_kit_clis(docs: list[Doc]) -> None:
    from export.spark_data import add_arguments
    from tfkit.cli import build_parser

    trainer = _container(find(docs, "Job", "tfkit-train"), "trainer")
    argv = _exec_line(trainer["args"][0])
    assert argv[0] == "tfkit"
    args = build_parser().parse_args(argv[1:])
    assert (args.strategy, args.export, str(args.data_dir)) == ("multi-worker", True, "/data/ctr")

    spark = _container(find(docs, "Job", "tfkit-spark-data"), "spark")
    script = next(a for a in spark["args"] if a.endswith(".py"))
    assert script == "/app/export/spark_data.py" and (REPO / "export" / "spark_data.py").is_file()
    job_args = spark["args"][spark["args"].index(script) + 1 :]
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    add_arguments(parser, master_default=None)
    parsed = parser.parse_args([a.replace("$(SHARDS)", "16") for a in job_args])
    assert parsed.master is None  # spark-submit's --master rules
    assert _env(spark)["SPARK_IMAGE"] == spark["image"]  # executors run the driver's image


def test_config_refs_resolve_and_images_are_mapped(docs: list[Doc]) -> None:
    import yaml

    run = find(docs, "ConfigMap")
    mapped = yaml.safe_load((TRAINING / "kustomization.yaml").read_text())["images"]
    images = {f"{i['newName']}:{i['newTag']}" for i in mapped}
    for job in (d for d in docs if d["kind"] == "Job"):
        pod = job["spec"]["template"]["spec"]
        for item in [*pod.get("initContainers", []), *pod["containers"]]:
            assert item["image"] in images, item["image"]  # every image comes from the one `images:` list
            for env in item.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["name"] == run["metadata"]["name"] and ref["key"] in run["data"], env
            security = item["securityContext"]
            assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
            assert security["capabilities"]["drop"] == ["ALL"] and set(item["resources"]) == {
                "requests",
                "limits",
            }
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_checkov_and_hadolint_pass(tmp_path: Path) -> None:
    rendered = tmp_path / "training.yaml"
    rendered.write_text(kustomize(TRAINING))
    dockerfile = TRAINING / "Dockerfile"
    argv = [str(BIN / "checkov"), "--config-file", str(REPO / ".checkov.yaml"), "-o", "json"]
    argv += ["-f", str(rendered), "-f", str(dockerfile)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    by_type = {r["check_type"]: r for r in reports}
    assert set(by_type) == {"kubernetes", "dockerfile"}
    for report in by_type.values():
        failures = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
        assert failures == [] and report["summary"]["passed"] > 0, failures
    lint = [str(BIN / "hadolint"), "--config", str(REPO / ".hadolint.yaml"), str(dockerfile)]
    result = subprocess.run(lint, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
