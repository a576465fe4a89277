"""webconfig: the exporter-toolkit web configuration, checked whole, with one line per problem."""

from __future__ import annotations

import ssl

import bcrypt
import pytest
from thingspace_exporter.web.webconfig import WebConfigError, load, parse

from tests.pki import make_pki

HASH = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def write(tmp_path, text):
    path = tmp_path / "web.yml"
    path.write_text(text)
    return str(path)


def test_an_empty_file_means_plain_http_and_no_auth(tmp_path):
    config = load(write(tmp_path, ""))
    assert config.ssl_context is None and config.users == {} and config.headers == ()


def test_tls_with_client_certificates_and_paths_relative_to_the_file(pki):
    (pki / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n"
        "  min_version: TLS13\n  client_allowed_sans: [scraper]\n"
        f"basic_auth_users:\n  prometheus: {HASH}\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n"
    )
    config = load(str(pki / "web.yml"))
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED  # the default once a CA is given
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.users == {"prometheus": HASH.encode()}
    assert config.allowed_sans == {"scraper"}
    assert config.headers == (("X-Frame-Options", "deny"), ("Strict-Transport-Security", "max-age=31536000"))


def test_client_certificates_verified_if_given(pki):
    config = parse(
        {
            "tls_server_config": {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_ca_file": "ca.crt",
                "client_auth_type": "VerifyClientCertIfGiven",
            }
        },
        pki,
    )
    assert config.ssl_context.verify_mode == ssl.CERT_OPTIONAL
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2  # exporter-toolkit's default


@pytest.mark.parametrize(
    "doc,where",
    [
        ([1], "the file: expected a mapping"),
        ({"tls_config": {}}, "unknown key 'tls_config'"),
        ({"tls_server_config": {"cert_file": "server.crt"}}, "a certificate (cert_file or cert) and a key"),
        ({"tls_server_config": {"cert_file": "nope.crt", "key_file": "server.key"}}, "tls_server_config.cert_file:"),
        ({"tls_server_config": {"cert_file": "server.crt", "key_file": "client.key"}}, "not a matching PEM pair"),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "RequireAndVerifyClientCert",
                }
            },
            "client_ca_file: required",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "RequireAnyClientCert",
                    "client_ca_file": "ca.crt",
                }
            },
            "not supported",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "Sometimes",
                }
            },
            "client_auth_type: unknown value",
        ),
        (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", "min_version": "SSL3"}},
            "min_version: unknown value",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_ca_file": "server.key",
                }
            },
            "client_ca_file: no PEM certificate",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "cipher_suites": ["TLS_AES_128_GCM_SHA256"],
                }
            },
            "cipher_suites: not supported",
        ),
        ({"basic_auth_users": {"prometheus": "plain-text-password"}}, "basic_auth_users.prometheus: not a bcrypt hash"),
        ({"basic_auth_users": {"a:b": HASH}}, "without ':'"),
        ({"basic_auth_users": ["prometheus"]}, "basic_auth_users: expected a mapping"),
        ({"http_server_config": {"headers": {"Server": "x"}}}, "'Server' cannot be set"),
        ({"http_server_config": {"headers": {"X-Frame-Options": "allow"}}}, "X-Frame-Options: invalid value"),
        ({"http_server_config": {"headers": {"X-XSS-Protection": "1\r\nSet-Cookie: a=b"}}}, "invalid value"),
        ({"http_server_config": {"http3": True}}, "unknown key 'http3'"),
    ],
)
def test_problems_are_named_in_one_line(pki, doc, where):
    with pytest.raises(WebConfigError) as e:
        parse(doc, pki)
    message = str(e.value)
    assert where in message and "\n" not in message
    assert "plain-text-password" not in message and HASH not in message


def test_inline_cert_key_and_client_ca_as_exporter_toolkit(pki):
    pem = {name: (pki / name).read_text() for name in ("server.crt", "server.key", "ca.crt")}
    tls = {"cert": pem["server.crt"], "key": pem["server.key"], "client_ca": pem["ca.crt"]}
    config = parse({"tls_server_config": tls}, pki)
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert len(config.ssl_context.get_ca_certs()) == 1
    mixed = {"cert": pem["server.crt"], "key_file": "server.key"}
    assert parse({"tls_server_config": mixed}, pki).ssl_context is not None


@pytest.mark.parametrize(
    "tls, where",
    [
        ({"cert": "x", "cert_file": "server.crt", "key_file": "server.key"}, "give cert or cert_file, not both"),
        ({"cert": "not PEM", "key_file": "server.key"}, "not a matching PEM pair"),
        ({"cert_file": "server.crt", "key_file": "server.key", "client_ca": "junk"}, "client_ca: no PEM"),
        ({"cert_file": "server.crt", "key": ["a"]}, "tls_server_config.key: expected PEM text"),
    ],
)
def test_inline_problems_never_show_the_key(pki, tls, where):
    with pytest.raises(WebConfigError) as e:
        parse({"tls_server_config": tls}, pki)
    assert where in str(e.value) and "PRIVATE" not in str(e.value)


@pytest.mark.parametrize(
    "limit, expected",
    [
        ({"interval": "1s", "burst": 10}, (1.0, 10)),
        ({"interval": "1m30s", "burst": 1}, (90.0, 1)),
        ({"interval": "250ms", "burst": 3}, (0.25, 3)),
        ({"interval": "0s", "burst": 5}, None),  # as exporter-toolkit: no interval, no limit
        ({}, None),
    ],
)
def test_rate_limit(limit, expected):
    assert parse({"rate_limit": limit}, None).rate_limit == expected


@pytest.mark.parametrize(
    "limit, where",
    [
        ({"interval": "1 second", "burst": 1}, "rate_limit.interval: expected a duration"),
        ({"interval": 5, "burst": 1}, "rate_limit.interval"),
        ({"interval": "1s", "burst": -1}, "rate_limit.burst"),
        ({"interval": "1s", "burst": 0}, "rate_limit.burst: must be at least 1"),
        ({"interval": "1s", "period": 1}, "rate_limit: unknown key 'period'"),
    ],
)
def test_rate_limit_problems(limit, where):
    with pytest.raises(WebConfigError, match=where):
        parse({"rate_limit": limit}, None)


def test_yaml_errors_give_the_line(tmp_path):
    with pytest.raises(WebConfigError, match="not valid YAML at line 2"):
        load(write(tmp_path, "basic_auth_users:\n  a: b: c\n"))
    with pytest.raises(WebConfigError, match="cannot read"):
        load(str(tmp_path / "missing.yml"))
