"""Builds the Grafana dashboards in grafana/dashboards/ as code, with grafana-foundation-sdk.

    python grafana/generate.py            # (re)write grafana/dashboards/*.json
    python grafana/generate.py --check    # exit 1 if the committed files differ from what this builds
    python grafana/generate.py --out DIR  # write into DIR instead

Edit this file, never the JSON. Every PromQL expression lives in the "Queries" section below; the
panels refer to them by name. Panels and targets all use the `${datasource}` variable, so the JSON
imports into any Grafana with a Prometheus datasource and carries no `__inputs`.

Long-range time series read the recording rules of deploy/prometheus/thingspace.rules.yml (they keep
only the labels named in the rule, summed, so sharded exporters add up); instant breakdowns by labels
the rules drop (status, eligibility, licence) and the user-chosen stale threshold read the raw metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, gauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"

# --------------------------------------------------------------------------------------------
# Queries: every expression of both dashboards. $account, $make and $model are regexes (`.*` for
# All); $stale_after is one of the age histogram's `le` bounds.
# --------------------------------------------------------------------------------------------

ACC = 'account=~"$account"'
DEV = 'account=~"$account", make=~"$make", model=~"$model"'
# Selects the exporter's own scrape targets whatever the job is called.
EXPORTER = "on (job, instance) thingspace_exporter_build_info"

DEVICES = f"account_make_model:thingspace_devices:sum{{{DEV}}}"
ACTIVE = f"account_make_model:thingspace_devices_active:sum{{{DEV}}}"
INELIGIBLE = f"account_make_model:thingspace_devices_active_ineligible:sum{{{DEV}}}"
FIRMWARE = f"account_make_model_firmware:thingspace_devices:sum{{{DEV}}}"
AGE_COUNT = f"thingspace_device_last_connection_age_seconds_gcount{{{DEV}}}"
AGE_WITHIN = f'thingspace_device_last_connection_age_seconds_bucket{{{DEV}, le="$stale_after"}}'
UPGRADABLE = f"account_make_model:thingspace_devices_upgradable:sum{{{DEV}}}"
STALEST = f"thingspace_device_last_connection_timestamp_seconds{{{DEV}}}"
# A running campaign is one make and model: the make and model variables select campaigns through
# thingspace_campaign_info (always 1), which also names what they upgrade.
CAMPAIGN = "account, campaign_id, campaign_name"
CAMPAIGN_ROW = f"{CAMPAIGN}, make, model, firmware_from, firmware_to"
CAMPAIGN_INFO = f"group by ({CAMPAIGN_ROW}) (thingspace_campaign_info{{{DEV}}})"
SELECTED_CAMPAIGNS = f"on ({CAMPAIGN}) thingspace_campaign_info{{{DEV}}}"


def by(labels: str, expr: str) -> str:
    return f"sum by ({labels}) ({expr})"


def campaign_row(expr: str) -> str:
    """A column of the running campaigns table: the campaign's make, model and firmware joined on."""
    return by(
        CAMPAIGN_ROW,
        f"{expr}\n  * on ({CAMPAIGN}) group_left (make, model, firmware_from, firmware_to) {CAMPAIGN_INFO}",
    )


def exporter_only(expr: str) -> str:
    return f"{expr} and {EXPORTER}"


def latency_quantile(q: float) -> str:
    return (
        "histogram_quantile("
        f"{q}, sum by (endpoint, le) (rate(thingspace_api_request_duration_seconds_bucket[$__rate_interval])))"
    )


