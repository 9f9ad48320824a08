"""`make bench-peers`: `tfkit serve` (batching off and on) and KServe's Python ModelServer, same SavedModel
signature, same request bytes, same load generator, one run.

KServe runs from its own venv (`.venv-peers`, bench/peers/requirements.lock: KServe 0.21 needs protobuf 6
and its own TensorFlow) through bench/peers/kserve_model.py. Each server gets the same 1-row REST body
(`{"instances": [...]}`: TF Serving's row format is KServe's V1 body) from wrk with 32 connections for
the same duration, one server at a time. Each server's answer to that body is checked first; the table
records how far KServe's prediction is from the kit's. Writes `<out>/peers.json`, `peers.png`,
`peers.md`, and the section between the peers markers of `<out>/README.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench.load import one_row, run_wrk, serving
from serving.launcher import REPO, free_port

CLIENTS = 32
SECONDS = 10.0
MODELS = ("linear", "ctr")
BATCHING = ("--enable_batching=true", "--batching_parameters_file=serving/batching.config")
SERVERS = ("kserve", "kserve-quiet", "tfkit", "tfkit+batching")
KSERVE_FLAGS = {"kserve": (), "kserve-quiet": ("--quiet",)}  # as shipped; no per-request log lines
GOALS = {"tfkit": 2.0, "tfkit+batching": 4.0}  # issue 12 goal 3: x KServe's throughput
MARKERS = ("<!-- peers:start -->", "<!-- peers:end -->")


def rows_body(inputs: dict[str, np.ndarray]) -> bytes:
    """`{"instances": [...]}` rows: bare values for a one-input signature, else {input: value} objects."""
    count = len(next(iter(inputs.values())))
    if len(inputs) == 1:
        instances: list[Any] = next(iter(inputs.values())).tolist()
    else:
        instances = [{k: v[i].tolist() for k, v in inputs.items()} for i in range(count)]
    return json.dumps({"instances": instances}).encode()


def _predictions(url: str, body: bytes) -> np.ndarray:
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    response.raise_for_status()
    return np.asarray(response.json()["predictions"], dtype=np.float64)


@contextlib.contextmanager
def kserve_server(
    python: Path, model: str, model_dir: Path, log: Path, *flags: str, timeout: float = 300
) -> Iterator[str]:
    """KServe's ModelServer for one model (its own venv); yields the REST base URL once the model is ready."""
    port, grpc_port = free_port(), free_port()
    script = REPO / "bench" / "peers" / "kserve_model.py"
    argv = [str(python), str(script), f"--model_name={model}", f"--model_dir={model_dir}",
            f"--http_port={port}", f"--grpc_port={grpc_port}", *flags]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"KServe exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/v1/models/{model}", timeout=2).json().get("ready"):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"KServe model {model} not ready after {timeout}s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _load(url: str, model: str, body: bytes, work: Path) -> dict[str, Any]:
    predict = f"{url}/v1/models/{model}:predict"
    answer = _predictions(predict, body)
    result = run_wrk(predict, body, CLIENTS, SECONDS, work).as_dict()
    return {**result, "prediction": answer.ravel().tolist()}


def measure(artifacts: Path, python: Path, work: Path) -> dict[str, Any]:
    probe = "from importlib.metadata import version as v; print(v('kserve'), v('tensorflow'))"
    version = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    manifest = json.loads((artifacts / "manifest.json").read_text())["models"]
    bodies = {m: rows_body(one_row(m, artifacts)) for m in MODELS}
    found: dict[str, dict[str, Any]] = {m: {} for m in MODELS}
    for model in MODELS:
        for name, flags in KSERVE_FLAGS.items():
            log = work / f"{name}-{model}.log"
            with kserve_server(python, model, artifacts / manifest[model]["path"], log, *flags) as url:
                found[model][name] = _load(url, model, bodies[model], work)
    for server, flags in (("tfkit", ()), ("tfkit+batching", BATCHING)):
        with serving(artifacts, *flags) as kit:
            for model in MODELS:
                found[model][server] = _load(f"http://127.0.0.1:{kit.rest_port}", model, bodies[model], work)
    for runs in found.values():
        reference = np.asarray(runs["tfkit"]["prediction"])
        for run in runs.values():
            run["max_abs_diff_vs_tfkit"] = float(np.max(np.abs(np.asarray(run["prediction"]) - reference)))
            run["x_kserve"] = run["rps"] / max(runs[k]["rps"] for k in KSERVE_FLAGS)  # the faster KServe
    return {
        "clients": CLIENTS,
        "seconds": SECONDS,
        "cpus": os.cpu_count(),
        "kserve": version[0],
        "kserve_tensorflow": version[1],
        "models": found,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.2
    for i, server in enumerate(SERVERS):
        values = [results["models"][m][server]["rps"] for m in MODELS]
        offset = (i - (len(SERVERS) - 1) / 2) * width
        bars = ax.bar([x + offset for x in range(len(MODELS))], values, width, label=server)
        for bar, model in zip(bars, MODELS, strict=True):
            p99 = results["models"][model][server]["p99_ms"]
            ax.annotate(f"p99 {p99:.0f} ms", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=6)  # fmt: skip
    ax.set_xticks(range(len(MODELS)), [f"{m} (1 row)" for m in MODELS])
    ax.set_ylabel("requests / s")
    ax.set_title(f"REST, {results['clients']} clients (wrk), KServe {results['kserve']} vs tfkit serve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Peers: KServe ModelServer vs tfkit serve (`make bench-peers`)\n",
        'Same SavedModel signature and the same 1-row `{"instances": [...]}` body for every server; '
        f"wrk, {results['clients']} connections, {results['seconds']:g} s each, one server at a time, "
        f"{results['cpus']} shared CPUs. KServe {results['kserve']} (Python ModelServer, 1 worker, "
        f"TensorFlow {results['kserve_tensorflow']}, its own venv) vs `tfkit serve` without and with "
        "serving/batching.config. KServe as shipped logs two lines per request; kserve-quiet turns them "
        "off. x KServe = over the faster KServe. Goals (issue 12): tfkit >= 2x KServe, with batching >= 4x. "
        "See peers.png.\n",
        "| model | server | req/s | x KServe | goal | p50 / p99 | failures | max abs diff vs tfkit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        for server in SERVERS:
            run = results["models"][model][server]
            goal = GOALS.get(server)
            met = goal is not None and run["x_kserve"] >= goal
            verdict = "-" if goal is None else f">= {goal:g}x {'met' if met else 'MISSED'}"
            lines.append(
                f"| {model} | {server} | {run['rps']:.0f} | {run['x_kserve']:.2f} | {verdict} | "
                f"{run['p50_ms']:.1f} / {run['p99_ms']:.1f} ms | {run['failures']} "
                f"| {run['max_abs_diff_vs_tfkit']:.1e} |"
            )
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, section: str) -> None:
    """Replace (or append) the peers section of the results README, between its markers."""
    start, end = MARKERS
    text = readme.read_text() if readme.is_file() else "# tfkit benchmark results\n"
    block = f"{start}\n{section.rstrip()}\n{end}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    readme.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.run", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--peer-python", type=Path, default=REPO / ".venv-peers" / "bin" / "python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as work:
        results = measure(args.artifacts.resolve(), args.peer_python, Path(work))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "peers.png")
    section = markdown(results)
    (args.out / "peers.md").write_text(section)
    update_readme(args.out / "README.md", section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
