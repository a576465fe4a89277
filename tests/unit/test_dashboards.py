"""The Grafana dashboards: generated from grafana/generate.py, wired to their variables, and every
query names only metrics that exist (the exporter's, the recording rules', Prometheus' own)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from thingspace_exporter.collectors import REGISTRY
from thingspace_exporter.metrics import ExporterMetrics

from tests.grafana_queries import panel_queries, panels

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "grafana" / "generate.py"
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
FILES = {"thingspace-fleet": "thingspace-fleet.json", "thingspace-exporter": "thingspace-exporter.json"}
RULES_FILE = ROOT / "deploy" / "prometheus" / "thingspace.rules.yml"

# What the end-to-end test substitutes before running every query against a real Prometheus.
VALUES = {
    "datasource": "",
    "account": ".*",
    "make": ".*",
    "model": ".*",
    "stale_after": "86400.0",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}

RECORDING_RULES = {
    "account:thingspace_devices:sum",
    "account_status:thingspace_devices:sum",
    "account_make_model:thingspace_devices:sum",
    "account_make_model_firmware:thingspace_devices:sum",
    "account_make_model:thingspace_devices_active:sum",
    "account_make_model:thingspace_devices_active_ineligible:sum",
    "account_make_model:thingspace_devices_active_ineligible:ratio",
    "account:thingspace_devices_active_ineligible:ratio",
    "account_make_model:thingspace_devices_stale:sum",
    "account:thingspace_devices_stale:sum",
    "account_make_model:thingspace_devices_stale:ratio",
    "account:thingspace_devices_stale:ratio",
    "endpoint:thingspace_api_requests:rate5m",
    "endpoint_reason:thingspace_api_request_failures:rate5m",
    "endpoint_reason:thingspace_api_retries:rate5m",
    "account_make_model:thingspace_devices_upgradable:sum",
    "account:thingspace_devices_upgradable:sum",
    "account:thingspace_licenses:sum",
    "account:thingspace_licenses_used:sum",
    "account:thingspace_licenses_used:ratio",
    "account_status:thingspace_campaigns:sum",
    "account_campaign:thingspace_campaign_devices:sum",
    "account_campaign:thingspace_campaign_devices_upgraded:sum",
    "account_campaign:thingspace_campaign_devices_failed:sum",
    "account_campaign:thingspace_campaign_devices_failed:ratio",
}
# Series names each metric family type puts on the wire (prometheus_client, _created disabled).
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "info": ("_info",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum"),
}
PROMETHEUS_BUILTIN = re.compile(r"^(up|scrape_\w+|process_\w+)$")
KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "Inf",
    "NaN",
    "inf",
    "nan",
}


def load(uid: str) -> dict:
    return json.loads((DASHBOARD_DIR / FILES[uid]).read_text(encoding="utf-8"))


def exporter_series_names() -> set[str]:
    families = [*(f for c in REGISTRY for f in c.families([])), *ExporterMetrics().registry.collect()]
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def metric_names(expr: str) -> set[str]:
    """Series names an expression selects: identifiers that are not functions, keywords, label
    names (in matchers or grouping lists) or parts of strings and durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[a-zA-Z_:][\w:]*", text):
        if match.group() in KEYWORDS or re.match(r"\s*\(", text[match.end() :]):
            continue
        names.add(match.group())
    return names


def all_queries() -> list[tuple[str, str, str]]:
    return [(uid, title, expr) for uid in FILES for title, expr in panel_queries(load(uid), VALUES)]


def variable(board: dict, name: str) -> dict:
    found = [v for v in board["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, f"{board['uid']}: variable {name}"
    return found[0]


def raw_exprs(board: dict) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p.get("targets") or []]


# --- generation ---------------------------------------------------------------------------------


def test_regenerating_changes_nothing(tmp_path):
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True, cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES.values())
    for name in FILES.values():
        assert (tmp_path / name).read_bytes() == (DASHBOARD_DIR / name).read_bytes(), (
            f"{name} is out of date: run python grafana/generate.py"
        )


