"""``thingspace-simulator``: run the simulator as a local server for demos."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .faults import KINDS, Faults
from .sim import Simulator


def _accounts(text: str) -> dict[str, int]:
    accounts = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        try:
            accounts[name.strip()] = int(count)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected ACCOUNT=COUNT, got {item!r}") from None
    return accounts


def _fault(text: str) -> tuple[str, float]:
    kind, _, rate = text.partition("=")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    try:
        value = float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KIND=RATE, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"rate must be within 0..1, got {value}")
    return kind, value


def _scheduled(text: str) -> tuple[str, int, int]:
    """KIND@AFTER[xCOUNT]: inject KIND into COUNT (default 1) device-list requests after AFTER."""
    kind, _, rest = text.partition("@")
    after, _, count = rest.partition("x")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    if not after.isdigit() or (count and not count.isdigit()):
        raise argparse.ArgumentTypeError(f"expected KIND@AFTER[xCOUNT], e.g. session_expiry@5, got {text!r}")
    return kind, int(after), int(count or 1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thingspace-simulator",
                                description="Local simulator of the ThingSpace OAuth, M2M session and FOTA v3 device-list APIs.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--accounts", type=_accounts, default={"0000123456-00001": 2500},
                   help="ACCOUNT=COUNT[,ACCOUNT=COUNT...] (default 0000123456-00001=2500)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--client-id", default="demo-client")
    p.add_argument("--client-secret", default="demo-secret")
    p.add_argument("--username", default="demo-user")
    p.add_argument("--password", default="demo-password")
    p.add_argument("--token-ttl", type=float, default=3600.0, help="OAuth token lifetime, seconds")
    p.add_argument("--session-idle", type=float, default=1200.0, help="M2M session idle expiry, seconds")
    p.add_argument("--session-error-status", type=int, default=400, choices=(400, 401, 403))
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--churn-seconds", type=float, default=0.0, help="advance the fleet every N seconds (0 = never)")
    p.add_argument("--fault", type=_fault, action="append", default=[], metavar="KIND=RATE",
                   help=f"inject a fault with this probability per device-list request; kinds: {', '.join(KINDS)}")
    p.add_argument("--schedule", type=_scheduled, action="append", default=[], metavar="KIND@AFTER[xCOUNT]",
                   help="inject a fault into COUNT device-list requests after skipping AFTER (repeatable)")
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true", help="log one line per request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    faults = Faults(dict(args.fault), seed=args.fault_seed) if args.fault or args.schedule else None
    for kind, after, count in args.schedule:
        faults.schedule(kind, count=count, after=after)
    sim = Simulator(args.accounts, seed=args.seed, client_id=args.client_id,
                    client_secret=args.client_secret, username=args.username, password=args.password,
                    token_ttl=args.token_ttl, session_idle=args.session_idle, latency=args.latency,
                    page_size=args.page_size, faults=faults, churn_seconds=args.churn_seconds,
                    session_error_status=args.session_error_status, verbose=args.verbose)
    try:
        url = sim.start(args.host, args.port)
    except OSError as err:
        print(f"thingspace-simulator: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    # Only names and sizes: credentials never reach the terminal.
    summary = ", ".join(f"{name}={size}" for name, size in args.accounts.items())
    print(f"thingspace-simulator listening on {url} (accounts: {summary})", file=sys.stderr, flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sim._stop.set())
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
