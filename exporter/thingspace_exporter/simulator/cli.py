"""``thingspace-simulator``: run the simulator as a local server for demos."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import incidents
from .faults import ENDPOINTS, KINDS, PAGE_KINDS, UNPAGED, Faults
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


def _campaigns(text: str) -> int | dict[str, int]:
    """N (every account) or ACCOUNT=N[,ACCOUNT=N...]."""
    if text.strip().isdigit():
        return int(text)
    counts = _accounts(text)
    if any(n < 0 for n in counts.values()):
        raise argparse.ArgumentTypeError(f"campaign counts must not be negative, got {text!r}")
    return counts


def _licenses(text: str) -> dict[str, int | float]:
    """ACCOUNT=COUNT or ACCOUNT=RATIO (a decimal in (0, 1]: usage held at that share)."""
    totals: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            number = float(value) if "." in value else int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected ACCOUNT=COUNT or ACCOUNT=RATIO, got {item!r}") from None
        if (isinstance(number, float) and not 0.0 < number <= 1.0) or number < 0:
            raise argparse.ArgumentTypeError(f"a count must be >= 0 and a ratio within (0, 1], got {item!r}")
        totals[name.strip()] = number
    return totals


def _share(text: str, what: str = "a share") -> float:
    """A number within 0..1 (a fault rate, a failed share)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what} within 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected {what} within 0..1, got {text!r}")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _endpoints(text: str) -> tuple[str, ...]:
    names = tuple(filter(None, (e.strip() for e in text.split(","))))
    for name in names:
        _endpoint(name)
    return names


def _endpoint(name: str) -> str:
    if name not in ENDPOINTS:
        raise argparse.ArgumentTypeError(f"unknown endpoint {name!r}; known: {', '.join(ENDPOINTS)}")
    return name


def _fault(text: str) -> tuple[str, float]:
    kind, _, rate = text.partition("=")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return kind, _share(rate, "KIND=RATE with a rate")


def _scheduled(text: str) -> tuple[str, str, int, int]:
    """KIND[:ENDPOINT]@AFTER[xCOUNT]: inject KIND into COUNT (default 1) requests to ENDPOINT
    (default devices) after AFTER."""
    target, _, rest = text.partition("@")
    kind, _, endpoint = target.partition(":")
    after, _, count = rest.partition("x")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    if not after.isdigit() or (count and not count.isdigit()):
        raise argparse.ArgumentTypeError(f"expected KIND@AFTER[xCOUNT], e.g. session_expiry@5, got {text!r}")
    if endpoint:
        _endpoint(endpoint)
    if kind in PAGE_KINDS and endpoint in UNPAGED:
        raise argparse.ArgumentTypeError(f"{kind} shapes pages; {endpoint} has none")
    return kind, endpoint or "devices", int(after), int(count or 1)


