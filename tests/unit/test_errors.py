"""errors: every error shape the API sends parses into (code, message) and a reason label."""

import json

import pytest
from thingspace_exporter.logs import redactor
from thingspace_exporter.thingspace.errors import ApiError, api_error, classify, parse_error_body


def j(doc) -> bytes:
    return json.dumps(doc).encode()


def test_fota_shape():
    body = j({"errorCode": "INVALID_PARAMETER", "errorMessage": "LastSeenDeviceId Not Valid"})
    assert parse_error_body(body) == ("INVALID_PARAMETER", "LastSeenDeviceId Not Valid")
    assert api_error("devices", 400, body).reason == "invalid_cursor"


def test_gateway_fault_shape():
    body = j({"fault": {"code": "900901", "message": "Invalid Credentials", "description": "x"}})
    assert parse_error_body(body) == ("900901", "Invalid Credentials")
    err = api_error("devices", 401, body)
    assert (err.reason, err.status, err.code, err.endpoint) == ("token_rejected", 401, "900901", "devices")


def test_gateway_fault_numeric_code_and_description_only():
    assert parse_error_body(j({"fault": {"code": 900902, "description": "Missing"}})) == ("900902", "Missing")
    assert api_error("devices", 401, j({"fault": {"code": 900902}})).reason == "token_rejected"
    assert (
        api_error("devices", 400, j({"fault": {"code": "900906", "message": "No resource"}})).reason == "client_error"
    )


def test_oauth_shape():
    body = j({"error": "invalid_client", "error_description": "Client authentication failed"})
    assert parse_error_body(body) == ("invalid_client", "Client authentication failed")
    assert api_error("token", 401, body).reason == "credentials_rejected"
    assert (
        api_error(
            "token", 400, j({"error": "invalid_request", "error_description": "Missing grant_type parameter value"})
        ).reason
        == "client_error"
    )


@pytest.mark.parametrize(
    "code",
    [
        "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired",
        "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid",
        "UnifiedWebService.REQUEST_FAILED.SessionToken.Format",
    ],
)
@pytest.mark.parametrize("status", [400, 401, 403])
@pytest.mark.parametrize("shape", ["fota", "error"])
def test_session_token_codes_in_any_4xx(code, status, shape):
    doc = (
        {"errorCode": code, "errorMessage": "Session"}
        if shape == "fota"
        else {"error": code, "error_description": "Session"}
    )
    assert api_error("devices", status, j(doc)).reason == "session_rejected"


def test_html_page_is_non_json():
    code, msg = parse_error_body(b"<html>\n<body><h1>503 Service Unavailable</h1></body></html>")
    assert code is None and msg.startswith("non-JSON body: <html>")
    assert "\n" not in msg
    assert api_error("devices", 503, b"<html>oops</html>").reason == "server_error"


def test_empty_and_odd_bodies():
    assert parse_error_body(b"") == (None, "empty body")
    assert parse_error_body(b"[1,2]") == (None, "unexpected error body")
    assert parse_error_body(j({"something": "else"})) == (None, "unexpected error body")
    assert parse_error_body(b"\xff\xfe garbage")[0] is None


@pytest.mark.parametrize(
    "status,code,reason",
    [
        (429, None, "rate_limited"),
        (408, None, "timeout"),
        (500, None, "server_error"),
        (502, "INTERNAL_ERROR", "server_error"),
        (400, "INVALID_PARAMETER", "invalid_parameter"),
        (400, "INVALID_ACCESS", "access_denied"),
        (403, None, "access_denied"),
        (404, None, "client_error"),
        (401, "invalid_client", "credentials_rejected"),
        (400, "invalid_grant", "credentials_rejected"),
    ],
)
def test_classify(status, code, reason):
    assert classify(status, code, "msg") == reason


def test_describe_and_truncation():
    err = ApiError("server_error", "x" * 1000, "devices", 503, "INTERNAL_ERROR")
    assert str(err).startswith("devices: server_error: HTTP 503: INTERNAL_ERROR (")
    assert len(err.message) == 300


def test_message_redacts_known_secrets():
    redactor.add("a-very-secret-token-value")
    err = api_error("devices", 400, j({"errorCode": "X", "errorMessage": "bad a-very-secret-token-value"}))
    assert "a-very-secret-token-value" not in str(err)
    assert "***" in err.message


@pytest.mark.parametrize(
    "doc,code",
    [
        ({"fault": {"code": "900901"}}, "900901"),
        ({"errorCode": "INTERNAL_ERROR"}, "INTERNAL_ERROR"),
        ({"error": "invalid_client"}, "invalid_client"),
        ({"error": "invalid_client", "error_description": None}, "invalid_client"),
    ],
)
def test_shapes_without_a_message_still_give_an_api_error(doc, code):
    assert parse_error_body(j(doc)) == (code, "")
    err = api_error("token", 401, j(doc))
    assert isinstance(err, ApiError) and err.code == code and err.message == ""
