"""client: the device-list request (path, query, headers) and its failures, over HTTP."""

import time

import pytest
import responses
from thingspace_exporter.collectors.device_pages import device_page
from thingspace_exporter.thingspace.auth import Auth
from thingspace_exporter.thingspace.client import Client
from thingspace_exporter.thingspace.errors import ApiError
from thingspace_exporter.thingspace.transport import Transport
from ts_builders import BASE, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, device, page, sample

TOKEN_URL = BASE + "/api/ts/v1/oauth2/token"
LOGIN_URL = BASE + "/api/m2m/v1/session/login"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        r.post(TOKEN_URL, json={"access_token": "tok-client-1234", "expires_in": 3600})
        r.post(LOGIN_URL, json={"sessionToken": "sess-client-1234"})
        yield r


@pytest.fixture
def make_client(metrics, stop, log):
    made = []

    def make(protocol="LWM2M"):
        t = Transport(BASE, metrics, stop)
        made.append(t)
        return DeviceList(
            Client(t, Auth(t, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, metrics, log), metrics), protocol
        )

    yield make
    for t in made:
        t.close()


class DeviceList:
    """The device list's request as the devices collector makes it, over a real Client."""

    def __init__(self, client: Client, protocol: str) -> None:
        self.client, self.protocol = client, protocol

    def device_page(self, account: str, cursor: str):
        return device_page(self.client, account, cursor, None, self.protocol)


def device_calls(rsps):
    return [c.request for c in rsps.calls if "/api/fota/v3/devices/" in c.request.url]


@pytest.mark.parametrize(
    "account,path",
    [
        ("0000123456-00001", "/api/fota/v3/devices/0000123456-00001"),
        ("acme/east", "/api/fota/v3/devices/acme%2Feast"),
        ("my account", "/api/fota/v3/devices/my%20account"),
        ("a?b#c", "/api/fota/v3/devices/a%3Fb%23c"),
    ],
)
def test_account_names_are_path_encoded(rsps, make_client, account, path):
    rsps.get(BASE + path, json=page([]))
    make_client().device_page(account, "0")
    req = device_calls(rsps)[0]
    assert req.path_url.split("?")[0] == path


def test_query_headers_and_protocol_by_default(rsps, make_client, metrics):
    rsps.get(BASE + "/api/fota/v3/devices/0000123456-00001", json=page([device("012345678901234")], more=True))
    before = time.time()
    p, fetched_at = make_client().device_page("0000123456-00001", "000000000000007")
    req = device_calls(rsps)[0]
    assert req.params == {"lastSeenDeviceId": "000000000000007", "protocol": "LWM2M"}
    assert req.headers["Authorization"] == "Bearer tok-client-1234"
    assert req.headers["VZ-M2M-Token"] == "sess-client-1234"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Accept"] == "application/json"
    assert before <= fetched_at <= time.time()
    assert p.deviceList[0].deviceId == "012345678901234"


def test_empty_protocol_setting_omits_the_parameter(rsps, make_client):
    rsps.get(BASE + "/api/fota/v3/devices/acc", json=page([]))
    make_client(protocol="").device_page("acc", "0")
    assert device_calls(rsps)[0].params == {"lastSeenDeviceId": "0"}
    assert "protocol" not in device_calls(rsps)[0].url


def test_other_protocol_value_is_sent(rsps, make_client):
    rsps.get(BASE + "/api/fota/v3/devices/acc", json=page([]))
    make_client(protocol="all").device_page("acc", "0")
    assert device_calls(rsps)[0].params["protocol"] == "all"


def test_bad_page_is_counted_as_a_failure(rsps, make_client, metrics):
    rsps.get(BASE + "/api/fota/v3/devices/acc", json={"hasMoreData": False, "deviceList": "nope"})
    with pytest.raises(ApiError) as e:
        make_client().device_page("acc", "0")
    assert e.value.reason == "bad_page"
    assert sample(metrics, "thingspace_api_request_failures_total", endpoint="devices", reason="bad_page") == 1


def test_html_200_is_bad_json(rsps, make_client):
    rsps.get(BASE + "/api/fota/v3/devices/acc", body="<html>maintenance</html>")
    with pytest.raises(ApiError) as e:
        make_client().device_page("acc", "0")
    assert e.value.reason == "bad_json"


def test_invalid_cursor_error(rsps, make_client):
    rsps.get(
        BASE + "/api/fota/v3/devices/acc",
        status=400,
        json={"errorCode": "INVALID_PARAMETER", "errorMessage": "LastSeenDeviceId Not Valid"},
    )
    with pytest.raises(ApiError) as e:
        make_client().device_page("acc", "123")
    assert e.value.reason == "invalid_cursor" and len(device_calls(rsps)) == 1