def _incident(text: str) -> tuple[str, str | None, float, float]:
    try:
        return incidents.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="thingspace-simulator",
        description="Local simulator of the ThingSpace OAuth, M2M session and read-only FOTA v3 APIs: "
        "device list, firmware, subscriptions (licences) and campaign reports.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--accounts",
        type=_accounts,
        default={"0000123456-00001": 2500},
        help="ACCOUNT=COUNT[,ACCOUNT=COUNT...] (default 0000123456-00001=2500)",
    )
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
    p.add_argument(
        "--tile",
        type=_positive,
        default=None,
        metavar="N",
        help="device records repeat every N devices (IMEIs and churn stay per device): a page of a "
        "multi-million-device account costs microseconds per device, for benchmarks",
    )
    p.add_argument(
        "--campaigns",
        type=_campaigns,
        default=None,
        metavar="N|ACCOUNT=N[,...]",
        help="firmware campaigns per account (default 8: two running, CampaignScheduled, the rest "
        "ended, cancelled, pending or failed; more are drawn from a seeded mix)",
    )
    p.add_argument(
        "--campaign-devices",
        type=_count,
        default=None,
        metavar="N",
        help="devices per campaign (default seeded 20-400), capped by the account's devices of the model",
    )
    p.add_argument(
        "--campaign-failed-share",
        type=_share,
        default=None,
        metavar="SHARE",
        help="share (0..1) of every running campaign's devices in UpgradeFailed (default seeded 1-6%%)",
    )
    p.add_argument(
        "--campaign-page-size",
        type=_positive,
        default=50,
        help="campaigns per page of the campaign report (default 50)",
    )
    p.add_argument(
        "--campaign-device-page-size",
        type=_positive,
        default=1000,
        help="devices per page of a campaign's device report (default 1000)",
    )
    p.add_argument(
        "--licenses",
        type=_licenses,
        default=None,
        metavar="ACCOUNT=COUNT|RATIO[,...]",
        help="licence total per account, or a usage ratio such as 0.97 held as the fleet churns "
        "(default: the devices with a licence plus a seeded 10-50%% headroom, in blocks of 100)",
    )
    p.add_argument("--churn-seconds", type=float, default=0.0, help="advance the fleet every N seconds (0 = never)")
    p.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"inject a fault with this probability per request to the --fault-endpoints; kinds: {', '.join(KINDS)}",
    )
    p.add_argument(
        "--fault-endpoints",
        type=_endpoints,
        default=("devices",),
        metavar="ENDPOINT[,...]",
        help="endpoints random --fault rates apply to (default devices; also firmware, subscriptions, "
        "campaigns, campaign_devices)",
    )
    p.add_argument(
        "--schedule",
        type=_scheduled,
        action="append",
        default=[],
        metavar="KIND[:ENDPOINT]@AFTER[xCOUNT]",
        help="inject a fault into COUNT requests after skipping AFTER (repeatable); KIND[:ENDPOINT]@... "
        "targets another endpoint, e.g. server_error:campaigns@0x2 (default devices)",
    )
    p.add_argument(
        "--incident",
        type=_incident,
        action="append",
        default=[],
        metavar="KIND[:TARGET]@AFTER[+DURATION]",
        help=f"an incident AFTER seconds from start, lasting DURATION seconds (default "
        f"{incidents.DEFAULT_DURATION:g}), then ending by itself (repeatable); kinds: {', '.join(incidents.KINDS)}; "
        "TARGET: [ACCOUNT/]MODEL for silent (default BG96), else an ACCOUNT (default every one), "
        "e.g. silent:BG96@30+120. Also POST /_simulator/incidents",
    )
    p.add_argument(
        "--rate-limit",
        type=_count,
        default=0,
        metavar="N",
        help="a hidden rate limit: at most N requests within any second, the rest answered 429 "
        "with Retry-After (default 0: none)",
    )
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true", help="log one line per request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    faults = (
        Faults(dict(args.fault), seed=args.fault_seed, endpoints=args.fault_endpoints)
        if args.fault or args.schedule
        else None
    )
    for kind, endpoint, after, count in args.schedule:
        assert faults is not None  # made above whenever there is a schedule
        faults.schedule(kind, count=count, endpoint=endpoint, after=after)
    sim = Simulator(
        args.accounts,
        seed=args.seed,
        client_id=args.client_id,
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
        token_ttl=args.token_ttl,
        session_idle=args.session_idle,
        latency=args.latency,
        page_size=args.page_size,
        faults=faults,
        churn_seconds=args.churn_seconds,
        session_error_status=args.session_error_status,
        verbose=args.verbose,
        campaigns=args.campaigns,
        campaign_devices=args.campaign_devices,
        campaign_failed_share=args.campaign_failed_share,
        campaign_page_size=args.campaign_page_size,
        campaign_device_page_size=args.campaign_device_page_size,
        licenses=args.licenses,
        rate_limit_per_second=args.rate_limit,
        tile=args.tile,
    )
    for kind, target, after, duration in args.incident:
        try:
            sim.add_incident(kind, target, after, duration)
        except ValueError as err:
            print(f"thingspace-simulator: --incident: {err}", file=sys.stderr)
            return 2
    try:
        url = sim.start(args.host, args.port)
    except OSError as err:
        print(f"thingspace-simulator: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    # Before the "listening" line: whoever reads it may send SIGTERM at once.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sim.interrupt())
    # Only names and sizes: credentials never reach the terminal.
    summary = ", ".join(f"{name}={size}" for name, size in args.accounts.items())
    print(f"thingspace-simulator listening on {url} (accounts: {summary})", file=sys.stderr, flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