def test_check_passes_on_the_committed_files_and_fails_on_a_changed_one(tmp_path):
    check = [sys.executable, str(GENERATOR), "--check"]
    assert subprocess.run(check, capture_output=True).returncode == 0
    for name in FILES.values():
        shutil.copy(DASHBOARD_DIR / name, tmp_path / name)
    changed = tmp_path / FILES["thingspace-fleet"]
    changed.write_text(changed.read_text(encoding="utf-8").replace('"Devices"', '"Gadgets"', 1), encoding="utf-8")
    result = subprocess.run([*check, "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "thingspace-fleet.json" in result.stderr and "thingspace-exporter.json" not in result.stderr


def test_files_are_sorted_indented_json_with_a_trailing_newline():
    for _uid, name in FILES.items():
        text = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# --- identity and variables ------------------------------------------------------------------


@pytest.mark.parametrize("uid", FILES)
def test_stable_uid_and_nothing_to_fill_in_on_import(uid):
    board = load(uid)
    assert board["uid"] == uid
    assert "__inputs" not in board and "__requires" not in board
    assert "${DS_" not in json.dumps(board)
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)) and all(p.get("title") for p in panels(board))


@pytest.mark.parametrize("uid", FILES)
def test_datasource_variable_is_used_by_every_panel_and_target(uid):
    board = load(uid)
    ds = variable(board, "datasource")
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    ref = {"type": "prometheus", "uid": "${datasource}"}
    for name in ("account", "make", "model"):
        assert variable(board, name)["datasource"] == ref
    targets = 0
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == ref, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == ref, panel["title"]
            assert target["expr"].strip(), panel["title"]
            targets += 1
    assert targets >= 20


@pytest.mark.parametrize("uid", FILES)
def test_account_make_and_model_variables(uid):
    board = load(uid)
    queries = {name: variable(board, name)["query"] for name in ("account", "make", "model")}
    assert queries["account"] == "label_values(thingspace_up, account)"
    assert re.fullmatch(r'label_values\(thingspace_devices\{account=~"\$account"\}, make\)', queries["make"])
    assert re.fullmatch(
        r'label_values\(thingspace_devices\{account=~"\$account", make=~"\$make"\}, model\)', queries["model"]
    )
    for name in queries:
        v = variable(board, name)
        assert (v["type"], v["multi"], v["includeAll"], v["allValue"]) == ("query", True, True, ".*"), name
        # wired: some panel filters on it, and only ever as a regex
        assert any(f'{name}=~"${name}"' in e for e in raw_exprs(board)), name
    for expr in raw_exprs(board):
        assert not re.search(r'\b(account|make|model)\s*(=|!=|!~)\s*"\$', expr), expr


def test_stale_after_offers_the_age_histogram_bounds_on_the_fleet_dashboard():
    fleet = load("thingspace-fleet")
    v = variable(fleet, "stale_after")
    bounds = "3600.0,21600.0,86400.0,604800.0,2592000.0"
    assert (v["type"], v["query"], v["current"]["value"]) == ("custom", bounds, "86400.0")
    assert [o["value"] for o in v["options"]] == bounds.split(",")
    selected = [e for e in raw_exprs(fleet) if "$stale_after" in e]
    assert selected and all('le="$stale_after"' in e for e in selected)
    assert not [x for x in load("thingspace-exporter")["templating"]["list"] if x["name"] == "stale_after"]


# --- queries ------------------------------------------------------------------------------------


def test_panel_queries_substitutes_every_variable_of_every_target():
    for uid in FILES:
        board = load(uid)
        queries = panel_queries(board, VALUES)
        assert len(queries) == len(raw_exprs(board))
        for title, expr in queries:
            assert "$" not in expr and "[[" not in expr, (title, expr)
    fleet = dict(panel_queries(load("thingspace-fleet"), VALUES))
    assert 'le="86400.0"' in fleet["Stale beyond $stale_after s"]


def test_panel_queries_reaches_into_rows_and_knows_every_variable_syntax():
    board = {
        "panels": [
            {"type": "timeseries", "title": "top", "targets": [{"expr": 'up{job=~"$job"}'}]},
            {
                "type": "row",
                "title": "collapsed",
                "collapsed": True,
                "panels": [
                    {
                        "type": "stat",
                        "title": "inner",
                        "targets": [
                            {"expr": 'rate(x{a=~"${a}", b=~"${b:regex}"}[$__rate_interval])'},
                            {"expr": "y[[a]]"},
                            {"refId": "B", "datasource": {"type": "__expr__"}, "type": "math"},
                        ],
                    }
                ],
            },
            {"type": "text", "title": "no targets"},
        ]
    }
    values = {"job": "j", "a": "1", "b": "2", "__rate_interval": "1m"}
    assert panel_queries(board, values) == [
        ("top", 'up{job=~"j"}'),
        ("inner", 'rate(x{a=~"1", b=~"2"}[1m])'),
        ("inner", "y1"),
    ]
    with pytest.raises(KeyError, match=r"variable \W*b\W* in"):
        panel_queries(board, {"job": "j", "a": "1", "__rate_interval": "1m"})


