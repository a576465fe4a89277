"""The Simulator facade: fleet state, auth, faults and the server's lifecycle."""
from __future__ import annotations

import threading
import time
from collections import Counter

from . import listing
from .auth import Auth
from .faults import Faults
from .fleet import AccountFleet
from .truth import Truth, aggregate


class Simulator:
    def __init__(self, accounts: dict[str, int], seed: int = 1,
                 client_id: str = "demo-client", client_secret: str = "demo-secret",
                 username: str = "demo-user", password: str = "demo-password",
                 token_ttl: float = 3600.0, session_idle: float = 1200.0,
                 latency: float = 0.0, page_size: int = 1000, faults: Faults | None = None,
                 churn_seconds: float = 0.0, session_error_status: int = 400,
                 verbose: bool = False):
        self._fleets = {name: AccountFleet(seed, name, size) for name, size in accounts.items()}
        self.inactive: set[str] = set()  # accounts answered "Inactive account" (see deactivate)
        self._auth = Auth(client_id, client_secret, username, password, token_ttl=token_ttl,
                          session_idle=session_idle, session_error_status=session_error_status)
        self.latency = latency
        self.page_size = page_size
        self.faults = faults
        self.churn_seconds = churn_seconds
        self.verbose = verbose
        self.requests: Counter = Counter()
        self._lock = threading.Lock()
        self._gen_times = [time.time()]  # start time of each generation
        self._stop = threading.Event()
        self._server = None
        self._threads: list[threading.Thread] = []
        self.base_url: str | None = None

    # --- lifecycle -------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        from .server import make_server  # server imports this module's type only
        self._stop.clear()
        self._server = make_server(self, host, port)
        bound_host, bound_port = self._server.server_address[:2]
        self.base_url = f"http://{_url_host(bound_host)}:{bound_port}"
        self._spawn(lambda: self._server.serve_forever(poll_interval=0.1), "thingspace-sim")
        if self.churn_seconds > 0:
            self._spawn(self._churn, "thingspace-sim-churn")
        return self.base_url

    def stop(self) -> None:
        self._stop.set()  # also wakes sleeping latency/slow/timeout faults
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until stop() (or KeyboardInterrupt) — for the CLI."""
        self._stop.wait()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _churn(self) -> None:
        while not self._stop.wait(self.churn_seconds):
            self.advance()

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # --- fleet state -------------------------------------------------------
    def advance(self) -> int:
        with self._lock:
            self._gen_times.append(time.time())
            return len(self._gen_times) - 1

    @property
    def generation(self) -> int:
        return len(self._gen_times) - 1

    def _snapshot(self) -> tuple[int, list[float]]:
        with self._lock:
            return len(self._gen_times) - 1, self._gen_times

    def truth(self, account: str, protocol: str | None = "LWM2M") -> Truth:
        fleet = self._fleets[account]
        gen, times = self._snapshot()
        wanted = listing.protocol_filter(protocol)
        total = sum(1 for idx in range(fleet.slots(gen)) if fleet.present(idx, gen))
        return aggregate(fleet.scan(0, gen, times, wanted), total=total)

    # --- auth controls -------------------------------------------------------
    def expire_token(self) -> None:
        self._auth.expire_token()

    def expire_sessions(self) -> None:
        self._auth.expire_sessions()

    @property
    def locked(self) -> bool:
        return self._auth.locked

    def unlock(self) -> None:
        """What Verizon support does for a locked account."""
        self._auth.unlock()

    # --- account controls ------------------------------------------------------
    def deactivate(self, account: str) -> None:
        """The account is closed: its device list answers "Inactive account" until reactivated."""
        self.inactive.add(account)

    def reactivate(self, account: str) -> None:
        self.inactive.discard(account)

    def _count(self, name: str) -> None:
        with self._lock:
            self.requests[name] += 1


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
