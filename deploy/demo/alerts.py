"""`make demo-alerts`: watch incidents become notifications, without Docker.

The simulator plays a scripted sequence of incidents; the exporter collects from it; Prometheus
(this machine's binary, the project's rules with `for:` shortened to DEMO_FOR in a temporary copy)
evaluates; Alertmanager (this machine's binary, the shipped inhibitions) notifies a webhook in this
process, which prints one line per alert as it arrives. Everything listens on loopback only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "thingspace.rules.yml"
SHIPPED_AM = ROOT / "deploy" / "compose" / "alertmanager.yml"
A, B = "0000123456-00001", "0000123456-00002"
ACCOUNTS = {A: 2500, B: 3000}
CREDENTIALS = {"client_id": "demo-client", "client_secret": "demo-secret", "username": "demo-user"}
DEMO_FOR = "10s"
INCIDENTS = (  # KIND[:TARGET]@AFTER+DURATION, seconds from the simulator's start
    f"silent:{A}/BG96@20+60",
    f"licences:{A}@20+60",
    f"campaign_failing:{B}@20+60",
    f"inactive:{B}@100+50",
    "throttled@170+40",
)
LENGTH = 290  # seconds: the last incident and its resolution, with room
BINARIES = (("prometheus", "prometheus"), ("prometheus-alertmanager", "prometheus-alertmanager"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_rules(path: Path) -> None:
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = DEMO_FOR
            rule["expr"] = rule["expr"].replace("[5m]", "[30s]")  # rates that settle within the demo
    path.write_text(yaml.safe_dump(doc))


def alertmanager_config(path: Path, webhook: str) -> None:
    doc = yaml.safe_load(SHIPPED_AM.read_text())  # the shipped inhibitions, notifying at once
    doc["route"] = {"receiver": "demo", "group_by": ["..."], "group_wait": "1s", "group_interval": "2s"}
    doc["receivers"] = [{"name": "demo", "webhook_configs": [{"url": webhook, "send_resolved": True}]}]
    path.write_text(yaml.safe_dump(doc))


def line(alert: dict) -> str:
    labels = alert["labels"]
    where = " ".join(f"{k}={labels[k]}" for k in ("account", "model", "campaign_name", "endpoint") if k in labels)
    state = "FIRING  " if alert["status"] == "firing" else "resolved"
    return f"{time.strftime('%H:%M:%S')} {state} {labels['alertname']:<30} {where}  {alert['annotations']['summary']}"


def webhook() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            for alert in json.loads(self.rfile.read(int(self.headers["Content-Length"])))["alerts"]:
                print(line(alert), flush=True)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    missing = [(tool, package) for tool, package in BINARIES if shutil.which(tool) is None]
    if missing:
        packages = " ".join(package for _, package in missing)
        print(
            f"demo-alerts needs {', '.join(tool for tool, _ in missing)} on PATH: on Debian or Ubuntu, "
            f"`sudo apt-get install {packages}`",
            file=sys.stderr,
        )
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="thingspace-demo-alerts-"))
    sim_port, exporter_port, prom_port, am_port = (free_port() for _ in range(4))
    hook = webhook()
    fast_rules(tmp / "rules.yml")
    alertmanager_config(tmp / "alertmanager.yml", f"http://127.0.0.1:{hook.server_address[1]}/")
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
                "rule_files": [str(tmp / "rules.yml")],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [
                    {"job_name": "thingspace", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
                ],
            }
        )
    )
    accounts = ",".join(f"{a}={n}" for a, n in ACCOUNTS.items())
    env = {k: v for k, v in os.environ.items() if not k.startswith("THINGSPACE_")}
    env.update({f"THINGSPACE_{k.upper()}": v for k, v in CREDENTIALS.items()})
    env.update(
        THINGSPACE_PASSWORD="demo-password",
        THINGSPACE_ACCOUNTS=",".join(ACCOUNTS),
        THINGSPACE_BASE_URL=f"http://127.0.0.1:{sim_port}",
        THINGSPACE_LISTEN_ADDRESS=f"127.0.0.1:{exporter_port}",
        THINGSPACE_INTERVAL_SECONDS="5",
        THINGSPACE_MAX_RETRIES="1",
    )
    commands = {
        "simulator": [sys.executable, "-m", "thingspace_exporter.simulator.cli", "--port", str(sim_port)]
        + ["--accounts", accounts, "--campaign-devices", "100"]
        + [arg for spec in INCIDENTS for arg in ("--incident", spec)],
        "exporter": [sys.executable, "-m", "thingspace_exporter"],
        "alertmanager": [
            shutil.which("prometheus-alertmanager") or "",
            f"--config.file={tmp / 'alertmanager.yml'}",
            f"--storage.path={tmp / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        "prometheus": [
            shutil.which("prometheus") or "",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=2s",
        ],
    }
    print(
        f"demo-alerts: logs in {tmp}; Prometheus http://127.0.0.1:{prom_port}, Alertmanager http://127.0.0.1:{am_port}"
    )
    print("demo-alerts: incidents (seconds from now): " + ", ".join(INCIDENTS))
    print(f"demo-alerts: alerts fire after {DEMO_FOR} (a demo's `for:`); Ctrl-C stops early", flush=True)
    procs: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for name, cmd in commands.items():
            with open(tmp / f"{name}.log", "wb") as log:
                procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
        time.sleep(LENGTH)
        print("demo-alerts: done", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(procs):  # only the processes started here, by their handles
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        hook.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
