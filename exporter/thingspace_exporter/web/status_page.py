"""The status page at `/`: what the exporter is doing, per account and collector, as plain HTML
rendered on the server (no JavaScript). It shows what /metrics shows, never a credential."""

from __future__ import annotations

import time
from html import escape
from typing import Any

from .. import __version__

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.35em .7em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.ok{color:#1a7f37;font-weight:600}.failed{color:#c62828;font-weight:600}
.pending{color:#8a6d00}.muted{color:#666}code{font-size:.95em;white-space:nowrap}.nowrap{white-space:nowrap}"""


def ago(seconds: float) -> str:
    """A duration as people read it: 42 s, 7 min, 3 h 5 min, 2 d 4 h."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def render(exporter: Any, now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    settings, collection = exporter.settings, exporter.collection
    runner, store = collection.runner, exporter.store
    names = [c.name for c in collection.collectors]
    rows = []
    for account in collection.accounts:
        main = runner.outcomes.get((account, "devices"))
        devices = store.get("devices", account)
        cells = [f"<td><code>{escape(account)}</code></td>", _outcome(main)]
        data = devices.data if devices is not None else None
        cells.append(f"<td>{data.count if data is not None else '<span class=muted>–</span>'}</td>")
        cells.append(f"<td>{data.pages if data is not None else '<span class=muted>–</span>'}</td>")
        cells.append(f"<td>{f'{main.duration:.1f} s' if main else '–'}</td>")
        cells.append(f"<td>{ago(now - devices.completed_at) if devices else '<span class=muted>none yet</span>'}</td>")
        last_error = _last_error(runner, account, names)
        cells.append(f"<td>{last_error}</td>")
        cells.append(
            "<td class=nowrap>"
            + "<br>".join(f"{escape(name)}: {_state(runner.outcomes.get((account, name)))}" for name in names)
            + "</td>"
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    upcoming = collection.next_cycle_at
    if collection.cycle_started is not None:
        cycle = "a cycle is running now"
    elif upcoming is not None:
        cycle = f"next cycle in {ago(upcoming - now)}"
    else:
        cycle = "the first cycle has not started"
    shard = f", shard {settings.shard_index} of {settings.shard_count}" if settings.shard_count > 1 else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ThingSpace exporter</title>
<style>{STYLE}</style></head>
<body><h1>ThingSpace exporter {escape(__version__)}</h1>
<p>Device data is collected from ThingSpace in the background every {ago(settings.interval_seconds)};
a scrape never calls the API. {len(collection.accounts)} accounts{escape(shard)}; {escape(cycle)}.
Collectors: {escape(", ".join(names))}.</p>
<table><thead><tr><th>account</th><th>last cycle</th><th>devices</th><th>pages</th><th>duration</th>
<th>age of the data</th><th>last error</th><th>collectors</th></tr></thead>
<tbody>{"".join(rows) or "<tr><td colspan=8 class=muted>this shard has no accounts</td></tr>"}</tbody></table>
<p><a href="metrics">/metrics</a> · <a href="-/healthy">/-/healthy</a> · <a href="-/ready">/-/ready</a></p>
</body></html>
"""
    return body.encode()


def _outcome(outcome: Any) -> str:
    if outcome is None:
        return "<td class=pending>not finished yet</td>"
    return "<td class=ok>succeeded</td>" if outcome.ok else "<td class=failed>failed</td>"


def _state(outcome: Any) -> str:
    if outcome is None:
        return "<span class=pending>pending</span>"
    if outcome.ok:
        return "<span class=ok>ok</span>"
    return f"<span class=failed>{escape(outcome.reason)}</span>"


def _last_error(runner: Any, account: str, names: list[str]) -> str:
    failed = [
        (o.finished_at, name, o)
        for name in names
        if (o := runner.outcomes.get((account, name))) is not None and not o.ok
    ]
    if not failed:
        return "<span class=muted>none</span>"
    _, name, outcome = max(failed)
    return f"{escape(name)}: <b>{escape(outcome.reason)}</b><br><span class=muted>{escape(outcome.error)}</span>"
