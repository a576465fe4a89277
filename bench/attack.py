"""Attacks on a secured exporter (the demo, basic auth at bcrypt cost 10, over loopback), with the
figures of the README's attack table:

    .venv/bin/python bench/attack.py [--rounds 20]

1. a burst of 300 wrong-password requests, each socket closed right after sending;
2. 16 threads sending random passwords for 30 s;
during both: the cached scrape's p99 and /-/healthy's worst latency;
3. with THINGSPACE_MAX_CONNECTIONS=50 taken by clients that pipeline and never read: seconds for a
new client to be served;
4. SIGTERM with password checks queued: the exit codes over --rounds rounds.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bcrypt
from run import PY, ROOT, free_port


def auth(password: str) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(b"prometheus:" + password.encode()) + b"\r\n"


def request(path: str, password: str | None = None) -> bytes:
    extra = auth(password) if password is not None else b""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n".encode() + extra + b"\r\n"


def timed(port: int, data: bytes, timeout: float = 60.0) -> tuple[float, int]:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    status = int(b"".join(chunks)[9:12] or 0)
    return time.perf_counter() - t0, status


def start(tmp: Path, max_connections: int = 4096) -> tuple[subprocess.Popen, int]:
    web = tmp / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: {bcrypt.hashpw(b'scrape-pass', bcrypt.gensalt(10)).decode()}\n")
    port = free_port()
    env = {
        **os.environ,
        "THINGSPACE_WEB_CONFIG_FILE": str(web),
        "THINGSPACE_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "THINGSPACE_MAX_CONNECTIONS": str(max_connections),
    }
    proc = subprocess.Popen(
        [PY, "-m", "thingspace_exporter", "--demo"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if timed(port, request("/-/ready"), 2)[1] == 200:
                timed(port, request("/metrics", "scrape-pass"))  # cached from now on
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the exporter did not start")


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()  # by its own id
        return proc.wait()


def hit_and_run(port: int, n: int) -> None:
    for _ in range(n):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request("/metrics", secrets.token_hex(8)))
        except OSError:
            return


def flood(port: int, until: float) -> None:
    while time.monotonic() < until:
        try:
            timed(port, request("/metrics", secrets.token_hex(8)), 10)
        except OSError:
            time.sleep(0.01)


def watch(port: int, attack: threading.Thread) -> tuple[float, float]:
    """(cached scrape p99, /-/healthy worst) in seconds while `attack` runs."""
    scrapes, probes = [], []
    while attack.is_alive() or not scrapes:
        scrapes.append(timed(port, request("/metrics", "scrape-pass"))[0])
        probes.append(timed(port, request("/-/healthy"))[0])
    p99 = statistics.quantiles(scrapes, n=100)[98] if len(scrapes) > 1 else scrapes[0]
    return p99, max(probes)


def non_readers(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.settimeout(0.2)
        try:
            for _ in range(2000):
                s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + auth("scrape-pass") + b"\r\n")
        except OSError:
            pass
        socks.append(s)
    return socks


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--flood-seconds", type=float, default=30.0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        proc, port = start(tmp)
        try:
            burst = threading.Thread(target=hit_and_run, args=(port, 300))
            burst.start()
            p99, worst = watch(port, burst)
            rows.append(("300 wrong passwords, sockets closed", f"{p99 * 1000:.0f} ms", f"{worst * 1000:.0f} ms"))
            until = time.monotonic() + args.flood_seconds
            threads = [threading.Thread(target=flood, args=(port, until)) for _ in range(16)]
            for t in threads:
                t.start()
            p99, worst = watch(port, threads[0])
            for t in threads:
                t.join()
            rows.append(
                (
                    f"16 threads, random passwords, {args.flood_seconds:.0f} s",
                    f"{p99 * 1000:.0f} ms",
                    f"{worst * 1000:.0f} ms",
                )
            )
        finally:
            stop(proc)
        proc, port = start(tmp, max_connections=50)
        try:
            held = non_readers(port, 50)
            t0 = time.perf_counter()
            status = timed(port, request("/-/healthy"), 30)[1]
            served = time.perf_counter() - t0
            for s in held:
                s.close()
        finally:
            stop(proc)
        codes = []
        for _ in range(args.rounds):
            proc, port = start(tmp)
            for _ in range(4):
                threading.Thread(target=hit_and_run, args=(port, 100), daemon=True).start()
            time.sleep(0.3)
            codes.append(stop(proc))
    print("| attack | cached scrape p99 | /-/healthy worst |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nnew client served with 50 non-readers at the cap: {served:.2f} s (status {status})")
    zeros = f"{codes.count(0)} of {len(codes)} exited 0"
    print(f"SIGTERM with checks queued, {args.rounds} rounds: exit codes {sorted(set(codes))} ({zeros})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
