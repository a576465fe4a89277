"""The exporter's own live metrics, kept in a registry of their own and rendered at scrape time.
Those with an account label are `series` tables: prometheus_client's objects per label set were
the largest part of the exporter's memory after the exposition at a thousand accounts."""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    gc_collector,
    platform_collector,
    process_collector,
)

from . import __version__, series

BG = "Collected in the background every interval, not at scrape time."
# `_created` series double the counters and nobody graphs them.
disable_created_metrics()

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ExporterMetrics:
    def __init__(self, process: bool = True) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        if process:
            process_collector.ProcessCollector(registry=r)
            platform_collector.PlatformCollector(registry=r)
            gc_collector.GCCollector(registry=r)
        Info("thingspace_exporter_build", "Version of the exporter.", registry=r).info(
            {"version": __version__, "python_version": platform.python_version()}
        )
        self.up = series.Gauge(
            "thingspace_up",
            f"1 when the account's latest collection cycle completed, else 0. {BG}",
            ["account"],
            registry=r,
        )
        self.last_success = series.Gauge(
            "thingspace_last_success_timestamp_seconds",
            f"Unix time the account's device listing last completed. {BG}",
            ["account"],
            registry=r,
        )
        self.duration = series.Gauge(
            "thingspace_collection_duration_seconds",
            f"Wall time of the account's latest collection cycle. {BG}",
            ["account"],
            registry=r,
        )
        self.published = series.Gauge(
            "thingspace_snapshot_published",
            f"1 while device series of the account are published. {BG}",
            ["account"],
            registry=r,
        )
        self.requests = Counter(
            "thingspace_api_requests",
            f"ThingSpace API requests made, by endpoint. {BG}",
            ["endpoint"],
            registry=r,
        )
        self.failures = Counter(
            "thingspace_api_request_failures",
            f"ThingSpace API requests that failed after retries, by endpoint and reason. {BG}",
            ["endpoint", "reason"],
            registry=r,
        )
        self.retries = Counter(
            "thingspace_api_retries",
            f"ThingSpace API requests retried, by endpoint and reason. {BG}",
            ["endpoint", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "thingspace_api_request_duration_seconds",
            f"Latency of ThingSpace API requests including retries, by endpoint. {BG}",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limit = Gauge(
            "thingspace_api_request_rate_limit",
            "ThingSpace API requests per second the exporter currently allows itself, adapted to the API's "
            "429 answers within THINGSPACE_MAX_REQUESTS_PER_SECOND; 0 = no limit. The exporter's own state, "
            "updated in the background as requests are made.",
            registry=r,
        )
        self.collector_up = series.Gauge(
            "thingspace_collector_up",
            f"1 when the collector's latest run for the account succeeded, else 0. {BG}",
            ["account", "collector"],
            registry=r,
        )
        self.collector_duration = series.Gauge(
            "thingspace_collector_duration_seconds",
            f"Wall time of the collector's latest run for the account. {BG}",
            ["account", "collector"],
            registry=r,
        )
        self.collector_errors = series.Counter(
            "thingspace_collector_errors",
            f"Collector runs that failed, by account, collector and reason. {BG}",
            ["account", "collector", "reason"],
            registry=r,
        )
        self.pages = series.Counter(
            "thingspace_pages_fetched", f"Device list pages fetched, by account. {BG}", ["account"], registry=r
        )
        self.errors = series.Counter(
            "thingspace_collection_errors",
            f"Account collection cycles that failed, by account and reason. {BG}",
            ["account", "reason"],
            registry=r,
        )
        self.auth_rejections = Counter(
            "thingspace_auth_rejections",
            f"Credentials rejected by ThingSpace, by kind (oauth, login). {BG}",
            ["kind"],
            registry=r,
        )
        self.auth_backoff = Gauge(
            "thingspace_auth_backoff_seconds",
            f"Seconds until the next login attempt is allowed after rejected credentials. {BG}",
            ["kind"],
            registry=r,
        )
        self.interval = Gauge(
            "thingspace_collection_interval_seconds",
            "Configured time between the starts of collection cycles (THINGSPACE_INTERVAL_SECONDS).",
            registry=r,
        )
        self.shard = Gauge(
            "thingspace_shard_info",
            "This replica's shard and the number of shards (always 1).",
            ["index", "count"],
            registry=r,
        )
        self.shard_accounts = Gauge(
            "thingspace_shard_accounts",
            "Accounts this replica's shard collects.",
            registry=r,
        )
        self.cycles = Counter(
            "thingspace_collection_cycles",
            f"Collection rounds started: one each time an account starts its n-th run for a new n. {BG}",
            registry=r,
        )
