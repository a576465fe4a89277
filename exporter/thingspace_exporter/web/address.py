"""The listen address: host:port, as THINGSPACE_LISTEN_ADDRESS and the health check read it."""

from __future__ import annotations

DEFAULT_PORT = 29811  # "ts" in ASCII hex; outside Prometheus' 9100-9999 allocation range


def parse_listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.strip().rpartition(":")
    # ASCII digits only: int() fails on "²" (str.isdigit() accepts it) with the value in its message
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError("give host:port, e.g. :29811 or 127.0.0.1:29811")
    return host.strip("[]"), int(port)
