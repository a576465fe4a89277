"""config: environment, CLI values and secret files; errors name the variable, never the value."""

import os

import pytest
from thingspace_exporter.config import DEFAULT_BUCKETS, DEFAULT_PORT, ConfigError, load, parse_listen_address
from ts_builders import CLIENT_SECRET, PASSWORD

REQUIRED = {
    "THINGSPACE_CLIENT_ID": "id-1",
    "THINGSPACE_CLIENT_SECRET": CLIENT_SECRET,
    "THINGSPACE_USERNAME": "user",
    "THINGSPACE_PASSWORD": PASSWORD,
    "THINGSPACE_ACCOUNTS": "0000123456-00001",
}


@pytest.fixture
def env(monkeypatch):
    for k, v in REQUIRED.items():
        monkeypatch.setenv(k, v)
    return monkeypatch


def error(**cli):
    with pytest.raises(ConfigError) as e:
        load(cli or None)
    msg = str(e.value)
    assert "\n" not in msg
    assert CLIENT_SECRET not in msg and PASSWORD not in msg
    return msg


def test_defaults(env):
    s = load()
    assert s.base_url == "https://thingspace.verizon.com"
    assert s.protocol == "LWM2M"
    assert s.interval_seconds == 300
    assert s.listen == ("", DEFAULT_PORT) and not 9100 <= DEFAULT_PORT <= 9999
    assert (s.log_level, s.log_format) == ("info", "json")
    assert s.last_connection_buckets == list(DEFAULT_BUCKETS)
    assert s.stale_after_seconds == 900
    assert s.accounts == ["0000123456-00001"]
    assert s.secrets() == [CLIENT_SECRET, PASSWORD]
    assert CLIENT_SECRET not in repr(s) and PASSWORD not in repr(s)


def test_env_values(env):
    env.setenv("THINGSPACE_ACCOUNTS", " 0000123456-00001, 0000123456-00002 ,")
    env.setenv("THINGSPACE_BASE_URL", "http://127.0.0.1:8080/")
    env.setenv("THINGSPACE_PROTOCOL", "")
    env.setenv("THINGSPACE_INTERVAL_SECONDS", "60")
    env.setenv("THINGSPACE_LISTEN_ADDRESS", "127.0.0.1:29999")
    env.setenv("THINGSPACE_LOG_LEVEL", "DEBUG")
    env.setenv("THINGSPACE_LOG_FORMAT", "Console")
    env.setenv("THINGSPACE_LAST_CONNECTION_BUCKETS", "60, 3600,+Inf")
    s = load()
    assert s.accounts == ["0000123456-00001", "0000123456-00002"]
    assert s.base_url == "http://127.0.0.1:8080"
    assert s.protocol == ""
    assert s.interval_seconds == 60 and s.stale_after_seconds == 180
    assert s.listen == ("127.0.0.1", 29999)
    assert (s.log_level, s.log_format) == ("debug", "console")
    assert s.last_connection_buckets == [60.0, 3600.0]


def test_cli_values_override_env(env):
    s = load({"accounts": "a,b", "interval_seconds": "10"})
    assert s.accounts == ["a", "b"] and s.interval_seconds == 10


@pytest.mark.parametrize("missing", list(REQUIRED))
def test_missing_required(env, missing):
    env.delenv(missing)
    assert error() == f"{missing}: required but not set"


