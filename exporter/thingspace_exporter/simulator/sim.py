"""The Simulator: its state (fleets, auth, campaigns, licences, faults), its API (``handle``: one
method per endpoint, answering a Call with a Response) and the HTTP server's lifecycle.

The server is plain plumbing (httpd.py) handed ``handle``: it knows nothing of the endpoints.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import msgspec

from . import firmware, incidents, listing
from .auth import Gatekeeper, gateway_fault
from .campaigns import DEFAULT_COUNT, RUNNING, Book, CampaignTruth
from .faults import KINDS, PAGED, FaultContext, Faults, throttled
from .fleet import AccountFleet, go_time
from .httpd import make_server
from .licenses import Licenses, check_configured
from .replies import Call, Response, json_reply
from .routes import route
from .throttle import Throttle
from .tiles import fleet_for
from .truth import Truth, aggregate, parse_time


class Simulator:
    def __init__(
        self,
        accounts: dict[str, int],
        seed: int = 1,
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",
        username: str = "demo-user",
        password: str = "demo-password",
        token_ttl: float = 3600.0,
        session_idle: float = 1200.0,
        latency: float = 0.0,
        page_size: int = 1000,
        faults: Faults | None = None,
        churn_seconds: float = 0.0,
        session_error_status: int = 400,
        verbose: bool = False,
        campaigns: int | dict[str, int | dict[str, int]] | None = None,
        campaign_devices: int | None = None,
        campaign_failed_share: float | None = None,
        campaign_page_size: int = 50,
        campaign_device_page_size: int = 1000,
        licenses: dict[str, int | float] | None = None,
        rate_limit_per_second: int = 0,
        tile: int | None = None,
    ):
        """``campaigns``: per account a count (statuses from a default mix, then seeded)
        or an exact {status: count}; an int applies to every account; accounts left out
        get DEFAULT_COUNT. ``campaign_devices``: devices per campaign (default seeded
        20-400; capped by the account's devices of the campaign's model).
        ``campaign_failed_share``: share of UpgradeFailed devices in every running
        campaign. ``licenses``: per account a licence total, or a float in (0, 1]: the
        usage ratio to hold (default: seeded headroom above the used count).
        ``rate_limit_per_second``: a hidden limit on requests to every endpoint (0 = none): beyond
        it within any second, 429 with Retry-After (see ``throttle``). ``tile``: device records
        repeat every so many slots (see tiles.py): pages of millions of devices at microseconds
        per device."""
        self._fleets: dict[str, AccountFleet] = {
            name: fleet_for(seed, name, size, tile) for name, size in accounts.items()
        }
        self.seed = seed
        created = time.time()
        per_account = campaigns if isinstance(campaigns, dict) else {}
        default = campaigns if isinstance(campaigns, int) else DEFAULT_COUNT
        self._catalogs = {name: firmware.catalog(seed, name) for name in accounts}
        self._books = {
            name: Book(seed, fleet, self._catalogs[name], per_account.get(name, default), campaign_devices, created)
            for name, fleet in self._fleets.items()
        }
        for book in self._books.values():
            book.running_failed_share = _share(campaign_failed_share)
        self._licenses = {
            name: Licenses(
                seed, fleet, check_configured(name, (licenses or {})[name]) if name in (licenses or {}) else None
            )
            for name, fleet in self._fleets.items()
        }
        self.campaign_page_size = campaign_page_size
        self.campaign_device_page_size = campaign_device_page_size
        self.inactive: set[str] = set()  # accounts answered "Inactive account" (see deactivate)
        self._auth = Gatekeeper(
            client_id,
            client_secret,
            username,
            password,
            token_ttl=token_ttl,
            session_idle=session_idle,
            session_error_status=session_error_status,
        )
        self.latency = latency
        self.page_size = page_size
        self.faults = faults
        self.throttle = Throttle(rate_limit_per_second) if rate_limit_per_second else None
        self.churn_seconds = churn_seconds
        self.verbose = verbose
        self.requests: Counter = Counter()
        self._lock = threading.Lock()
        self._gen_times = [created]  # start time of each generation
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.base_url: str | None = None
        self.incidents = incidents.Incidents()
        self._silent: dict[tuple[str, str], float] = {}  # (account, model) -> pinned last connection
        self._throttled_share = 0.0
        self._random = random.Random(seed)

    # --- lifecycle -------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._stop.clear()
        server = self._server = make_server(host, port, self.handle, self._log)
        bound_host, bound_port = server.server_address[:2]
        self.base_url = f"http://{_url_host(str(bound_host))}:{bound_port}"
        self._spawn(lambda: server.serve_forever(poll_interval=0.1), "thingspace-sim")
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
        """Block until stop() or interrupt() (or KeyboardInterrupt) — for the CLI."""
        self._stop.wait()

    def interrupt(self) -> None:
        """End serve_forever (and wake sleeping faults), leaving the shutdown to stop(): a signal
        handler only sets a flag, and the CLI's main thread cleans up."""
        self._stop.set()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _churn(self) -> None:
        while not self._stop.wait(self.churn_seconds):
            self.advance()

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _log(self, line: str) -> None:
        if self.verbose:
            print(line, file=sys.stderr, flush=True)

    # --- the API -----------------------------------------------------------
    def handle(self, call: Call) -> Response | None:
        """The reply to one call; None for the "timeout" fault (never answer)."""
        if call.path == INCIDENTS_PATH:
            return self._incidents_endpoint(call)
        self._reconcile()
        found = route(call.path)
        if found is None:
            return json_reply(*gateway_fault("900906"))
        endpoint, allowed, segment = found
        if call.method != allowed:
            reply = json_reply(405, {"errorCode": "METHOD_NOT_ALLOWED", "errorMessage": f"Use {allowed}"})
            reply.headers["Allow"] = allowed
            return reply
        self._count(endpoint)
        if self.throttle is not None and (retry_after := self.throttle.admit()) is not None:
            self._count("throttled")
            return throttled(retry_after)
        if self._throttled_share and self._random.random() < self._throttled_share:
            self._count("throttled")
            return throttled(1)
        if self.latency:
            self._sleep(self.latency)
        normal: Callable[..., Any] = {
            "token": self._token,
            "login": self._login,
            "logout": self._logout,
            "devices": self._devices,
            "firmware": self._firmware,
            "subscriptions": self._subscriptions,
            "campaigns": self._campaigns,
            "campaign_devices": self._campaign_devices,
        }[endpoint]

        faults = self.faults
        kind = faults.pick(endpoint) if faults is not None else None
        if faults is None or kind is None:
            return normal(call, segment)
        cursor_key, list_key = PAGED.get(endpoint, PAGED["devices"])
        ctx = FaultContext(
            normal=lambda: normal(call, segment),
            page=lambda: normal(call, segment, raw=True),
            cursor=call.param(cursor_key, "0") or "0",
            cursor_key=cursor_key,
            list_key=list_key,
            expire_token=self.expire_token,
            expire_sessions=self.expire_sessions,
            session_error=lambda k: json_reply(*self._auth.session_error(k)),
            sleep=self._sleep,
            slow_seconds=faults.slow_seconds,
            hang_seconds=faults.hang_seconds,
        )
        return KINDS[kind](ctx)

    # One method per endpoint: (call, account segment) -> the reply; with raw=True a paged
    # endpoint gives its page as data instead, for the faults that reshape a page.

    def _token(self, call: Call, _segment: str, raw: bool = False) -> Response:
        form = parse_qs(call.body.decode("utf-8", "replace"), keep_blank_values=True)
        status, body = self._auth.issue_token(call.header("Authorization"), form)
        if status != 200:
            self._count("token_failed")
        return json_reply(status, body)

    def _login(self, call: Call, _segment: str, raw: bool = False) -> Response:
        problem = self._auth.check_bearer(call.header("Authorization"))
        if problem:
            return json_reply(*problem)
        try:
            body = msgspec.json.decode(call.body)
        except msgspec.DecodeError:
            body = None
        status, reply = self._auth.login(body)
        if status != 200:
            self._count("login_failed")
        return json_reply(status, reply)

    def _logout(self, call: Call, _segment: str, raw: bool = False) -> Response:
        problem = self._auth.check_bearer(call.header("Authorization"))
        if problem:
            return json_reply(*problem)
        return json_reply(*self._auth.logout(call.header("VZ-M2M-Token")))

    def _devices(self, call: Call, segment: str, raw: bool = False) -> Response | dict:
        problem = self._tokens_problem(call)
        if problem:
            return json_reply(*problem)
        gen, times = self._snapshot()
        try:
            account = unquote(segment)
            fleet = listing.find_account({} if account in self.inactive else self._fleets, account)
            body = listing.page_body(
                fleet, gen, times, call.param("lastSeenDeviceId"), call.param("protocol"), self.page_size
            )
        except listing.Refused as err:
            return json_reply(err.status, err.body)
        if any(key[0] == account for key in self._silent):
            doc = msgspec.json.decode(body)
            doc["deviceList"] = list(self._pinned(account, doc.get("deviceList") or ()))
            return doc if raw else Response(200, msgspec.json.encode(doc))
        return msgspec.json.decode(body) if raw else Response(200, body)

    def _firmware(self, call: Call, segment: str, raw: bool = False) -> Response | list:
        checked = self._checked(call, segment)
        if isinstance(checked, Response):
            return checked
        account = checked[0]
        body = [p.record() for p in firmware.select(self._catalogs[account], call.param("protocol"))]
        return body if raw else json_reply(200, body)

    def _subscriptions(self, call: Call, segment: str, raw: bool = False) -> Response | dict:
        checked = self._checked(call, segment)
        if isinstance(checked, Response):
            return checked
        account, _, gen, times = checked
        body = self._licenses[account].body(gen, times)
        return body if raw else json_reply(200, body)

    def _campaigns(self, call: Call, segment: str, raw: bool = False) -> Response | dict:
        checked = self._checked(call, segment)
        if isinstance(checked, Response):
            return checked
        try:
            body = self._books[checked[0]].campaign_page(
                call.param("campaignStatus"), call.param("lastSeenCampaignId"), self.campaign_page_size
            )
        except listing.Refused as err:
            return json_reply(err.status, err.body)
        return body if raw else json_reply(200, body)

    def _campaign_devices(self, call: Call, segment: str, raw: bool = False) -> Response | dict:
        account_segment, _, campaign_segment = segment.partition("/")
        checked = self._checked(call, account_segment)
        if isinstance(checked, Response):
            return checked
        account, _, gen, times = checked
        try:
            body = self._books[account].device_page(
                unquote(campaign_segment), call.param("lastSeenDeviceId"), gen, times, self.campaign_device_page_size
            )
        except listing.Refused as err:
            return json_reply(err.status, err.body)
        return body if raw else json_reply(200, body)

    def _tokens_problem(self, call: Call):
        """The error (status, body) when the bearer token or the session is not usable, else None."""
        return self._auth.check_bearer(call.header("Authorization")) or self._auth.check_session(
            call.header("VZ-M2M-Token")
        )

    def _checked(self, call: Call, account_segment: str):
        """(account, fleet, generation, generation times) once both tokens and the account pass."""
        problem = self._tokens_problem(call)
        if problem:
            return json_reply(*problem)
        account = unquote(account_segment)
        try:
            fleet = listing.find_account({} if account in self.inactive else self._fleets, account)
        except listing.Refused as err:
            return json_reply(err.status, err.body)
        gen, times = self._snapshot()
        return account, fleet, gen, times

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
        return aggregate(self._pinned(account, fleet.scan(0, gen, times, wanted)), total=total)

    def firmware_paths(self, account: str, protocol: str | None = "LWM2M") -> list[tuple[str, str, str, str]]:
        """(make, model, firmware_from, firmware_to) of each path the firmware endpoint
        lists for this protocol, in its order (a pair offered for two protocols appears
        twice when protocol is None/"all")."""
        return [
            (p.make, p.model, p.firmware_from, p.firmware_to)
            for p in firmware.select(self._catalogs[account], protocol)
        ]

    def upgradable(self, account: str, protocol: str | None = "LWM2M") -> Counter:
        """(make, model, firmware) -> devices the device list (same protocol filter) shows
        on a firmware that is the firmware_from of a path for their make and model."""
        sources = {(make, model, src) for make, model, src, _ in self.firmware_paths(account, protocol)}
        counts: Counter = Counter()
        for (make, model, fw, *_), n in self.truth(account, protocol).devices.items():
            if (make, model, fw) in sources:
                counts[(make, model, fw)] += n
        return counts

    def licenses(self, account: str) -> tuple[int, int]:
        """(licenseCount, licenseUsedCount) the subscriptions endpoint serves now."""
        book = self._licenses[account]
        gen = self.generation
        return book.count(gen), book.used(gen)

    def set_licenses(self, account: str, count: int | float | None) -> None:
        """A licence total, a usage ratio in (0, 1], or None for the seeded default."""
        self._licenses[account].configured = None if count is None else check_configured(account, count)

    def campaign_truth(self, account: str) -> CampaignTruth:
        """Campaigns by status (every known status, 0 included) and, per campaign id, its
        facts and devices by upgrade status, as the campaign endpoints serve them now."""
        return self._books[account].truth(self.generation)

    def set_campaign_failed_share(self, account: str, share: float | None, campaign_id: str | None = None) -> None:
        """Share of a campaign's devices in UpgradeFailed (None: back to seeded). Without
        campaign_id: every running (CampaignScheduled) campaign of the account."""
        book = self._books[account]
        if campaign_id is None:
            book.running_failed_share = _share(share)
        elif campaign_id not in book.by_id:
            raise KeyError(campaign_id)
        elif share is None:
            book.failed_share.pop(campaign_id, None)
        else:
            book.failed_share[campaign_id] = _share(share) or 0.0

    def running_campaigns(self, account: str) -> list[str]:
        """Ids of the account's CampaignScheduled campaigns, ascending."""
        return [c.id for c in self._books[account].chains.get(RUNNING, [])]

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
        """The account is closed: every FOTA endpoint answers "Inactive account" until reactivated."""
        self.inactive.add(account)

    def reactivate(self, account: str) -> None:
        self.inactive.discard(account)

    # --- incidents (see incidents.py) --------------------------------------------
    def add_incident(
        self, kind: str, target: str | None = None, after: float = 0.0, duration: float = incidents.DEFAULT_DURATION
    ) -> None:
        account = target if kind in ("inactive", "campaign_failing", "licences") else None
        if kind == "silent" and target and "/" in target:
            account = target.rpartition("/")[0]
        if account is not None and account not in self._fleets:
            raise ValueError(f"{kind}: unknown account {account!r}")
        self.incidents.add(kind, target, after, duration)

    def _reconcile(self) -> None:
        begin, finish = self.incidents.due()
        for inc in begin:
            self._incident(inc, True)
        for inc in finish:
            self._incident(inc, False)

    def _incident(self, inc: incidents.Incident, on: bool) -> None:
        if inc.kind == "throttled":
            self._throttled_share = incidents.THROTTLED_SHARE if on else 0.0
            return
        if inc.kind == "silent":
            account, _, model = (inc.target or incidents.DEFAULT_MODEL).rpartition("/")
            accounts = [account] if account else list(self._fleets)
        else:
            accounts = [inc.target] if inc.target else list(self._fleets)
        saved = inc.saved = inc.saved or {}
        for name in accounts:
            if inc.kind == "silent":
                silent = dict(self._silent)  # swapped whole: request threads read it unlocked
                if on:
                    silent[(name, model)] = inc.start - incidents.SILENT_AGE
                else:
                    silent.pop((name, model), None)
                self._silent = silent
            elif inc.kind == "inactive":
                (self.inactive.add if on else self.inactive.discard)(name)
            elif inc.kind == "campaign_failing":
                book = self._books[name]
                if on:
                    saved[name] = book.running_failed_share
                book.running_failed_share = incidents.CAMPAIGN_FAILED_SHARE if on else saved.get(name)
            elif inc.kind == "licences":
                held = self._licenses[name]
                if on:
                    saved[name] = held.configured
                held.configured = incidents.LICENCE_RATIO if on else saved.get(name)

    def _pinned(self, account: str, devices):
        """The devices with the last connection of silent models pinned (never made more recent)."""
        silent = self._silent
        for d in devices:
            pinned = silent.get((account, d.get("model")))
            if pinned is not None:
                for key in ("lastConnectionTime", "lastConnectTime"):
                    when = parse_time(d.get(key))
                    if when is not None and when > pinned:
                        d[key] = go_time(int(pinned), 0, 0)
            yield d

    def _incidents_endpoint(self, call: Call) -> Response:
        """GET: the incidents and whether each is active; POST {kind, target, after, duration}: add one."""
        self._reconcile()
        if call.method == "POST":
            try:
                body = msgspec.json.decode(call.body)
                self.add_incident(
                    body["kind"],
                    body.get("target"),
                    float(body.get("after", 0)),
                    float(body.get("duration", incidents.DEFAULT_DURATION)),
                )
            except (msgspec.DecodeError, KeyError, TypeError, ValueError) as err:
                return json_reply(400, {"error": str(err)})
            self._reconcile()
            return json_reply(201, {"incidents": self.incidents.records()})
        return json_reply(200, {"incidents": self.incidents.records()})

    def _count(self, name: str) -> None:
        with self._lock:
            self.requests[name] += 1


INCIDENTS_PATH = "/_simulator/incidents"  # the control endpoint, for tests and demos


def _share(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"a failed share must be within 0..1, got {value}")
    return value


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
