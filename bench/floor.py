"""The floor client: the least a Python process must do to list an account.

One requests.Session, the same OAuth token + M2M login as the exporter, the same
`lastSeenDeviceId` cursor loop, and a typed msgspec decode of only the fields the
exporter reads. It counts devices (so the run can be checked) and nothing else.

Usage: python bench/floor.py BASE_URL ACCOUNT [PROTOCOL]
Prints one JSON line: {"devices": N, "pages": P, "vmhwm_kb": K, "cpu_seconds": C}, C the CPU of
the listing alone, measured in-process: no start-up to subtract, so a loaded machine cannot
turn it negative.
"""

from __future__ import annotations

import sys
import time
from typing import Any
from urllib.parse import quote

import msgspec
import requests


class Software(msgspec.Struct, gc=False):
    name: Any = None
    version: Any = None


class Device(msgspec.Struct, gc=False):
    deviceId: Any = None
    make: Any = None
    model: Any = None
    firmware: Any = None
    status: Any = None
    protocol: Any = None
    fotaEligible: Any = None
    licenseAssigned: Any = None
    softwareList: list[Software] | None = None
    lastConnectionTime: Any = None
    lastConnectTime: Any = None


class Page(msgspec.Struct, gc=False):
    hasMoreData: Any = None
    lastSeenDeviceId: Any = None
    deviceList: list[Device] | None = None


CREDENTIALS = ("demo-client", "demo-secret", "demo-user", "demo-password")


def vmhwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    base, account = argv[0].rstrip("/"), argv[1]
    protocol = argv[2] if len(argv) > 2 else ""
    cpu_start = time.process_time()
    client_id, client_secret, username, password = CREDENTIALS
    s = requests.Session()
    token = s.post(
        base + "/api/ts/v1/oauth2/token",
        auth=(client_id, client_secret),
        data={"grant_type": "client_credentials"},
        timeout=30,
    ).json()["access_token"]
    s.headers["Authorization"] = f"Bearer {token}"
    session = s.post(
        base + "/api/m2m/v1/session/login", json={"username": username, "password": password}, timeout=30
    ).json()["sessionToken"]
    s.headers["VZ-M2M-Token"] = session
    s.headers["Accept"] = "application/json"
    decoder = msgspec.json.Decoder(Page)
    url = base + "/api/fota/v3/devices/" + quote(account, safe="")
    cursor, devices, pages = "0", 0, 0
    while True:
        params = {"lastSeenDeviceId": cursor}
        if protocol:
            params["protocol"] = protocol
        r = s.get(url, params=params, timeout=30)
        r.raise_for_status()
        page = decoder.decode(r.content)
        pages += 1
        devices += len(page.deviceList or ())
        if not page.hasMoreData:
            break
        cursor = str(page.lastSeenDeviceId)
    cpu = time.process_time() - cpu_start
    print(
        msgspec.json.encode({"devices": devices, "pages": pages, "vmhwm_kb": vmhwm_kb(), "cpu_seconds": cpu}).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
