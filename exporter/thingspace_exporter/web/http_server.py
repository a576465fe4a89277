"""An HTTP/1.1 server for a WSGI app that holds under load: every connection lives in one
selector thread, and only complete requests reach a small pool of worker threads.

The selector thread accepts, reads request heads against size limits and deadlines, and writes
responses. A connection that is waiting for (the rest of) its request or idle between requests
costs no thread (a few hundred bytes in plain HTTP, some tens of KB of OpenSSL state with TLS);
when `max_connections` are open, the one that has made no progress (bytes read or written) for
longest is dropped to make room, whatever its state, so neither half-sent requests nor clients
that never read can lock scrapes out. Workers run the app (scrapes render the live metrics) and
hand the response back to the selector thread to send.

Two hooks keep slow work from delaying anyone else: `inline(environ)` picks requests the app
answers at once on the selector thread (health probes), and `defer(environ, resume)` may hold a
request back (a password check on a thread of its own) until it calls resume(). A connection
being worked on is still read: a client that hangs up is seen (environ["thingspace.connected"]()).

TLS: give an ssl.SSLContext (or swap `Server.ssl_context` at run time; each new connection
takes the current one). The handshake runs in the selector thread under the header deadline;
the client certificate, if any, reaches the app as environ["ssl.peercert"].
"""

from __future__ import annotations

import collections
import errno
import io
import math
import queue
import selectors
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from itertools import islice
from typing import Any

from .http_request import BadRequest, Request, check, head_end, parse_head, skip_empty_lines

# Kernels cap this at net.core.somaxconn (4096 on Linux since 5.4, 128 before).
LISTEN_BACKLOG = 4096
ACCEPT_BATCH = 64  # connections accepted per wake-up, so that open ones are served in between
DRAIN_SECONDS = 1.0  # after a final response, read and drop what the client still sends, then close
DRAIN_BYTES = 1 << 20
SWEEP_SECONDS = 0.1  # how often deadlines are checked
JOIN_SECONDS = 1.0  # at shutdown, how long the workers may take to finish their requests
RECV_BYTES = 65536
IOV_BATCH = 512  # buffers per sendmsg, below IOV_MAX (1024): /metrics is thousands of pieces

# Connection states
TLS_HANDSHAKE, READING, WORKING, WRITING, DRAINING = range(5)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 5.0  # from a request's first byte (or the accept) to the end of its head
    idle_timeout: float = 5.0  # a kept-alive connection waiting for its next request
    write_timeout: float = 30.0  # a response the client does not take
    max_connections: int = 4096
    workers: int = 4
    max_request_line: int = 8192
    max_head: int = 16384  # request line and header fields together
    max_headers: int = 100


class _Conn:
    __slots__ = (
        "sock",
        "addr",
        "state",
        "buf",
        "out",
        "deadline",
        "keep_alive",
        "events",
        "drained",
        "tls",
        "idle",
        "gone",
    )

    def __init__(self, sock: socket.socket, addr: Any, tls: bool) -> None:
        self.sock = sock
        self.addr = addr
        self.state = TLS_HANDSHAKE if tls else READING
        self.tls = tls
        self.buf = bytearray()
        self.out: deque[bytes | memoryview] = deque()  # a view only of a piece partly sent
        self.deadline = math.inf
        self.keep_alive = False
        self.events = 0  # selector registration
        self.drained = 0
        self.idle = False  # kept alive between requests: the idle deadline runs, not the header one
        self.gone = False  # the client closed its side while its request was worked on


