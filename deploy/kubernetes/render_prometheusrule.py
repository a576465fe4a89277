"""Write base/prometheusrule.yaml from the one rules source, deploy/prometheus/thingspace.rules.yml.

    python deploy/kubernetes/render_prometheusrule.py    (or: make kubernetes-rules)

The rules file becomes the PrometheusRule's spec as it is, comments included; a test fails when
the two differ."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "prometheus" / "thingspace.rules.yml"
TARGET = HERE / "base" / "prometheusrule.yaml"
HEADER = """\
# Generated from deploy/prometheus/thingspace.rules.yml by deploy/kubernetes/render_prometheusrule.py
# (make kubernetes-rules): edit the rules there, not here.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: thingspace-exporter
  labels:
    app.kubernetes.io/name: thingspace-exporter
    app.kubernetes.io/component: exporter
spec:
"""


def render(rules: str) -> str:
    return HEADER + "".join(f"  {line}" if line.strip() else line for line in rules.splitlines(keepends=True))


def main() -> int:
    TARGET.write_text(render(SOURCE.read_text()))
    print(f"wrote {TARGET.relative_to(Path.cwd()) if TARGET.is_relative_to(Path.cwd()) else TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