class Q:
    # fleet: totals (every variable applies)
    devices = f"sum({DEVICES})"
    active = f"sum({ACTIVE})"
    by_status = by("status", f"thingspace_devices{{{DEV}}}")
    by_eligibility = by("fota_eligible", f"thingspace_devices{{{DEV}}}")
    by_licence = by("license_assigned", f"thingspace_devices{{{DEV}}}")
    unknown_connection = f"sum(thingspace_devices_last_connection_unknown{{{DEV}}}) or vector(0)"
    stale_beyond = f"sum({AGE_COUNT}) - sum({AGE_WITHIN})"
    stale_beyond_share = f"1 - sum({AGE_WITHIN}) / sum({AGE_COUNT})"
    ineligible_share = f"(sum({INELIGIBLE}) or vector(0)) / sum({ACTIVE})"
    # fleet: over time
    devices_per_account = f"account:thingspace_devices:sum{{{ACC}}}"
    status_over_time = by("status", f"account_status:thingspace_devices:sum{{{ACC}}}")
    devices_per_model = by("make, model", DEVICES)
    # fleet: models and firmware
    # table columns: `sum by` drops __name__, so the rows of all columns merge on the labels
    model_table = {
        column: by("account, make, model", expr)
        for column, expr in {
            "Devices": DEVICES,
            "Active": ACTIVE,
            "Active, not FOTA-eligible": INELIGIBLE,
            "Not eligible, share of active": f"account_make_model:thingspace_devices_active_ineligible:ratio{{{DEV}}}",
            "Stale > 1 day": f"account_make_model:thingspace_devices_stale:sum{{{DEV}}}",
            "Stale share": f"account_make_model:thingspace_devices_stale:ratio{{{DEV}}}",
        }.items()
    }
    firmware_table = by("account, make, model, firmware", FIRMWARE)
    firmware_share = (
        f"{by('make, model, firmware', FIRMWARE)}\n  / on (make, model) group_left () {by('make, model', DEVICES)}"
    )
    firmware_over_time = by("make, model, firmware", FIRMWARE)
    # fleet: protocols and software
    protocols = by("protocol", f"thingspace_devices_by_protocol{{{ACC}}}")
    software = by("name, version", f"thingspace_device_software{{{ACC}}}")
    # fleet: last connection
    age_buckets = by("le", f"thingspace_device_last_connection_age_seconds_bucket{{{DEV}}}")
    stale_beyond_by_model = f"{by('make, model', AGE_COUNT)} - {by('make, model', AGE_WITHIN)}"
    stale_beyond_share_by_model = f"1 - {by('make, model', AGE_WITHIN)} / {by('make, model', AGE_COUNT)}"
    stale_day_per_account = f"account:thingspace_devices_stale:sum{{{ACC}}}"
    stale_day_share_per_account = f"account:thingspace_devices_stale:ratio{{{ACC}}}"
    stale_day_share_per_model = f"account_make_model:thingspace_devices_stale:ratio{{{DEV}}}"
    # fleet: FOTA eligibility
    ineligible_by_model = by("make, model", INELIGIBLE)
    ineligible_share_by_model = f"{by('make, model', INELIGIBLE)} / {by('make, model', ACTIVE)}"
    ineligible_share_per_account = f"account:thingspace_devices_active_ineligible:ratio{{{ACC}}}"
    # fleet: firmware upgrades (0 for a model whose upgrade paths no device can take)
    upgradable = f"sum({UPGRADABLE})"
    upgradable_by_model = by("make, model", UPGRADABLE)
    upgradable_table = {
        "Upgradable devices": by("account, make, model, firmware", f"thingspace_devices_upgradable{{{DEV}}}"),
        "Share of the model": (
            f"{by('account, make, model, firmware', f'thingspace_devices_upgradable{{{DEV}}}')}\n"
            f"  / on (account, make, model) group_left () {by('account, make, model', DEVICES)}"
        ),
    }
    # fleet: licences (per account only)
    licence_usage = f"account:thingspace_licenses_used:ratio{{{ACC}}}"
    licences_free = (
        f"sum(account:thingspace_licenses:sum{{{ACC}}}) - sum(account:thingspace_licenses_used:sum{{{ACC}}})"
    )
    licences = {
        "{{account}} bought": f"account:thingspace_licenses:sum{{{ACC}}}",
        "{{account}} used": f"account:thingspace_licenses_used:sum{{{ACC}}}",
    }
    # fleet: campaigns (counts by status are per account only)
    campaigns_by_status = by("status", f"account_status:thingspace_campaigns:sum{{{ACC}}}")
    campaigns_running = f'sum(account_status:thingspace_campaigns:sum{{{ACC}, status="CampaignScheduled"}})'
    campaigns_uncounted = f"sum(thingspace_campaigns_running_uncounted{{{ACC}}})"
    campaign_devices_by_status = by("status", f"thingspace_campaign_devices{{{ACC}}} and {SELECTED_CAMPAIGNS}")
    campaign_table = {
        column: campaign_row(expr)
        for column, expr in {
            "Devices": f"account_campaign:thingspace_campaign_devices:sum{{{ACC}}}",
            "Upgraded": f"account_campaign:thingspace_campaign_devices_upgraded:sum{{{ACC}}}",
            "Failed": f"account_campaign:thingspace_campaign_devices_failed:sum{{{ACC}}}",
            "Other statuses": (
                f"(account_campaign:thingspace_campaign_devices:sum{{{ACC}}}"
                f" - account_campaign:thingspace_campaign_devices_upgraded:sum{{{ACC}}}"
                f" - account_campaign:thingspace_campaign_devices_failed:sum{{{ACC}}})"
            ),
            "Failed share": f"account_campaign:thingspace_campaign_devices_failed:ratio{{{ACC}}}",
        }.items()
    }
    campaign_failed_share = (
        f"account_campaign:thingspace_campaign_devices_failed:ratio{{{ACC}}} and {SELECTED_CAMPAIGNS}"
    )
    campaign_upgraded_share = (
        f"account_campaign:thingspace_campaign_devices_upgraded:sum{{{ACC}}}\n"
        f"  / account_campaign:thingspace_campaign_devices:sum{{{ACC}}} and {SELECTED_CAMPAIGNS}"
    )
    # fleet: the devices with the oldest known last connection (Grafana's date units want milliseconds)
    stalest_table = {
        "Last connection": f"{by('account, device_id, make, model', STALEST)} * 1000",
        "Age": by("account, device_id, make, model", f"time() - {STALEST}"),
    }

    # exporter health: collection
    up = f"min by (account) (thingspace_up{{{ACC}}})"
    published = f"min by (account) (thingspace_snapshot_published{{{ACC}}})"
    targets_up = "up and on (job, instance) max_over_time(thingspace_exporter_build_info[1d])"
    data_age = f"time() - max by (account) (thingspace_last_success_timestamp_seconds{{{ACC}}})"
    duration = f"max by (account) (thingspace_collection_duration_seconds{{{ACC}}})"
    devices_published = by("account", DEVICES)
    collection_errors = by("reason", f"increase(thingspace_collection_errors_total{{{ACC}}}[$__rate_interval])")
    pages = by("account", f"rate(thingspace_pages_fetched_total{{{ACC}}}[$__rate_interval])")
    # exporter health: each collector (devices, firmware, licenses, campaigns)
    collector_up = f"min by (account, collector) (thingspace_collector_up{{{ACC}}})"
    collector_duration = f"max by (account, collector) (thingspace_collector_duration_seconds{{{ACC}}})"
    collector_errors = by(
        "collector, reason", f"increase(thingspace_collector_errors_total{{{ACC}}}[$__rate_interval])"
    )
    # exporter health: API
    requests = "endpoint:thingspace_api_requests:rate5m"
    failures = "endpoint_reason:thingspace_api_request_failures:rate5m"
    retries = "endpoint_reason:thingspace_api_retries:rate5m"
    # 0 for every endpoint in use until its first 429 (retry series appear with the first retry)
    throttled = (
        'sum by (endpoint) (endpoint_reason:thingspace_api_retries:rate5m{reason="http_429"})\n'
        "  or 0 * endpoint:thingspace_api_requests:rate5m"
    )
    latency = {f"p{round(q * 100)} {{{{endpoint}}}}": latency_quantile(q) for q in (0.5, 0.9, 0.99)}
    # the exporter zeroes both kinds at start
    auth_rejections = "sum by (kind) (increase(thingspace_auth_rejections_total[$__rate_interval]))"
    auth_backoff = "max by (kind) (thingspace_auth_backoff_seconds)"
    # exporter health: scrape and process
    scrape_samples = exporter_only("scrape_samples_scraped")
    scrape_duration = exporter_only("scrape_duration_seconds")
    memory = exporter_only("process_resident_memory_bytes")
    cpu = exporter_only("rate(process_cpu_seconds_total[$__rate_interval])")


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
STALE_BOUNDS = ["3600.0", "21600.0", "86400.0", "604800.0", "2592000.0"]  # the exporter's default buckets


