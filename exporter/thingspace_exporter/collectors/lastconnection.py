"""Parsing the last connection time as the API writes it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

# Go's zero time and 1900-01-01 mean "never": nothing real connected before 1971-01-01.
EARLIEST = 31536000.0


def parse_time(value: object) -> float | None:
    """Epoch seconds, or None for unknown.

    Accepts Go's `time.String()` form (`2021-09-29 07:43:08.181 +0000 UTC`, any fraction
    or none, optionally with a ` m=+1.2` monotonic suffix) and RFC 3339.
    """
    if type(value) is not str or len(value) < 19:
        return None
    text = value
    if text[10] == " ":  # Go form: date, clock, numeric offset, zone abbreviation
        parts = text.split(" ")
        if len(parts) >= 3 and len(parts[2]) == 5 and parts[2][0] in "+-":
            offset = parts[2]
            text = f"{parts[0]}T{parts[1]}{offset[:3]}:{offset[3:]}"
        elif len(parts) == 2:
            text = f"{parts[0]}T{parts[1]}"
        else:
            return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    return seconds if seconds >= EARLIEST else None
