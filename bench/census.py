"""What the benchmark's device data holds: the share of each quirk that api-facts.md lists.

The CPU row is only as telling as its data is varied; this walks the account's pages once (plain
requests and msgspec, nothing of the exporter) and counts, so the results say what was measured.
"""

from __future__ import annotations

import re
from collections import Counter

from replay import logged_in, pages

GO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$")
RFC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
KNOWN = {"deviceId", "mdn", "make", "model", "firmware", "fotaEligible", "licenseAssigned", "status", "protocol"}
KNOWN |= {"softwareList", "filesList", "createTime", "upgradeTime", "statusTime", "refreshTime"}
KNOWN |= {"lastConnectionTime", "lastConnectTime"}


def time_form(value: object) -> str:
    if value is None:
        return "null"
    if not isinstance(value, str):
        return "not a string"
    if value in ("", "N/A"):
        return repr(value)
    if value.startswith(("0001-01-01", "1900-01-01")):
        return "zero time"
    for name, pattern in (("Go", GO), ("RFC 3339", RFC)):
        m = pattern.match(value)
        if m:
            return f"{name}, {len(m.group(1) or '.') - 1} fraction digits"
    return "other"


def census(base: str, account: str) -> dict[str, dict[str, float]]:
    """Shares (0..1) of each form per aspect, over every device of the account."""
    counts: dict[str, Counter] = {}
    n = 0
    for _, _, page in pages(logged_in(base), base, account):
        for d in page.get("deviceList") or ():
            n += 1
            spelling = [k for k in ("lastConnectionTime", "lastConnectTime") if k in d]
            for aspect, value in (
                ("last connection spelling", " and ".join(spelling) or "absent"),
                ("last connection form", time_form(d[spelling[0]]) if spelling else "absent"),
                ("status as sent", repr(d.get("status"))),
                ("fotaEligible", repr(d["fotaEligible"]) if "fotaEligible" in d else "absent"),
                ("licenseAssigned", repr(d["licenseAssigned"]) if "licenseAssigned" in d else "absent"),
                ("protocol", repr(d["protocol"]) if "protocol" in d else "absent"),
                ("unlisted fields", "some" if set(d) - KNOWN else "none"),
            ):
                counts.setdefault(aspect, Counter())[value] += 1
    return {aspect: {k: v / n for k, v in c.most_common()} for aspect, c in counts.items()}


def summary(shares: dict[str, dict[str, float]]) -> str:
    return "\n".join(
        f"  {aspect}: " + ", ".join(f"{k} {v:.1%}" for k, v in forms.items()) for aspect, forms in shares.items()
    )