def target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: PromQueryFormat | None = None
) -> prometheus.Dataquery:
    t = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE).legend_format(legend or "__auto")
    t = t.instant() if instant else t.range()
    return t.format(fmt) if fmt is not None else t


def _common(panel: Any, title: str, description: str, unit: str, width: int, height: int) -> Any:
    return panel.title(title).description(description).datasource(DATASOURCE).unit(unit).span(width).height(height)


def stat_panel(
    title: str,
    expr: str,
    description: str,
    unit: str = "short",
    legend: str = "",
    width: int = 4,
    height: int = 4,
    mappings: list[model.ValueMapping] | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
) -> stat.Panel:
    """A big number (the last value), with a sparkline of the time range."""
    p = _common(stat.Panel(), title, description, unit, width, height)
    p = (
        p.with_target(target(expr, legend))
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common.BigValueGraphMode.AREA)
    )
    if mappings:
        p = p.mappings(mappings).color_mode(common.BigValueColorMode.BACKGROUND)
    if thresholds:
        p = p.thresholds(_thresholds(thresholds))
    return p


def timeseries_panel(
    title: str,
    targets: dict[str, str],
    description: str,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
) -> timeseries.Panel:
    """Lines over the time range; `targets` maps a legend format to an expression."""
    p = _common(timeseries.Panel(), title, description, unit, width, height)
    for i, (legend, expr) in enumerate(targets.items()):
        p = p.with_target(target(expr, legend, ref=_ref(i)))
    p = p.legend(
        common_b.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    p = p.fill_opacity(10).line_width(1).min(0)
    if stacked:
        p = p.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(60)
    return p


def bargauge_panel(
    title: str,
    expr: str,
    legend: str,
    description: str,
    unit: str = "short",
    width: int = 8,
    height: int = 8,
    histogram: bool = False,
) -> bargauge.Panel:
    """Horizontal bars, one per series, of the latest value. With `histogram`, Grafana turns
    cumulative `le` buckets into the count of each bucket (heatmap format)."""
    fmt = PromQueryFormat.HEATMAP if histogram else None
    p = _common(bargauge.Panel(), title, description, unit, width, height)
    return (
        p.with_target(target(expr, legend, instant=True, fmt=fmt))
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .show_unfilled(True)
        .min(0)
    )


def gauge_panel(
    title: str,
    expr: str,
    legend: str,
    description: str,
    unit: str = "percentunit",
    width: int = 8,
    height: int = 8,
    thresholds: list[tuple[float | None, str]] | None = None,
) -> gauge.Panel:
    """A dial per series (the last value), from 0 to 1 by default: a share of a whole."""
    p = _common(gauge.Panel(), title, description, unit, width, height)
    p = (
        p.with_target(target(expr, legend))
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .min(0)
        .max(1)
        .show_threshold_markers(True)
    )
    return p.thresholds(_thresholds(thresholds)) if thresholds else p


def table_panel(
    title: str,
    columns: dict[str, str],
    description: str,
    width: int = 12,
    height: int = 10,
    units: dict[str, str] | None = None,
    sort_by: str | None = None,
    labels: dict[str, str] | None = None,
) -> table.Panel:
    """One row per label set: each expression becomes a column named by its key (instant queries,
    merged on their common labels); `labels` renames label columns."""
    p = _common(table.Panel(), title, description, "short", width, height)
    rename = dict(labels or {})
    for i, (column, expr) in enumerate(columns.items()):
        ref = _ref(i)
        p = p.with_target(target(expr, ref=ref, instant=True, fmt=PromQueryFormat.TABLE))
        rename["Value" if len(columns) == 1 else f"Value #{ref}"] = column
    p = p.with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(
        model.DataTransformerConfig(
            id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": rename}
        )
    )
    for column, unit in (units or {}).items():
        p = p.override_by_name(column, [model.DynamicConfigValue(id_val="unit", value=unit)])
    if sort_by:
        p = p.sort_by([common_b.TableSortByFieldState().display_name(sort_by).desc(True)])
    return p


def row(title: str) -> dash.Row:
    return dash.Row(title)


def _ref(i: int) -> str:
    return chr(ord("A") + i)


def _thresholds(steps: list[tuple[float | None, str]]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=v, color=c) for v, c in steps])
    )