class Server:
    """Bound at construction (a port in use fails at start-up); serve_forever() serves."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable,
        limits: Limits = Limits(),
        ssl_context: ssl.SSLContext | None = None,
        on_error: Callable[[str], None] | None = None,
        inline: Callable[[dict], bool] | None = None,
        defer: Callable[[dict, Callable[[], None]], bool] | None = None,
    ) -> None:
        self.app, self.inline, self.defer = app, inline, defer
        self.limits = limits
        self.ssl_context = ssl_context
        self.on_error = on_error or (lambda text: print("http_app_error:", text, file=sys.stderr))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
            self.socket.listen(LISTEN_BACKLOG)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self.server_port: int = self.server_address[1]
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._conns: dict[_Conn, None] = {}  # least recent progress first: dropped first at the cap
        self._parked: dict[_Conn, None] = {}  # not working or writing, oldest first: dropped first
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: collections.deque = collections.deque()
        self._resumed: collections.deque = collections.deque()
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._stopped = threading.Event()
        self._accepting = False

    # Life cycle ------------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        self._stopped.clear()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._listen(True)
        next_sweep = time.monotonic() + SWEEP_SECONDS
        try:
            while not self._stopping:
                accept = False
                for key, mask in self._sel.select(SWEEP_SECONDS):
                    if key.fileobj is self.socket:
                        accept = True
                    elif key.fileobj is self._wake_r:
                        self._finish_work()
                    else:
                        self._on_event(key.data, mask)
                if accept:  # last: bytes already here count as progress before the cap drops anyone
                    self._accept()
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + SWEEP_SECONDS
        finally:
            for conn in list(self._conns):
                self._close(conn)
            self._listen(False)
            self._sel.unregister(self._wake_r)
            for _ in self._workers:
                self._jobs.put(None)
            # Joined, so that no worker runs while the interpreter finalizes.
            deadline = time.monotonic() + JOIN_SECONDS
            for worker in self._workers:
                worker.join(max(0.0, deadline - time.monotonic()))
            self._workers.clear()
            self._stopping = False
            self._stopped.set()

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop serve_forever() and close every connection; returns once it has (or after `timeout`)."""
        self._stopping = True
        self._wake()
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def connections(self) -> int:
        return len(self._conns)

    # Accepting -------------------------------------------------------------------------------------

    def _listen(self, on: bool) -> None:
        if on != self._accepting:
            (self._sel.register(self.socket, selectors.EVENT_READ) if on else self._sel.unregister(self.socket))
            self._accepting = on

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: make room, or wait for a connection to end.
                    if not self._drop_oldest():
                        self._listen(False)
                    return
                continue  # ECONNABORTED and the like: that connection is gone
            if len(self._conns) >= self.limits.max_connections:
                self._drop_oldest()
            self._add(sock, addr)

    def _add(self, sock: socket.socket, addr: Any) -> None:
        sock.setblocking(False)
        context = self.ssl_context  # read once: a reload may swap it meanwhile
        tls = context is not None
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                sock.close()
                return
        else:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # responses go out whole
        conn = _Conn(sock, addr, tls)
        conn.deadline = time.monotonic() + self.limits.header_timeout
        self._conns[conn] = None
        self._parked[conn] = None
        self._watch(conn, selectors.EVENT_READ)
        if tls:
            self._handshake(conn)

    def _drop_oldest(self) -> bool:
        for conn in self._conns:
            self._close(conn)
            return True
        return False

    def _progress(self, conn: _Conn) -> None:
        self._conns.pop(conn, None)
        self._conns[conn] = None

    # Events ----------------------------------------------------------------------------------------

    def _on_event(self, conn: _Conn, mask: int) -> None:
        if conn.state == TLS_HANDSHAKE:
            self._handshake(conn)
        elif conn.state == WRITING:
            self._write(conn)
        elif conn.state in (READING, DRAINING):
            self._read(conn)
        elif conn.state == WORKING:
            self._read_ahead(conn)

    def _read_ahead(self, conn: _Conn) -> None:
        """While its request is worked on: keep what a client pipelines, and see it hang up."""
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ValueError):
            self._close(conn)
            return
        if not data:
            conn.gone = True  # hung up, or only half-closed: answer what is here, then close
            self._watch(conn, 0)
            return
        conn.buf += data
        if len(conn.buf) > self.limits.max_head + self.limits.max_request_line:
            self._watch(conn, 0)  # enough for now; read on once this response is sent

    def _handshake(self, conn: _Conn) -> None:
        try:
            conn.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._watch(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(conn, selectors.EVENT_WRITE)
            return
        except (OSError, ValueError):
            self._close(conn)
            return
        conn.state = READING
        self._watch(conn, selectors.EVENT_READ)

    def _read(self, conn: _Conn) -> None:
        while True:
            try:
                data = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except (OSError, ValueError):
                self._close(conn)
                return
            if not data:
                self._close(conn)
                return
            if conn.state == DRAINING:
                conn.drained += len(data)
                if conn.drained > DRAIN_BYTES:
                    self._close(conn)
                    return
                continue
            self._progress(conn)
            if conn.idle:  # the first byte of a next request starts its header deadline
                conn.idle = False
                conn.deadline = time.monotonic() + self.limits.header_timeout
            conn.buf += data
            if len(data) < RECV_BYTES and not (conn.tls and conn.sock.pending()):  # type: ignore[attr-defined]
                break
            if len(conn.buf) > self.limits.max_head + self.limits.max_request_line:
                break  # over the limit whatever follows: no need to read more
        if conn.state == READING:
            self._parse(conn)

    def _parse(self, conn: _Conn) -> None:
        lim = self.limits
        skip_empty_lines(conn.buf)
        try:
            ends = head_end(conn.buf, lim.max_request_line, lim.max_head)
            if ends is None:
                return
            req = parse_head(bytes(conn.buf[: ends[0]]), lim.max_request_line, lim.max_headers)
            check(req)
        except BadRequest as exc:
            self._respond(conn, _error_response(exc), keep_alive=False)
            return
        del conn.buf[: ends[1]]
        conn.state = WORKING
        conn.deadline = math.inf
        self._parked.pop(conn, None)
        self._watch(conn, selectors.EVENT_READ)
        environ = self._environ(conn, req)
        if self.inline is not None and self.inline(environ):
            self._done.append((conn, *self._run(environ, req)))  # sent from the loop: no recursion
            self._wake()
        elif self.defer is None or not self.defer(environ, lambda: self._resume(conn, environ, req)):
            self._enqueue(conn, environ, req)

    def _enqueue(self, conn: _Conn, environ: dict, req: Request) -> None:
        if len(self._workers) < self.limits.workers:  # started as needed, up to the limit
            self._start_worker()
        self._jobs.put((conn, environ, req))

    def _resume(self, conn: _Conn, environ: dict, req: Request) -> None:
        """From any thread: a deferred request goes on to the workers."""
        self._resumed.append((conn, environ, req))
        self._wake()

    def _environ(self, conn: _Conn, req: Request) -> dict[str, Any]:
        host, port = self.server_address[:2]
        environ = {
            "REQUEST_METHOD": req.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": req.path,
            "QUERY_STRING": req.query,
            "SERVER_PROTOCOL": req.version,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "REMOTE_ADDR": str(conn.addr[0]) if conn.addr else "",
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if conn.tls else "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "thingspace.connected": lambda: conn in self._conns and not conn.gone,
        }
        for key, value in req.headers.items():
            if key not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
                environ["HTTP_" + key] = value
        if conn.tls:
            environ["HTTPS"] = "on"
            environ["ssl.peercert"] = conn.sock.getpeercert()  # type: ignore[attr-defined]
        return environ

    # Workers ---------------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        t = threading.Thread(target=self._work, name=f"http-worker-{len(self._workers)}", daemon=True)
        self._workers.append(t)
        t.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            conn, environ, req = job
            if conn in self._conns:  # else dropped at the cap or closed meanwhile
                self._done.append((conn, *self._run(environ, req)))
                self._wake()

    def _run(self, environ: dict, req: Request) -> tuple[list[bytes], bool]:
        """The response's bytes, and whether the connection may stay open after it."""
        try:
            return self._call_app(environ, req), req.keep_alive
        except Exception as exc:  # a bug in the app: answer 500 and keep serving
            self.on_error(f"{type(exc).__name__}: {exc}")
            return _error_response(BadRequest("500 Internal Server Error", "internal error")), False

    def _call_app(self, environ: dict, req: Request) -> list[bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            started[:] = [status, headers]
            return _no_write

        result = self.app(environ, start_response)
        try:
            # a list is sent piece by piece: /metrics's cached tens of MB are not copied
            pieces = [p for p in result if p] if isinstance(result, list) else [b"".join(result)]
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = started
        lines = [f"HTTP/1.1 {status}\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in headers]
        if not any(k.lower() == "content-length" for k, _ in headers):
            lines.append(f"Content-Length: {sum(map(len, pieces))}\r\n")
        lines.append(f"Date: {formatdate(usegmt=True)}\r\n")
        if not req.keep_alive or self._stopping:
            lines.append("Connection: close\r\n")
        elif req.version == "HTTP/1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        return [head] if req.method == "HEAD" else [head, *pieces]

    def _finish_work(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self._resumed:
            conn, environ, req = self._resumed.popleft()
            if conn in self._conns:
                self._enqueue(conn, environ, req)
        while self._done:
            conn, parts, keep_alive = self._done.popleft()
            if conn in self._conns:
                self._respond(conn, parts, keep_alive and not self._stopping)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or closed

    # Writing and closing ---------------------------------------------------------------------------

    def _respond(self, conn: _Conn, parts: list[bytes], keep_alive: bool) -> None:
        conn.state = WRITING
        conn.keep_alive = keep_alive
        conn.out = deque(parts)  # a view of each of /metrics's thousands of pieces was 3 MB a scrape
        conn.deadline = time.monotonic() + self.limits.write_timeout
        self._parked.pop(conn, None)
        self._progress(conn)
        self._write(conn)

    def _write(self, conn: _Conn) -> None:
        try:
            while conn.out:
                if conn.tls:
                    sent = conn.sock.send(conn.out[0])
                else:
                    sent = conn.sock.sendmsg(list(islice(conn.out, IOV_BATCH)))
                if sent:
                    self._progress(conn)
                while sent and conn.out:
                    first = conn.out[0]
                    if sent >= len(first):
                        sent -= len(first)
                        conn.out.popleft()
                    else:
                        conn.out[0] = memoryview(first)[sent:]
                        sent = 0
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            self._watch(conn, selectors.EVENT_WRITE)
            return
        except (OSError, ValueError):
            self._close(conn)
            return
        if conn.keep_alive:  # a half-closed client still gets its pipelined requests answered
            conn.state = READING
            self._parked[conn] = None
            self._watch(conn, selectors.EVENT_READ)
            if conn.buf:  # a pipelined request is already here
                conn.deadline = time.monotonic() + self.limits.header_timeout
                self._parse(conn)
            else:
                conn.idle = True
                conn.deadline = time.monotonic() + self.limits.idle_timeout
        else:
            self._linger(conn)

    def _linger(self, conn: _Conn) -> None:
        """Closing with unread input would reset the connection and could destroy the response
        in flight: half-close, read and drop what still comes for a moment, then close."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            self._close(conn)
            return
        conn.state = DRAINING
        conn.buf.clear()
        conn.deadline = time.monotonic() + DRAIN_SECONDS
        self._parked[conn] = None
        self._watch(conn, selectors.EVENT_READ)

    def _watch(self, conn: _Conn, events: int) -> None:
        if events == conn.events:
            return
        try:
            if not conn.events:
                self._sel.register(conn.sock, events, conn)
            elif not events:
                self._sel.unregister(conn.sock)
            else:
                self._sel.modify(conn.sock, events, conn)
            conn.events = events
        except (OSError, ValueError, KeyError):
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.events:
            try:
                self._sel.unregister(conn.sock)
            except (OSError, ValueError, KeyError):
                pass
            conn.events = 0
        try:
            conn.sock.close()
        except OSError:
            pass
        self._conns.pop(conn, None)
        self._parked.pop(conn, None)
        if not self._accepting and not self._stopping and self.socket.fileno() != -1:
            self._listen(True)  # a descriptor is free again

    def _sweep(self, now: float) -> None:
        expired = [c for c in self._parked if c.deadline <= now]
        expired += [c for c in self._conns if c.state == WRITING and c.deadline <= now]
        for conn in expired:
            self._close(conn)  # header, idle or write timeout: nothing useful to say, just close


def _error_response(exc: BadRequest) -> list[bytes]:
    body = (str(exc) + "\n").encode()
    allow = "Allow: GET, HEAD\r\n" if exc.status.startswith("405") else ""
    return [
        (
            f"HTTP/1.1 {exc.status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n{allow}Date: {formatdate(usegmt=True)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1"),
        body,
    ]


def _no_write(data: bytes) -> None:
    raise NotImplementedError("write() is not supported; return the body")
