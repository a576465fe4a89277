"""deploy/prometheus/thingspace.rules.yml: promtool's checks and unit tests, and the conventions
every alert follows (name, severity, annotations, a runbook in the README, a unit test)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.needs import require

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "thingspace.rules.yml"
RULE_TESTS = RULES.with_name("thingspace.rules.test.yml")
README = ROOT / "README.md"


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def alerts() -> list[dict]:
    return [r for r in rules() if "alert" in r]


def recordings() -> list[dict]:
    return [r for r in rules() if "record" in r]


def test_promtool_checks_the_rules():
    promtool = require("promtool", "prometheus")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_unit_tests_pass():
    promtool = require("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_has_a_unit_test():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested_alerts = {t["alertname"] for group in tests for t in group.get("alert_rule_test", [])}
    firing = {t["alertname"] for group in tests for t in group.get("alert_rule_test", []) if t["exp_alerts"]}
    tested_records = {t["expr"] for group in tests for t in group.get("promql_expr_test", [])}
    assert {a["alert"] for a in alerts()} == tested_alerts == firing
    assert {r["record"] for r in recordings()} <= tested_records


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_alert_conventions(rule):
    assert re.fullmatch(r"ThingSpace(?:[A-Z][a-z0-9]+)+", rule["alert"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
    anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
    assert anchor == rule["alert"].lower()
    # the README has a heading of that name, which is where the anchor points
    assert re.search(rf"^#+ `?{rule['alert']}`?$", README.read_text(), re.MULTILINE), rule["alert"]


@pytest.mark.parametrize("rule", recordings(), ids=lambda r: r["record"])
def test_recording_rule_names_follow_level_metric_operations(rule):
    level, metric, operations = rule["record"].split(":")
    assert metric.startswith("thingspace_") and operations
    # the level names exactly the labels the rule keeps: those of a `sum by`, or of the rules it divides;
    # labels that share a first word are named by it (campaign_id and campaign_name: `campaign`)
    kept = [[label.strip() for label in by.split(",")] for by in re.findall(r"sum by \(([^)]*)\)", rule["expr"])]
    kept += [name.split(":")[0].split("_") for name in re.findall(r"\b\w+:\w+:\w+\b", rule["expr"])]
    named = [list(dict.fromkeys(label.split("_")[0] for label in labels)) for labels in kept]
    assert named and named[0] == level.split("_"), kept