def _state(names: dict[int, tuple[str, str]]) -> list[model.ValueMapping]:
    """Maps 1/0 gauges to words and colours."""
    return [
        model.ValueMap(
            options={
                str(v): model.ValueMappingResult(text=t, color=c, index=i)
                for i, (v, (t, c)) in enumerate(names.items())
            }
        )
    ]


def _variable_option(value: str) -> model.VariableOption:
    return model.VariableOption(text=value, value=value, selected=True)


def _label_values(name: str, label: str, metric: str, label_text: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label_text)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {label})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(text=["All"], value=["$__all"], selected=True))
    )


def variables(stale_threshold: bool) -> list[Any]:
    result = [
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(model.VariableOption(text="Prometheus", value="prometheus", selected=True)),
        _label_values("account", "account", "thingspace_up", "Account"),
        _label_values("make", "make", 'thingspace_devices{account=~"$account"}', "Make"),
        _label_values("model", "model", 'thingspace_devices{account=~"$account", make=~"$make"}', "Model"),
    ]
    if stale_threshold:
        result.append(
            dash.CustomVariable("stale_after")
            .label("Stale after (s)")
            .description(
                "Devices count as stale when their last connection is older than this. The values "
                "are the bounds of the exporter's last-connection age histogram "
                "(THINGSPACE_LAST_CONNECTION_BUCKETS); change them here if you change those."
            )
            .values(",".join(STALE_BOUNDS))
            .current(_variable_option("86400.0"))
            .options([model.VariableOption(text=b, value=b, selected=b == "86400.0") for b in STALE_BOUNDS])
        )
    return result