def test_table_columns_are_aggregated_so_their_rows_merge():
    """A plain selector keeps __name__, which differs per column and would split the merged rows."""
    tables = [p for uid in FILES for p in panels(load(uid)) if p["type"] == "table"]
    assert len(tables) >= 3
    for panel in tables:
        assert [t["id"] for t in panel["transformations"]] == ["merge", "organize"], panel["title"]
        for target in panel["targets"]:
            assert (target["format"], target["instant"]) == ("table", True), panel["title"]
            assert target["expr"].startswith("sum by ("), (panel["title"], target["expr"])


def test_every_expression_is_balanced_and_non_empty():
    for uid, title, expr in all_queries():
        assert expr.strip(), (uid, title)
        stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
        depth = {"(": 0, "{": 0, "[": 0}
        closing = {")": "(", "}": "{", "]": "["}
        for ch in stripped:
            if ch in depth:
                depth[ch] += 1
            elif ch in closing:
                depth[closing[ch]] -= 1
                assert depth[closing[ch]] >= 0, (uid, title, expr)
        assert not any(depth.values()), (uid, title, expr)


def test_every_expression_parses_as_promql(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI (Debian package prometheus)")
        pytest.skip("needs promtool (Debian package prometheus)")
    rules = [{"record": f"dashboard_query_{i}", "expr": expr} for i, (_, _, expr) in enumerate(all_queries())]
    path = tmp_path / "queries.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_names_are_extracted_from_promql():
    assert metric_names(
        'sum by (make, model) (rate(a_total{le="1", x=~"b|c"}[5m])) / on (make) group_left () '
        "account:b:sum or vector(0) and on (job, instance) c_info > 1e3"
    ) == {"a_total", "account:b:sum", "c_info"}


def test_every_metric_is_exported_recorded_or_prometheus_own():
    exported = exporter_series_names()
    assert {
        "thingspace_devices",
        "thingspace_device_last_connection_age_seconds_gcount",
        "thingspace_api_requests_total",
        "thingspace_api_request_duration_seconds_bucket",
        "thingspace_exporter_build_info",
    } <= exported
    used = set()
    for uid, title, expr in all_queries():
        for name in metric_names(expr):
            used.add(name)
            assert name in exported or name in RECORDING_RULES or PROMETHEUS_BUILTIN.match(name), (uid, title, name)
    # the variables' queries too
    for uid in FILES:
        for v in load(uid)["templating"]["list"]:
            if v["type"] == "query":
                inner = re.fullmatch(r"label_values\((.*), \w+\)", v["query"]).group(1)
                assert metric_names(inner) <= exported, v["name"]
    assert used & RECORDING_RULES, "the dashboards should read the recording rules"


def test_recording_rules_used_are_defined_when_the_rules_file_is_present():
    if not RULES_FILE.exists():
        pytest.skip(f"{RULES_FILE.relative_to(ROOT)} is not on this branch yet")
    recorded = set(re.findall(r"^\s*-?\s*record:\s*['\"]?([\w:]+)", RULES_FILE.read_text(encoding="utf-8"), re.M))
    used = {name for _, _, expr in all_queries() for name in metric_names(expr) if ":" in name}
    assert used <= recorded, used - recorded


# --- provisioning -------------------------------------------------------------------------------


def test_provisioning_points_at_the_dashboards_and_their_default_datasource():
    yaml = pytest.importorskip("yaml")
    provisioning = ROOT / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert (source["type"], source["uid"], source["url"], source["isDefault"]) == (
        "prometheus",
        "prometheus",
        "http://prometheus:9090",
        True,
    )
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "thingspace.yml").read_text())["providers"]
    assert (provider["type"], provider["folder"], provider["options"]["path"]) == (
        "file",
        "ThingSpace",
        "/var/lib/grafana/dashboards",
    )
    for uid in FILES:
        assert variable(load(uid), "datasource")["current"]["value"] == source["uid"]
