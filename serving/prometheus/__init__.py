"""The kit's Prometheus side: where its files live. rules.yml holds the SLO recording and alert rules
(tested with promtool by rules_test.yml); `prometheusrule` renders them as the prod overlay's
PrometheusRule. The runner for a real Prometheus used by tests and benchmarks is bench/prometheus.py."""

from pathlib import Path

SERVING = Path(__file__).resolve().parents[1]
SCRAPE_CONFIG = SERVING / "prometheus.yml"
RULES = Path(__file__).resolve().parent / "rules.yml"
DASHBOARD = SERVING / "grafana" / "dashboards" / "tfkit-serving.json"