@pytest.mark.parametrize(
    "var,value",
    [
        ("THINGSPACE_ACCOUNTS", " , "),
        ("THINGSPACE_ACCOUNTS", "a,a"),
        ("THINGSPACE_BASE_URL", "ftp://x"),
        ("THINGSPACE_BASE_URL", "https://user:pw@host"),
        ("THINGSPACE_BASE_URL", "https://host/?q=1"),
        ("THINGSPACE_BASE_URL", "nohost"),
        ("THINGSPACE_INTERVAL_SECONDS", "0"),
        ("THINGSPACE_INTERVAL_SECONDS", "abc"),
        ("THINGSPACE_LISTEN_ADDRESS", "29811"),
        ("THINGSPACE_LISTEN_ADDRESS", ":70000"),
        ("THINGSPACE_LISTEN_ADDRESS", "host:"),
        ("THINGSPACE_LOG_LEVEL", "verbose"),
        ("THINGSPACE_LOG_FORMAT", "xml"),
        ("THINGSPACE_LAST_CONNECTION_BUCKETS", "3600,60"),
        ("THINGSPACE_LAST_CONNECTION_BUCKETS", "0,60"),
        ("THINGSPACE_LAST_CONNECTION_BUCKETS", "a"),
        ("THINGSPACE_LAST_CONNECTION_BUCKETS", "+Inf"),
        ("THINGSPACE_MAX_RETRIES", "11"),
        ("THINGSPACE_MAX_CONCURRENCY", "0"),
        ("THINGSPACE_MAX_ACCOUNTS_IN_FLIGHT", "0"),
        ("THINGSPACE_MAX_ACCOUNTS_IN_FLIGHT", "many"),
        ("THINGSPACE_CLIENT_SECRET", ""),
        ("THINGSPACE_PASSWORD", ""),
        ("THINGSPACE_CLIENT_ID", ""),
    ],
)
def test_invalid_value_names_the_variable(env, var, value):
    env.setenv(var, value)
    msg = error()
    assert msg.startswith(var + ": ")


def test_secret_files(env, tmp_path):
    env.delenv("THINGSPACE_CLIENT_SECRET")
    env.delenv("THINGSPACE_PASSWORD")
    (tmp_path / "cs").write_text("from-file-secret\n")
    (tmp_path / "pw").write_text("  from-file-password  \n")
    env.setenv("THINGSPACE_CLIENT_SECRET_FILE", str(tmp_path / "cs"))
    env.setenv("THINGSPACE_PASSWORD_FILE", str(tmp_path / "pw"))
    s = load()
    assert s.secrets() == ["from-file-secret", "from-file-password"]


def test_env_wins_over_file(env, tmp_path):
    (tmp_path / "cs").write_text("file-value")
    env.setenv("THINGSPACE_CLIENT_SECRET_FILE", str(tmp_path / "cs"))
    assert load().client_secret.get_secret_value() == CLIENT_SECRET


@pytest.mark.parametrize("name", ["client_secret", "THINGSPACE_CLIENT_SECRET"])
def test_secrets_dir(env, tmp_path, name):
    env.delenv("THINGSPACE_CLIENT_SECRET")
    env.delenv("THINGSPACE_USERNAME")
    (tmp_path / name).write_text("dir-secret")
    (tmp_path / "username").write_text("dir-user")
    env.setenv("THINGSPACE_SECRETS_DIR", str(tmp_path))
    s = load()
    assert s.client_secret.get_secret_value() == "dir-secret" and s.username == "dir-user"


def test_secrets_dir_missing(env, tmp_path):
    env.setenv("THINGSPACE_SECRETS_DIR", str(tmp_path / "nope"))
    assert error().startswith("THINGSPACE_SECRETS_DIR: ")


def test_unreadable_secret_file(env, tmp_path):
    env.setenv("THINGSPACE_PASSWORD_FILE", str(tmp_path / "missing"))
    msg = error()
    assert msg.startswith("THINGSPACE_PASSWORD_FILE: cannot read secret file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_secret_file_without_permission(env, tmp_path):
    f = tmp_path / "pw"
    f.write_text(PASSWORD)
    f.chmod(0)
    env.setenv("THINGSPACE_PASSWORD_FILE", str(f))
    assert error().startswith("THINGSPACE_PASSWORD_FILE: ")


def test_secret_file_not_utf8(env, tmp_path):
    f = tmp_path / "pw"
    f.write_bytes(b"\xff\xfe\xfa")
    env.setenv("THINGSPACE_PASSWORD_FILE", str(f))
    assert "not UTF-8" in error()


def test_empty_secret_file(env, tmp_path):
    env.delenv("THINGSPACE_PASSWORD")
    f = tmp_path / "pw"
    f.write_text("\n")
    env.setenv("THINGSPACE_PASSWORD_FILE", str(f))
    assert error() == "THINGSPACE_PASSWORD: must not be empty"


@pytest.mark.parametrize(
    "value,expected",
    [
        (":29811", ("", 29811)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::1]:9", ("::1", 9)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_parse_listen_address(value, expected):
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["", ":0", ":65536", "host", "host:abc", ":-1"])
def test_parse_listen_address_invalid(value):
    with pytest.raises(ValueError):
        parse_listen_address(value)
