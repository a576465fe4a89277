"""Load on a running exporter HTTP server: scrape latency at some concurrency, and the cost of
many half-sent requests held open. Used by bench/run.py; runs on its own against any port too:

    python bench/serve_load.py PORT PID [CONNECTIONS]

Every scrape opens a new connection (as the backlog matters then) and reads the whole body.
Memory and threads come from /proc/PID/status of the server process.
"""

from __future__ import annotations

import resource
import socket
import statistics
import sys
import threading
import time

REQUEST = b"GET /metrics HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: bench\r\n"  # never finished


def scrape(port: int, timeout: float = 30.0) -> float:
    """Seconds from connect to the last byte of a 200 response."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(REQUEST)
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    dt = time.perf_counter() - t0
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"scrape answered {head[:40]!r}")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    if len(body) != length:
        raise RuntimeError(f"scrape body cut short: {len(body)} of {length} bytes")
    return dt


def latencies(port: int, concurrency: int, per_client: int) -> list[float]:
    """`concurrency` clients each scraping `per_client` times back to back."""
    out: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(concurrency)

    def client() -> None:
        try:
            start.wait()
            mine = [scrape(port) for _ in range(per_client)]
            out.extend(mine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {concurrency} clients failed: {errors[0]!r}")
    return out


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (kB) and Threads of a process."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                fields[key] = int(value.split()[0])
    return fields


def hold_half_sent(port: int, n: int) -> list[socket.socket]:
    """n connections, each having sent half a request head."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(HALF_REQUEST)
        socks.append(s)
    return socks


def still_open(socks: list[socket.socket]) -> int:
    """How many of the held connections the server has not closed."""
    open_ = 0
    for s in socks:
        s.setblocking(False)
        try:
            open_ += s.recv(1) != b""
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
    return open_


def held_cost(port: int, pid: int, n: int) -> dict[str, float]:
    """RSS and threads of the server idle, then with n half-sent requests held, plus one scrape
    made meanwhile."""
    for _ in range(3):
        scrape(port)
    time.sleep(0.5)
    before = proc_status(pid)
    socks = hold_half_sent(port, n)
    try:
        time.sleep(0.5)
        during = proc_status(pid)
        meanwhile = scrape(port)
        held = still_open(socks)
    finally:
        for s in socks:
            s.close()
    return {
        "rss_idle_mb": before["VmRSS"] / 1024,
        "rss_held_mb": during["VmRSS"] / 1024,
        "threads_idle": before["Threads"],
        "threads_held": during["Threads"],
        "held": held,
        "scrape_meanwhile_seconds": meanwhile,
    }


def main(argv: list[str]) -> int:
    port, pid = int(argv[0]), int(argv[1])
    n = int(argv[2]) if len(argv) > 2 else 2000
    for c in (1, 8, 32):
        lat = latencies(port, c, max(20, 320 // c))
        print(
            f"concurrency {c:2}: p50 {percentile(lat, 50) * 1000:7.2f} ms  p99 {percentile(lat, 99) * 1000:7.2f} ms"
            f"  max {max(lat) * 1000:7.2f} ms  (n={len(lat)})"
        )
    print(held_cost(port, pid, n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
