"""Write the prod overlay's PrometheusRule from serving/prometheus/rules.yml (the one source of the rules).

    python -m serving.prometheus.prometheusrule > k8s/overlays/prod/monitoring/prometheusrule.yaml

tests/unit/test_prometheus_rules.py fails when the committed file differs from this output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from serving.prometheus import RULES

NAME = "tfkit-serving"
HEADER = (
    "# Generated from serving/prometheus/rules.yml by `python -m serving.prometheus.prometheusrule`: do not\n"
    "# edit, edit rules.yml. The Prometheus Operator loads it (label `release: tfkit` is what the\n"
    '# Prometheus resource\'s ruleSelector must match; see README "Operate").\n'
)


class _Literal(str):
    """A multi-line PromQL expression, written as a YAML block scalar."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def _blocks(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _blocks(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_blocks(v) for v in node]
    if isinstance(node, str) and "\n" in node:
        return _Literal(node)
    return node


def prometheus_rule(rules_path: Path = RULES) -> dict[str, Any]:
    """The PrometheusRule object (monitoring.coreos.com/v1) holding rules.yml's groups unchanged."""
    groups = yaml.safe_load(rules_path.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": NAME,
            "labels": {"release": "tfkit"},
        },
        "spec": {"groups": groups},
    }


def render(rules_path: Path = RULES) -> str:
    """The YAML text of the committed k8s/overlays/prod/monitoring/prometheusrule.yaml."""

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Literal, _literal)
    body = yaml.dump(_blocks(prometheus_rule(rules_path)), Dumper=Dumper, sort_keys=False, width=120)
    return HEADER + body


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
