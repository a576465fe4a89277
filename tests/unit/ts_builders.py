"""Builders and helpers shared by the unit tests (imported by name; conftest only has fixtures)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from thingspace_exporter.metrics import ExporterMetrics

BASE = "https://ts.test"
CLIENT_ID = "client-id-abc"
CLIENT_SECRET = "client-secret-S3CR3T-value"
USERNAME = "uws-user"
PASSWORD = "uws-password-P4SSW0RD-value"
ACCOUNT = "0000123456-00001"


def device(imei: str = "350000000000001", **fields: Any) -> dict[str, Any]:
    """A device object as the API sends it; pass field=... to override, field=DROP to omit."""
    d: dict[str, Any] = {
        "deviceId": imei,
        "mdn": "5551234567",
        "make": "NORDIC SEMICONDUCTOR ASA",
        "model": "NRF9160",
        "firmware": "fw-1",
        "fotaEligible": True,
        "licenseAssigned": True,
        "status": "Active",
        "protocol": "LWM2M",
        "softwareList": [],
        "filesList": [],
        "createTime": "2020-06-15 05:29:25.352 +0000 UTC",
        "lastConnectionTime": "2021-09-29 07:43:08.181 +0000 UTC",
    }
    for key, value in fields.items():
        if value is DROP:
            d.pop(key, None)
        else:
            d[key] = value
    return d


DROP = object()


AUTO = object()


def page(
    devices: list[dict] | None, more: Any = False, cursor: Any = AUTO, account: str = "0000123456-00001", **extra: Any
) -> dict[str, Any]:
    """A device-list page. cursor: AUTO (last device id when more data follows, else "0"),
    DROP (omit the field) or any value (None included) to send as is."""
    doc: dict[str, Any] = {"accountName": account, "maxPageSize": 1000, "hasMoreData": more, "deviceList": devices}
    if cursor is AUTO:
        cursor = devices[-1]["deviceId"] if (more is True and devices) else "0"
    if cursor is not DROP:
        doc["lastSeenDeviceId"] = cursor
    doc.update(extra)
    return doc


def imei(n: int) -> str:
    return f"{n:015d}"


def sample(metrics: ExporterMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# A tiny real HTTP server for what `responses` cannot show (urllib3 retries, timeouts, Retry-After).
class TinyServer:
    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []  # consumed in order; the last one repeats
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends "hang" replies early
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.requests.append(
                        {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    reply = outer.script.pop(0) if len(outer.script) > 1 else (outer.script or [{}])[0]
                if reply.get("hang"):
                    outer.release.wait(reply["hang"])
                data = reply.get("body", b"{}")
                if isinstance(data, (dict, list)):
                    data = json.dumps(data).encode()
                self.send_response(reply.get("status", 200))
                for k, v in reply.get("headers", {"Content-Type": "application/json"}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if "cut" in reply:  # promise the whole body, send part of it, hang up
                    data = data[: reply["cut"]]
                    self.close_connection = True
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