def new_dashboard(uid: str, title: str, description: str, stale_threshold: bool = False) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["thingspace", "prometheus"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .variables(variables(stale_threshold))
    )


# --------------------------------------------------------------------------------------------
# Dashboards
# --------------------------------------------------------------------------------------------

ALL_MODELS = "All makes and models: the recording rule keeps only the account"


def fleet() -> dash.Dashboard:
    d = new_dashboard(
        "thingspace-fleet",
        "ThingSpace fleet",
        "Devices of the ThingSpace accounts: status, FOTA eligibility, licences, models, firmware, software and "
        "how long ago devices last connected. Collected by thingspace-exporter in the background every interval.",
        stale_threshold=True,
    )
    pct = "percentunit"
    d = (
        d.with_row(row("Totals"))
        .with_panel(
            stat_panel("Devices", Q.devices, "Devices in the latest complete listing of the selected accounts.")
        )
        .with_panel(stat_panel("Active devices", Q.active, "Devices whose status is active."))
        .with_panel(
            stat_panel(
                "Not FOTA-eligible, share of active",
                Q.ineligible_share,
                "Active devices that cannot be upgraded over the air, as a share of all active devices.",
                unit=pct,
                thresholds=[(None, "green"), (0.1, "orange"), (0.25, "red")],
            )
        )
        .with_panel(
            stat_panel(
                "Stale beyond $stale_after s",
                Q.stale_beyond,
                "Devices whose last connection is older than the chosen threshold (from the age histogram; "
                "devices with an unknown last connection are not counted).",
            )
        )
        .with_panel(
            stat_panel(
                "Stale share beyond $stale_after s",
                Q.stale_beyond_share,
                "Stale devices as a share of the devices with a known last connection.",
                unit=pct,
                thresholds=[(None, "green"), (0.1, "orange"), (0.25, "red")],
            )
        )
        .with_panel(
            stat_panel(
                "Last connection unknown",
                Q.unknown_connection,
                "Devices whose last connection time is N/A, empty or a zero time.",
            )
        )
        .with_panel(
            bargauge_panel(
                "By status",
                Q.by_status,
                "{{status}}",
                "Devices by status (lower-cased as the exporter reports it; empty when missing).",
            )
        )
        .with_panel(
            bargauge_panel(
                "By FOTA eligibility",
                Q.by_eligibility,
                "eligible: {{fota_eligible}}",
                "Devices by FOTA (over-the-air upgrade) eligibility; empty when the field is missing.",
            )
        )
        .with_panel(
            bargauge_panel(
                "By licence",
                Q.by_licence,
                "licence assigned: {{license_assigned}}",
                "Devices by whether a licence is assigned; empty when the field is missing.",
            )
        )
    )
    d = (
        d.with_row(row("Devices over time"))
        .with_panel(
            timeseries_panel(
                "Devices per account",
                {"{{account}}": Q.devices_per_account},
                f"{ALL_MODELS}. A sudden drop means devices vanished from the listing.",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Devices by status",
                {"{{status}}": Q.status_over_time},
                f"{ALL_MODELS} and status.",
                width=8,
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Devices per model",
                {"{{make}} {{model}}": Q.devices_per_model},
                "Devices of each make and model.",
                width=8,
                stacked=True,
            )
        )
    )
    d = (
        d.with_row(row("Models and firmware"))
        .with_panel(
            table_panel(
                "Devices by model",
                Q.model_table,
                "Per account, make and model: devices, active devices, active devices not eligible for an "
                "over-the-air upgrade, and devices not seen for more than a day (among those with a known "
                "last connection).",
                width=24,
                units={"Not eligible, share of active": pct, "Stale share": pct},
                sort_by="Devices",
            )
        )
        .with_panel(
            table_panel(
                "Devices by firmware",
                {"Devices": Q.firmware_table},
                "Per account, make, model and firmware.",
                sort_by="Devices",
            )
        )
        .with_panel(
            bargauge_panel(
                "Firmware spread per model",
                Q.firmware_share,
                "{{model}} {{firmware}}",
                "Share of each model's devices running each firmware.",
                unit=pct,
                width=12,
                height=10,
            )
        )
        .with_panel(
            timeseries_panel(
                "Firmware over time",
                {"{{model}} {{firmware}}": Q.firmware_over_time},
                "Devices per model and firmware: follow a rollout.",
                width=24,
            )
        )
    )
    d = (
        d.with_row(row("Protocols and software"))
        .with_panel(
            bargauge_panel(
                "Devices by protocol",
                Q.protocols,
                "{{protocol}}",
                "Devices supporting each management protocol; a device with several counts once for each. "
                "Per account only: the exporter does not split protocols by model.",
            )
        )
        .with_panel(
            table_panel(
                "Software versions",
                {"Devices": Q.software},
                "Devices with each software version installed (per account only).",
                width=16,
                sort_by="Devices",
            )
        )
        .with_panel(
            timeseries_panel(
                "Software versions over time",
                {"{{name}} {{version}}": Q.software},
                "Devices with each software version installed.",
                width=24,
            )
        )
    )
    d = (
        d.with_row(row("Last connection"))
        .with_panel(
            bargauge_panel(
                "Last-connection age distribution",
                Q.age_buckets,
                "≤ {{le}} s",
                "Devices by how long ago they last connected: each bar is one bucket of the gauge histogram "
                "(the difference between neighbouring le bounds), +Inf = older than the largest bound. "
                "Devices with an unknown last connection are not included.",
                histogram=True,
            )
        )
        .with_panel(
            bargauge_panel(
                "Stale beyond $stale_after s, by model",
                Q.stale_beyond_by_model,
                "{{make}} {{model}}",
                "Devices whose last connection is older than the chosen threshold.",
            )
        )
        .with_panel(
            bargauge_panel(
                "Stale share beyond $stale_after s, by model",
                Q.stale_beyond_share_by_model,
                "{{make}} {{model}}",
                "Stale devices as a share of the model's devices with a known last connection.",
                unit=pct,
            )
        )
        .with_panel(
            timeseries_panel(
                "Devices stale > 1 day, per account",
                {"{{account}}": Q.stale_day_per_account},
                f"{ALL_MODELS}; one day is the recording rule's threshold.",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Stale share (> 1 day), per account",
                {"{{account}}": Q.stale_day_share_per_account},
                f"{ALL_MODELS}; among devices with a known last connection.",
                unit=pct,
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Stale share (> 1 day), per model",
                {"{{make}} {{model}} · {{account}}": Q.stale_day_share_per_model},
                "Among devices with a known last connection.",
                unit=pct,
                width=8,
            )
        )
    )
    d = d.with_panel(
        table_panel(
            "Stalest devices",
            Q.stalest_table,
            "The devices whose last known connection is the oldest, as many per account as the exporter's "
            "THINGSPACE_STALEST_DEVICES (default 20; devices with an unknown last connection are counted "
            "in the totals, not listed here). Age is measured from now.",
            width=24,
            units={"Last connection": "dateTimeAsIso", "Age": "s"},
            sort_by="Age",
            labels={"device_id": "Device", "make": "Make", "model": "Model", "account": "Account"},
        )
    )
    d = (
        d.with_row(row("FOTA eligibility"))
        .with_panel(
            bargauge_panel(
                "Active devices not FOTA-eligible, by model",
                Q.ineligible_by_model,
                "{{make}} {{model}}",
                "Active devices that cannot be upgraded over the air.",
            )
        )
        .with_panel(
            bargauge_panel(
                "Not eligible, share of active, by model",
                Q.ineligible_share_by_model,
                "{{make}} {{model}}",
                "Active devices not eligible for FOTA as a share of the model's active devices.",
                unit=pct,
            )
        )
        .with_panel(
            timeseries_panel(
                "Not eligible, share of active, per account",
                {"{{account}}": Q.ineligible_share_per_account},
                f"{ALL_MODELS}.",
                unit=pct,
                width=8,
            )
        )
    )
    d = (
        d.with_row(row("Firmware upgrades"))
        .with_panel(
            stat_panel(
                "Upgradable devices",
                Q.upgradable,
                "Devices whose firmware is the starting point (firmwareFrom) of an upgrade path that ThingSpace "
                "offers for their make and model.",
                width=4,
                height=8,
            )
        )
        .with_panel(
            bargauge_panel(
                "Upgradable devices by model",
                Q.upgradable_by_model,
                "{{make}} {{model}}",
                "Devices that an upgrade path applies to, per make and model; 0 for a model whose paths "
                "start from firmware none of its devices runs.",
            )
        )
        .with_panel(
            table_panel(
                "Upgradable devices by firmware",
                Q.upgradable_table,
                "Per account, make, model and current firmware: devices an upgrade path starts from, and "
                "their share of the model's devices.",
                width=12,
                height=8,
                units={"Share of the model": pct},
                sort_by="Upgradable devices",
            )
        )
    )
    d = (
        d.with_row(row("Licences"))
        .with_panel(
            gauge_panel(
                "Licence usage",
                Q.licence_usage,
                "{{account}}",
                "FOTA licences in use as a share of those bought, per account (make and model do not apply).",
                thresholds=[(None, "green"), (0.75, "orange"), (0.9, "red")],
            )
        )
        .with_panel(
            stat_panel(
                "Licences free",
                Q.licences_free,
                "FOTA licences bought but not in use, over the selected accounts.",
                width=4,
                height=8,
            )
        )
        .with_panel(timeseries_panel("Licences bought and used", Q.licences, "Per account."))
    )
    d = (
        d.with_row(row("Campaigns"))
        .with_panel(
            stat_panel(
                "Running campaigns",
                Q.campaigns_running,
                "Campaigns in status CampaignScheduled (accepted and running until their end date), per account only.",
                width=4,
            )
        )
        .with_panel(
            stat_panel(
                "Running campaigns not counted",
                Q.campaigns_uncounted,
                "Running campaigns beyond THINGSPACE_MAX_RUNNING_CAMPAIGNS, whose devices the exporter does not "
                "count: they are missing from the panels below.",
                width=4,
                thresholds=[(None, "green"), (1, "orange")],
            )
        )
        .with_panel(
            bargauge_panel(
                "Campaigns by status",
                Q.campaigns_by_status,
                "{{status}}",
                "Firmware campaigns of the selected accounts by status (make and model do not apply).",
            )
        )
        .with_panel(
            bargauge_panel(
                "Running campaigns' devices by upgrade status",
                Q.campaign_devices_by_status,
                "{{status}}",
                "Devices of the running campaigns upgrading the selected makes and models, by their upgrade status.",
            )
        )
        .with_panel(
            table_panel(
                "Running campaigns",
                Q.campaign_table,
                "Each running campaign (of the selected makes and models): what it upgrades, and its devices by "
                "upgrade status: upgraded (UpgradeSuccess), failed (UpgradeFailed) and any other status "
                "(pending, accepted, ...).",
                width=24,
                units={"Failed share": pct},
                sort_by="Failed share",
                labels={
                    "account": "Account",
                    "campaign_id": "Id",
                    "campaign_name": "Campaign",
                    "make": "Make",
                    "model": "Model",
                    "firmware_from": "From firmware",
                    "firmware_to": "To firmware",
                },
            )
        )
        .with_panel(
            timeseries_panel(
                "Failed share per running campaign",
                {"{{campaign_name}} · {{account}}": Q.campaign_failed_share},
                "Devices in UpgradeFailed as a share of the campaign's devices.",
                unit=pct,
            )
        )
        .with_panel(
            timeseries_panel(
                "Upgraded share per running campaign",
                {"{{campaign_name}} · {{account}}": Q.campaign_upgraded_share},
                "Devices in UpgradeSuccess as a share of the campaign's devices: the rollout's progress.",
                unit=pct,
            )
        )
    )
    return d


