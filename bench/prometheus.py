"""Run a real Prometheus on the kit's committed scrape config, pointed at a `tfkit serve` on loopback.

`serving/prometheus.yml` is rendered with only three changes: the scrape target becomes the given REST
address, the scrape and evaluation intervals shrink (1s by default), and the rule file path becomes
absolute. Everything else (job name, metrics path, labels, rules.yml) is what docker-compose runs.
Readiness is polled on Prometheus's own API; nothing sleeps blindly. Used by
tests/live/test_prometheus_live.py and bench/dashboard_png.py.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from serving.launcher import free_port
from serving.prometheus import DASHBOARD, SCRAPE_CONFIG


class PrometheusError(RuntimeError):
    """Prometheus is missing, exited, or did not reach the awaited state in time."""


def render_config(target: str, interval: str = "1s", source: Path = SCRAPE_CONFIG) -> dict[str, Any]:
    """The committed scrape config with `target` (host:port), `interval` and absolute rule paths."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["global"] = {
        **config.get("global", {}),
        "scrape_interval": interval,
        "evaluation_interval": interval,
    }
    config["rule_files"] = [str((source.parent / f).resolve()) for f in config.get("rule_files", [])]
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    static["targets"] = [target]
    return config


@dataclass(frozen=True)
class Panel:
    """One dashboard panel: its title, Grafana type and unit, and (PromQL, legend template) per target."""

    title: str
    kind: str
    unit: str
    targets: tuple[tuple[str, str], ...]


def dashboard_panels(rate_interval: str = "30s", model: str = ".*", path: Path = DASHBOARD) -> list[Panel]:
    """The Grafana dashboard's panels with its variables filled in as Grafana would (`$model` = All)."""
    dashboard = json.loads(path.read_text())

    def fill(expr: str) -> str:
        return expr.replace("$__rate_interval", rate_interval).replace("$model", model)

    return [
        Panel(
            p["title"],
            p["type"],
            p.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
            tuple((fill(t["expr"]), t.get("legendFormat", "")) for t in p["targets"]),
        )
        for p in dashboard["panels"]
        if p.get("targets")
    ]


@dataclass
class LivePrometheus:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.workdir / "prometheus.log").read_text(errors="replace")

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>: the `data` of a success answer (PrometheusError otherwise)."""
        r = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant vector of `expr` (at time `at`, default now)."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.api("query", **params)
        return list(data["result"])

    def values(self, expr: str, by: tuple[str, ...], at: float | None = None) -> dict[tuple[str, ...], float]:
        """`expr`'s samples keyed by the values of the labels `by`."""
        return {
            tuple(s["metric"].get(label, "") for label in by): float(s["value"][1])
            for s in self.query(expr, at)
        }

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return list(self.api("query_range", query=expr, start=start, end=end, step=step)["result"])

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll `ready()` until true; PrometheusError (with the log) after `timeout` or if it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(requests.RequestException, PrometheusError, ValueError):
                if ready():
                    return
            time.sleep(0.1)
        raise PrometheusError(f"timed out after {timeout}s waiting for {what}:\n{self.log()[-4000:]}")

    def wait_scraped_after(self, moment: float, timeout: float = 60.0) -> None:
        """Wait until every tfkit target was scraped (successfully) after the Unix time `moment`."""

        def scraped() -> bool:
            # timestamp() of a plain selector is the scrape time (of an expression, the query time).
            times = self.query('timestamp(up{job="tfkit-serving"})')
            up = self.query('up{job="tfkit-serving"}')
            return (
                bool(times)
                and all(float(s["value"][1]) > moment for s in times)
                and all(s["value"][1] == "1" for s in up)
            )

        self.wait(f"a scrape after {moment}", scraped, timeout)

    def wait_value(self, expr: str, expected: float, timeout: float = 60.0) -> None:
        """Wait until the scalar-like `expr` (one sample) equals `expected`."""

        def equal() -> bool:
            samples = self.query(expr)
            return len(samples) == 1 and math.isclose(float(samples[0]["value"][1]), expected)

        self.wait(f"{expr} == {expected}", equal, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def start_prometheus(target: str, interval: str = "1s", timeout: float = 60.0) -> LivePrometheus:
    """Start Prometheus on a free loopback port scraping `target`; returns once it is ready and its
    rules are loaded."""
    exe = prometheus_binary()
    if exe is None:
        raise PrometheusError("prometheus not found on PATH (Debian: apt-get install prometheus)")
    workdir = Path(tempfile.mkdtemp(prefix="tfkit-prometheus-"))
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(render_config(target, interval), sort_keys=False))
    port = free_port()
    argv = [
        exe,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    prometheus = LivePrometheus(proc, port, workdir)
    try:
        prometheus.wait("/-/ready", lambda: requests.get(f"{prometheus.url}/-/ready", timeout=5).ok, timeout)
        prometheus.wait("the rule groups", lambda: bool(prometheus.api("rules")["groups"]), timeout)
    except BaseException:
        prometheus.stop()
        raise
    return prometheus


@contextlib.contextmanager
def running_prometheus(target: str, interval: str = "1s") -> Iterator[LivePrometheus]:
    prometheus = start_prometheus(target, interval)
    try:
        yield prometheus
    finally:
        prometheus.stop()
