"""request: finding and reading request heads, without sockets."""

import pytest
from thingspace_exporter.web.http_request import BadRequest, body_length, check, head_end, parse_head, skip_empty_lines


def test_head_end_waits_for_the_empty_line_then_says_where_the_rest_starts():
    assert head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 100, 1000) is None
    data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next"
    assert head_end(data, 100, 1000) == (23, 27) and data[27:] == b"GET /next"
    assert head_end(b"GET / HTTP/1.1\n\n", 100, 1000) == (14, 16)


@pytest.mark.parametrize(
    "data, status",
    [
        (b"GET /" + b"a" * 200, "414"),  # no end of line in sight
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n", "414"),
        (b"GET / HTTP/1.1\r\nX: " + b"b" * 2000, "431"),
        (b"GET / HTTP/1.1\r\nX: " + b"b" * 2000 + b"\r\n\r\n", "431"),
    ],
)
def test_head_end_refuses_what_is_over_a_limit(data, status):
    with pytest.raises(BadRequest) as exc:
        head_end(data, 100, 1000)
    assert exc.value.status.startswith(status)


def test_skip_empty_lines_before_the_request_line():
    buf = bytearray(b"\r\n\n\r\nGET / HTTP/1.1\r\n\r\n")
    skip_empty_lines(buf)
    assert buf == b"GET / HTTP/1.1\r\n\r\n"


def test_parse_head_reads_method_path_query_and_joins_repeated_headers():
    req = parse_head(
        b"GET /me%74rics?x=1 HTTP/1.1\r\nAccept: text/plain\r\naccept:  application/openmetrics-text \r\n"
        b"Accept-Encoding: gzip",
        100,
        10,
    )
    assert (req.method, req.path, req.query, req.version) == ("GET", "/metrics", "x=1", "HTTP/1.1")
    assert req.headers["ACCEPT"] == "text/plain, application/openmetrics-text"
    assert req.headers["ACCEPT_ENCODING"] == "gzip" and req.keep_alive


def test_absolute_form_target():
    assert parse_head(b"GET http://host:1/metrics?a HTTP/1.1", 100, 10).path == "/metrics"


@pytest.mark.parametrize(
    "head, keep_alive",
    [
        (b"GET / HTTP/1.1", True),
        (b"GET / HTTP/1.1\r\nConnection: close", False),
        (b"GET / HTTP/1.1\r\nConnection: foo, Close", False),
        (b"GET / HTTP/1.0", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection_header(head, keep_alive):
    assert parse_head(head, 100, 10).keep_alive is keep_alive


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/2.0",
        b"GET / HTTP/1",
        b"GET /",
        b"GET  / HTTP/1.1",
        b"GET / HTTP/1.1\r\n Folded: x",
        b"GET / HTTP/1.1\r\nNo colon",
        b"GET / HTTP/1.1\r\nBad Name: x",
        b"G(T / HTTP/1.1",
        b"GET x HTTP/1.1",
        b"GET ftp://h/ HTTP/1.1",
    ],
)
def test_parse_head_refuses_malformed_heads_with_400(head):
    with pytest.raises(BadRequest) as exc:
        parse_head(head, 100, 10)
    assert exc.value.status == "400 Bad Request"


def test_too_many_headers_is_431():
    with pytest.raises(BadRequest) as exc:
        parse_head(b"GET / HTTP/1.1" + b"\r\nA: 1" * 11, 100, 10)
    assert exc.value.status.startswith("431")


@pytest.mark.parametrize(
    "head, status",
    [
        (b"POST / HTTP/1.1", "405"),
        (b"OPTIONS / HTTP/1.1", "405"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1", "400"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked", "400"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1, 2", "400"),
        (b"HEAD / HTTP/1.1\r\nContent-Length: x", "400"),
    ],
)
def test_check_allows_get_and_head_without_a_body_only(head, status):
    with pytest.raises(BadRequest) as exc:
        check(parse_head(head, 100, 10))
    assert exc.value.status.startswith(status)


def test_check_passes_get_and_head_with_an_empty_body():
    for head in (b"GET / HTTP/1.1\r\nHost: x", b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 0", b"GET / HTTP/1.0"):
        req = parse_head(head, 100, 10)
        check(req)
        assert body_length(req) == 0


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1",  # RFC 9112 3.2: Host is required once
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b",
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: a",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b",  # NUL and bare CR in a value
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb",
        b"GET / HTTP/1.0\r\nX: \0",
    ],
)
def test_missing_or_repeated_host_and_nul_or_bare_cr_are_refused(head):
    with pytest.raises(BadRequest) as exc:
        check(parse_head(head, 100, 10))
    assert exc.value.status.startswith("400")