def exporter_health() -> dash.Dashboard:
    d = new_dashboard(
        "thingspace-exporter",
        "ThingSpace exporter",
        "Health of thingspace-exporter: collection per account, data age, ThingSpace API requests, failures, "
        "retries and throttling, authentication, scrape size and the process.",
    )
    up_words = _state({1: ("up", "green"), 0: ("down", "red")})
    d = (
        d.with_row(row("Collection"))
        .with_panel(
            stat_panel(
                "Account up",
                Q.up,
                "1 when the account's latest collection cycle completed.",
                legend="{{account}}",
                width=8,
                mappings=up_words,
            )
        )
        .with_panel(
            stat_panel(
                "Snapshot published",
                Q.published,
                "Whether the account's device series are published. They are dropped after "
                "THINGSPACE_STALE_AFTER_SECONDS without a successful cycle.",
                legend="{{account}}",
                width=8,
                mappings=_state({1: ("published", "green"), 0: ("dropped", "red")}),
            )
        )
        .with_panel(
            stat_panel(
                "Exporter targets up",
                Q.targets_up,
                "Prometheus' `up` for every target that exposed the exporter's build info in the last day.",
                legend="{{instance}}",
                width=8,
                mappings=up_words,
            )
        )
        .with_panel(
            timeseries_panel(
                "Data age",
                {"{{account}}": Q.data_age},
                "Time since the account's listing last completed. It grows while cycles fail.",
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Collection duration",
                {"{{account}}": Q.duration},
                "Wall time of the account's latest collection cycle.",
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Devices published per account",
                {"{{account}}": Q.devices_published},
                "Devices in the published snapshot (make and model variables apply).",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Failed cycles by reason",
                {"{{reason}}": Q.collection_errors},
                "Collection cycles that failed, by reason.",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Pages fetched",
                {"{{account}}": Q.pages},
                "Device list pages fetched per second.",
                unit="reqps",
                width=8,
            )
        )
    )
    d = (
        d.with_row(row("Collectors"))
        .with_panel(
            stat_panel(
                "Collector up",
                Q.collector_up,
                "1 when the collector's latest run for the account succeeded: devices (the device list), "
                "firmware, licenses, campaigns. Each fails on its own.",
                legend="{{account}} {{collector}}",
                width=24,
                mappings=up_words,
            )
        )
        .with_panel(
            timeseries_panel(
                "Collector duration",
                {"{{collector}} · {{account}}": Q.collector_duration},
                "Wall time of each collector's latest run for the account.",
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Collector errors by reason",
                {"{{collector}} {{reason}}": Q.collector_errors},
                "Collector runs that failed, by collector and reason.",
            )
        )
    )
    d = (
        d.with_row(row("ThingSpace API"))
        .with_panel(
            timeseries_panel(
                "API requests by endpoint",
                {"{{endpoint}}": Q.requests},
                "Requests per second (5 m rate).",
                unit="reqps",
            )
        )
        .with_panel(
            timeseries_panel("Request latency", Q.latency, "Quantiles of request latency, retries included.", unit="s")
        )
        .with_panel(
            timeseries_panel(
                "Failures by endpoint and reason",
                {"{{endpoint}} {{reason}}": Q.failures},
                "Requests that failed after retries, per second (5 m rate).",
                unit="reqps",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Retries by endpoint and reason",
                {"{{endpoint}} {{reason}}": Q.retries},
                "Attempts retried, per second (5 m rate).",
                unit="reqps",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Throttling (429 retried)",
                {"{{endpoint}}": Q.throttled},
                "Responses 429 Too Many Requests that were retried, per second (5 m rate). Raise "
                "THINGSPACE_MAX_REQUESTS_PER_SECOND only if ThingSpace allows it.",
                unit="reqps",
                width=8,
            )
        )
    )
    d = (
        d.with_row(row("Authentication"))
        .with_panel(
            timeseries_panel(
                "Credentials rejected",
                {"{{kind}}": Q.auth_rejections},
                "OAuth client (oauth) or M2M user (login) credentials rejected by ThingSpace.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Login back-off",
                {"{{kind}}": Q.auth_backoff},
                "Wait before the next attempt after repeated rejections; 0 when not backing off.",
                unit="s",
            )
        )
    )
    d = (
        d.with_row(row("Scrape and process"))
        .with_panel(
            timeseries_panel(
                "Samples per scrape",
                {"{{instance}}": Q.scrape_samples},
                "Samples Prometheus ingests from each exporter per scrape.",
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Scrape duration",
                {"{{instance}}": Q.scrape_duration},
                "How long Prometheus' scrape of the exporter took.",
                unit="s",
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Resident memory", {"{{instance}}": Q.memory}, "Resident memory of the exporter.", unit="bytes", width=6
            )
        )
        .with_panel(
            timeseries_panel(
                "CPU",
                {"{{instance}}": Q.cpu},
                "CPU time of the exporter per second (1 = one core).",
                unit="percentunit",
                width=6,
            )
        )
    )
    return d


DASHBOARDS = {"thingspace-fleet.json": fleet, "thingspace-exporter.json": exporter_health}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def render(builder: dash.Dashboard) -> str:
    board = builder.build()
    for i, panel in enumerate(_all_panels(board.panels or []), start=1):
        panel.id_val = i  # stable ids in layout order, for links and Grafana's panel state
    data = json.loads(JSONEncoder().encode(board))
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _all_panels(panels: list[Any]) -> list[Any]:
    result = []
    for panel in panels:
        result.append(panel)
        result.extend(_all_panels(getattr(panel, "panels", None) or []))
    return result


def rendered() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files in --out differ")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"directory (default {OUT_DIR})")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_bytes() != text.encode():
                stale.append(name)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
