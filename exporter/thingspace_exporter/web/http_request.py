"""HTTP/1.x request heads: where one ends, and what it says, within size limits. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

ALLOWED_METHODS = ("GET", "HEAD")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class BadRequest(Exception):
    """The request cannot be served; answer `status` and close the connection."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, as WSGI's PATH_INFO
    query: str
    version: str
    headers: dict[str, str]  # upper-cased names with "-" as "_"; repeated headers joined by ", "
    keep_alive: bool


def head_end(buf: bytes | bytearray, max_line: int, max_head: int) -> tuple[int, int] | None:
    """(end of the head, start of what follows) once the head is complete; None while it is
    not; BadRequest as soon as the request line or the whole head is over its limit."""
    m = _HEAD_END.search(buf, 0, max_head + 4)
    line_end = buf.find(b"\n", 0, max_line + 2)
    if line_end < 0 and len(buf) > max_line + 1:
        raise BadRequest("414 URI Too Long", "request line too long")
    if m is None:
        if len(buf) > max_head:
            raise BadRequest("431 Request Header Fields Too Large", "request head too large")
        return None
    if m.start() > max_head:
        raise BadRequest("431 Request Header Fields Too Large", "request head too large")
    return m.start(), m.end()


def skip_empty_lines(buf: bytearray) -> None:
    """RFC 9112 2.2: a server should ignore empty lines received before the request line."""
    n = 0
    while buf[n : n + 2] == b"\r\n" or buf[n : n + 1] == b"\n":
        n += 2 if buf[n] == 13 else 1
    if n:
        del buf[:n]


def parse_head(head: bytes, max_line: int, max_headers: int) -> Request:
    """A complete request head (without its closing empty line) to a Request, or BadRequest."""
    lines = head.split(b"\n")
    line = lines[0].removesuffix(b"\r")
    if len(line) > max_line:
        raise BadRequest("414 URI Too Long", "request line too long")
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise BadRequest("400 Bad Request", "malformed request line")
    method, target, version = parts
    v = _VERSION.fullmatch(version)
    if v is None:
        raise BadRequest("400 Bad Request", "malformed HTTP version")
    if v.group(1) != b"1":  # 400 rather than 505: a refusal of the request, never a server error
        raise BadRequest("400 Bad Request", "only HTTP/1.0 and HTTP/1.1 are served")
    if len(lines) - 1 > max_headers:
        raise BadRequest("431 Request Header Fields Too Large", "too many header fields")
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        raw = raw.removesuffix(b"\r")
        name, sep, value = raw.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding
            raise BadRequest("400 Bad Request", "malformed header field")
        if b"\0" in value or b"\r" in value:  # RFC 9110 5.5: NUL and bare CR are never valid
            raise BadRequest("400 Bad Request", "invalid character in a header field")
        key = name.decode("ascii").upper().replace("-", "_")
        if key == "HOST" and key in headers:
            raise BadRequest("400 Bad Request", "more than one Host header")
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    path, query = _target(target)
    connection = {t.strip().lower() for t in headers.get("CONNECTION", "").split(",")}
    minor = v.group(2) != b"0"
    keep_alive = "close" not in connection if minor else "keep-alive" in connection
    return Request(method.decode("ascii"), path, query, version.decode("ascii"), headers, keep_alive)


def _target(target: bytes) -> tuple[str, str]:
    text = target.decode("latin-1")
    if not text.startswith("/"):
        scheme, sep, rest = text.partition("://")  # absolute form: http://host/path
        if not sep or scheme.lower() not in ("http", "https"):
            raise BadRequest("400 Bad Request", "malformed request target")
        text = "/" + rest.partition("/")[2]
    path, _, query = text.partition("?")
    return unquote(path, "latin-1"), query


def body_length(req: Request) -> int:
    """Bytes of body the request announces; BadRequest when that cannot be known."""
    if "TRANSFER_ENCODING" in req.headers:
        return -1  # some body of unknown length
    value = req.headers.get("CONTENT_LENGTH")
    if value is None:
        return 0
    lengths = {v.strip() for v in value.split(",")}
    if len(lengths) != 1 or not all(v.isascii() and v.isdigit() for v in lengths):
        raise BadRequest("400 Bad Request", "malformed Content-Length")
    return int(lengths.pop())


def check(req: Request) -> None:
    """Only GET and HEAD, without a body: the exporter has nothing to receive."""
    if req.method not in ALLOWED_METHODS:
        raise BadRequest("405 Method Not Allowed", "method not allowed")
    if body_length(req) != 0:
        raise BadRequest("400 Bad Request", "a request body is not accepted")
    if req.version != "HTTP/1.0" and "HOST" not in req.headers:  # RFC 9112 3.2
        raise BadRequest("400 Bad Request", "an HTTP/1.1 request needs a Host header")
