"""The status page at `/`: what the exporter is doing, per account and collector, as plain HTML
rendered on the server (no JavaScript). It shows what /metrics shows, never a credential."""

from __future__ import annotations

import time
from html import escape

from .. import __version__
from .view import CollectorState, Status

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.35em .7em;text-align:left;vertical-align:top}
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


def render(status: Status, now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    names = status.collectors
    fields = status.summary_fields
    rows = []
    for row in status.accounts:
        cells = [f"<td><code>{escape(row.account)}</code></td>", _outcome(row.ok)]
        for field in fields:
            value = row.summary.get(field)
            cells.append(f"<td>{escape(str(value)) if value is not None else '<span class=muted>–</span>'}</td>")
        cells.append(f"<td>{f'{row.duration:.1f} s' if row.duration is not None else '–'}</td>")
        age = ago(now - row.completed_at) if row.completed_at is not None else "<span class=muted>none yet</span>"
        cells.append(f"<td>{age}</td>")
        cells.append(f"<td>{_last_error(row.collectors)}</td>")
        states = "<br>".join(f"{escape(c.name)}: {_state(c)}" for c in row.collectors)
        cells.append(f"<td class=nowrap>{states}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if status.cycle_running:
        cycle = "collecting now"
    elif status.next_cycle_at is not None:
        cycle = f"next collection in {ago(status.next_cycle_at - now)}"
    else:
        cycle = "no collection has started yet"
    shard = f", shard {status.shard_index} of {status.shard_count}" if status.shard_count > 1 else ""
    heads = "".join(f"<th>{escape(f)}</th>" for f in fields)
    columns = 6 + len(fields)
    empty = f"<tr><td colspan={columns} class=muted>this shard has no accounts</td></tr>"
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ThingSpace exporter</title>
<style>{STYLE}</style></head>
<body><h1>ThingSpace exporter {escape(__version__)}</h1>
<p>Device data is collected from ThingSpace in the background every {ago(status.interval_seconds)};
a scrape never calls the API. {len(status.accounts)} accounts{escape(shard)}; {escape(cycle)}.
Collectors: {escape(", ".join(names))}.</p>
<table><thead><tr><th>account</th><th>last cycle</th>{heads}<th>duration</th>
<th>age of the data</th><th>last error</th><th>collectors</th></tr></thead>
<tbody>{"".join(rows) or empty}</tbody></table>
<p><a href="metrics">/metrics</a> · <a href="-/healthy">/-/healthy</a> · <a href="-/ready">/-/ready</a></p>
</body></html>
"""
    return body.encode()


def _outcome(ok: bool | None) -> str:
    if ok is None:
        return "<td class=pending>not finished yet</td>"
    return "<td class=ok>succeeded</td>" if ok else "<td class=failed>failed</td>"


def _state(state: CollectorState) -> str:
    if state.ok is None:
        return "<span class=pending>pending</span>"
    if state.ok:
        return "<span class=ok>ok</span>"
    return f"<span class=failed>{escape(state.reason)}</span>"


def _last_error(states: tuple[CollectorState, ...]) -> str:
    failed = [s for s in states if s.ok is False]
    if not failed:
        return "<span class=muted>none</span>"
    last = max(failed, key=lambda s: s.finished_at)
    return f"{escape(last.name)}: <b>{escape(last.reason)}</b><br><span class=muted>{escape(last.error)}</span>"
