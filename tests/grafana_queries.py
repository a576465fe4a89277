"""The PromQL of Grafana dashboard JSON, with template variables substituted (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# $name, ${name}, ${name:format} and the deprecated [[name]] / [[name:format]]
VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels (collapsed rows keep theirs inside) included."""
    stack = list(reversed(dashboard.get("panels") or []))
    while stack:
        panel = stack.pop()
        yield panel
        stack.extend(reversed(panel.get("panels") or []))


def substitute(text: str, values: dict[str, str]) -> str:
    """Replaces every variable reference by its value; KeyError names one that has none."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        if name not in values:
            raise KeyError(f"no value for variable {name!r} in {text!r}")
        return values[name]

    return VARIABLE.sub(value, text)


def panel_queries(dashboard: dict[str, Any], values: dict[str, str]) -> list[tuple[str, str]]:
    """(panel title, expression with variables substituted) for every target of every panel."""
    return [
        (panel.get("title", ""), substitute(target["expr"], values))
        for panel in panels(dashboard)
        for target in panel.get("targets") or []
        if "expr" in target
    ]
