"""One HTTP session for all API calls: timeouts, retries with backoff, size and deadline guards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.util.retry import Retry

from .. import __version__
from ..metrics import ExporterMetrics
from .errors import ApiError, Stopped, api_error
from .ratelimit import UNLIMITED, RateLimiter

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # a longer Retry-After would stall the whole cycle
MAX_BODY_BYTES = 64 * 1024 * 1024
# Below glibc's 128 KiB mmap threshold: bigger reads were mapped and unmapped on every page,
# a minor page fault per 4 KiB, which cost more CPU than the rest of the fetch (bench/run.py).
READ_CHUNK = 32 * 1024
CONNECT_TIMEOUT = 10.0
USER_AGENT = f"thingspace-exporter/{__version__} (+https://github.com/thingspace-exporter)"
# The calling thread's request: its endpoint (the name the caller gave, for the retry counts), cycle
# deadline (for the retry sleeps) and when the rate limiter let it go (for a 429's back-off), which
# urllib3's Retry, shared by every call, cannot be told.
_call = threading.local()


class StoppableRetry(Retry):
    """urllib3 Retry whose sleeps end at shutdown or the cycle deadline; Retry-After is capped.
    Every 429, the last one too, reaches the rate limiter, and a retry waits for its turn there."""

    stop: threading.Event = threading.Event()
    on_retry: Callable[[str, str], None] | None = None
    limiter: RateLimiter | None = None

    def new(self, **kw: Any) -> StoppableRetry:
        retry = super().new(**kw)
        retry.stop, retry.on_retry, retry.limiter = self.stop, self.on_retry, self.limiter
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None and response.status == 429 and self.limiter is not None:
            self.limiter.throttled(self.get_retry_after(response), getattr(_call, "sent", None))
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when spent
        if self.on_retry is not None:
            reason = f"http_{response.status}" if response is not None else type(error).__name__.lower()
            self.on_retry(getattr(_call, "endpoint", "unknown"), reason)
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER)

    def sleep(self, response: Any = None) -> None:
        delay = self.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
        if delay is None:
            delay = self.get_backoff_time()
        deadline = getattr(_call, "deadline", None)
        if deadline is not None and time.monotonic() + delay >= deadline:
            raise ApiError("deadline", "cycle deadline reached while backing off")
        if delay > 0 and self.stop.wait(delay):
            raise Stopped()
        if self.limiter is not None and getattr(_call, "sent", None) is not None:
            _call.sent = self.limiter.acquire(self.stop)  # a retry is a request like any other


class Transport:
    def __init__(
        self,
        base_url: str,
        metrics: ExporterMetrics,
        stop: threading.Event,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        rate: float = 0.0,
        pool_size: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.metrics = metrics
        self.stop = stop
        self.timeout = timeout
        # `rate` is a ceiling: the limiter finds the rate ThingSpace allows below it (ratelimit.py)
        self.limiter = RateLimiter(rate, on_change=lambda r: metrics.rate_limit.set(0.0 if r == UNLIMITED else r))
        retry = StoppableRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=0.5,
            backoff_max=30.0,
            backoff_jitter=0.5,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.stop, retry.limiter = stop, self.limiter
        retry.on_retry = lambda endpoint, reason: metrics.retries.labels(endpoint, reason).inc()
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        # requests reads the proxy and CA bundle variables (and ~/.netrc) on every request;
        # the base URL is fixed, so read them once: a tenth of the CPU of a page otherwise.
        env = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.proxies.update(env["proxies"] or {})
        self.session.verify = env["verify"] if env["verify"] is not None else True
        self.session.trust_env = False

    def request(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        deadline: float | None = None,
        timeout: float | None = None,
        during_shutdown: bool = False,
        **kw: Any,
    ) -> bytes:
        """Send one request (retrying transient failures) and return the 2xx body; raise ApiError.

        `during_shutdown` (the logout) skips the stop check and the rate cap.
        """
        if self.stop.is_set() and not during_shutdown:
            raise Stopped()
        read_timeout = timeout or self.timeout
        if deadline is not None:
            read_timeout = min(read_timeout, deadline - time.monotonic())
            if read_timeout <= 0:
                raise self._fail(ApiError("deadline", "cycle deadline reached", endpoint))
        _call.sent = None if during_shutdown else self.limiter.acquire(self.stop)
        self.metrics.requests.labels(endpoint).inc()
        started = time.perf_counter()
        _call.endpoint, _call.deadline = endpoint, deadline
        try:
            resp = self.session.request(
                method,
                self.base_url + path,
                timeout=(min(CONNECT_TIMEOUT, read_timeout), read_timeout),
                stream=True,
                allow_redirects=False,
                **kw,
            )
            with resp:
                body = _read(resp, endpoint, deadline)
        except requests.Timeout as exc:
            raise self._fail(ApiError("timeout", type(exc).__name__, endpoint)) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            reason = "timeout" if _timed_out(exc) else "connection"
            raise self._fail(ApiError(reason, type(exc).__name__, endpoint)) from None
        except requests.RequestException as exc:
            raise self._fail(ApiError("request_error", type(exc).__name__, endpoint)) from None
        except ApiError as exc:
            exc.endpoint = exc.endpoint or endpoint
            raise self._fail(exc) from None
        finally:
            _call.deadline = None
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        if not 200 <= resp.status_code < 300:
            raise self._fail(api_error(endpoint, resp.status_code, body))
        self.limiter.succeeded()
        return body

    def _fail(self, exc: ApiError) -> ApiError:
        self.metrics.failures.labels(exc.endpoint, exc.reason).inc()
        return exc

    def close(self) -> None:
        self.session.close()


def _timed_out(exc: Exception) -> bool:
    """requests reports a read timeout as ConnectionError once urllib3's Retry has given up
    (MaxRetryError wrapping ReadTimeoutError), and while streaming the body."""
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)
    # NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError in urllib3 2
    return isinstance(cause, urllib3_exceptions.TimeoutError) and not isinstance(
        cause, urllib3_exceptions.NewConnectionError
    )


def _read(resp: requests.Response, endpoint: str, deadline: float | None) -> bytes:
    length = resp.headers.get("Content-Length", "")
    expected = int(length) if length.isdigit() else None
    if expected is not None and expected > MAX_BODY_BYTES:
        raise _too_large(endpoint)
    if expected is not None and "Content-Encoding" not in resp.headers:
        # A plain body of known length in one read: a third of the CPU of reading it in pieces.
        try:
            body = resp.raw.read()
        except urllib3_exceptions.ReadTimeoutError:
            raise ApiError("timeout", "ReadTimeoutError", endpoint) from None
        except urllib3_exceptions.HTTPError as exc:  # cut short (IncompleteRead), reset...
            raise ApiError("connection", type(exc).__name__, endpoint) from None
        if len(body) != expected:
            raise ApiError("connection", "response body cut short", endpoint)
        return body
    chunks, size = [], 0  # compressed or chunked: in pieces, so the limit holds after decoding
    for chunk in resp.iter_content(READ_CHUNK):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(endpoint)
        if deadline is not None and time.monotonic() > deadline:
            raise ApiError("deadline", "cycle deadline reached while reading", endpoint)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(endpoint: str) -> ApiError:
    return ApiError("too_large", f"response larger than {MAX_BODY_BYTES} bytes", endpoint)
