"""Fuzzing configuration values through `config.load` and `--check-config`.

Properties, for any mix of generated values over a valid base configuration:
- `load` returns `Settings` or raises `ConfigError`, nothing else;
- a `ConfigError` message is one line, starts with `THINGSPACE_<NAME>: ` of a setting that was
  given a generated value, and never holds the client secret or the password, even when
  those values were copied into other settings;
- accepted numeric settings are finite and in range, buckets are positive and increasing, and
  secrets are kept exactly but never shown by `repr`;
- a few generated bad configurations through `python -m thingspace_exporter --check-config`
  with environment variables exit 2 with exactly one line on stderr and no traceback.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from thingspace_exporter.config import ConfigError, Settings, env_name, load

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = {env_name(f): f for f in Settings.model_fields}
LINE = re.compile(r"^(THINGSPACE_[A-Z_]+): \S")
REPO = Path(__file__).resolve().parents[2]

# --- strategies ---------------------------------------------------------------------------------

# characters that urlsplit, int() and float() treat specially: NFKC-decomposing forms of / ? # @ :,
# non-ASCII digits, full-width letters, line breaks of every kind, bidi controls
ODD = [
    "\u2100",
    "\u2101",
    "\uff0f",
    "\uff1f",
    "\uff03",
    "\uff20",
    "\uff1a",
    "\ufe55",
    "\u00b2",
    "\u00b9",
    "\u0663",
    "\u0968",
    "\uff11",
    "\u2028",
    "\x85",
    "\x0b",
    "\x1c",
    "\n",
    "\r",
    "\t",
    "\u202e",
    " ",
    ":",
    "/",
    "?",
    "#",
    "@",
    "[",
    "]",
    ",",
    ".",
    "-",
    "e",
    "E",
    "_",
    "inf",
    "nan",
    "0x",
    "\U0001f600",
    "%",
]
odd_text = st.lists(
    st.one_of(st.sampled_from(ODD), st.characters(codec="utf-8", exclude_characters="\x00")), max_size=16
).map("".join)
# secrets: distinctive (always some non-ASCII, which no message template holds) yet fuzzed,
# including all-digit ones that int() and float() would read
secret_text = st.one_of(
    st.tuples(odd_text, st.sampled_from(["\u00e9", "\u00b2", "\u0663", "\uff20", "\u2101"]), odd_text).map(
        lambda t: f"S\u00e9c{t[0]}{t[1]}{t[2]}"
    ),
    st.lists(st.sampled_from("\u00b2\u00b3\u00b9\u2074\u0663\u0664\uff11\uff12"), min_size=6, max_size=12).map("".join),
    st.lists(st.sampled_from("\u0663\u0664\u0665"), min_size=6, max_size=8).map(lambda c: "1." + "".join(c)),
)
numberish = st.one_of(
    st.floats(),
    st.integers(-(10**6), 10**6),
    st.integers(-(2**80), 2**80),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            "0",
            "-1",
            "1e3",
            " 5 ",
            "inf",
            "-inf",
            "nan",
            "NaN",
            "Infinity",
            "1_000",
            "0x10",
            "\u0663\u0660",
            "\uff15",
            "1e309",
            "",
            "300",
            "1.5",
            "2",
            "64",
            "65",
            "10",
            "11",
        ]
    ),
    odd_text,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(odd_text, st.integers(), max_size=1),
)
anything = st.one_of(
    odd_text, numberish, st.lists(odd_text, max_size=3), st.lists(st.lists(odd_text, max_size=2), max_size=2)
)
hosts = st.one_of(
    st.sampled_from(["ts.test", "127.0.0.1", "[::1]", "[::1", "::1]", "", "h:99999", "h:x", "u:p@h"]), odd_text
)
urls = st.one_of(
    st.builds(
        lambda scheme, host, rest: f"{scheme}{host}{rest}",
        st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", "", "//", "http:/", "https:"]),
        hosts,
        st.sampled_from(["", "/", "/api/", "?q=1", "#f", "/x?y", "  ", "/\u2100"]),
    ),
    anything,
)
listen = st.one_of(
    st.builds(
        lambda host, sep, port: f"{host}{sep}{port}",
        st.sampled_from(["", "0.0.0.0", "[::]", "localhost", "\u0663", " "]),
        st.sampled_from([":", "", "::"]),
        st.one_of(
            st.integers(-5, 70000).map(str),
            st.sampled_from(["\u00b2\u00b2", "\u0663\u0660\u0660\u0660", "\uff18\uff10", "80 ", "", "+80", "8_0"]),
            odd_text,
        ),
    ),
    anything,
)
csv_numbers = st.lists(
    st.one_of(st.floats().map(repr), st.sampled_from(["inf", "nan", "-1", "0", "", " ", "1e400"]), odd_text), max_size=5
).map(",".join)
buckets = st.one_of(
    csv_numbers, st.lists(st.floats(), max_size=5), st.lists(st.floats(0.1, 1e9), max_size=5).map(sorted), anything
)
accounts = st.one_of(
    st.lists(st.sampled_from(["a", "b", "0000123456-00001", "", " ", "a "]), max_size=4).map(",".join),
    st.lists(odd_text, max_size=3),
    anything,
)
levels = st.one_of(
    st.sampled_from(
        ["debug", "INFO", "Warning", "error", "critical", "trace", "", "json", "console", "\u0130nfo", "DEBUG\n"]
    ),
    anything,
)

positive = st.one_of(st.floats(0.001, 1e7), st.integers(1, 10**6), st.sampled_from(["300", "1.5", "1e3", " 7 "]))
PLAUSIBLE: dict[str, st.SearchStrategy] = {
    "client_id": odd_text.filter(bool),
    "username": odd_text.filter(bool),
    "protocol": odd_text,
    "accounts": st.lists(odd_text.filter(lambda t: "," not in t and t.strip()), min_size=1, max_size=3, unique=True),
    "base_url": st.builds(
        lambda h, p: f"https://{h}{p}",
        st.sampled_from(["h", "ts.test", "10.0.0.1:8443", "[::1]"]),
        st.sampled_from(["", "/", "/api/"]),
    ),
    "interval_seconds": positive,
    "stale_after_cycles": st.integers(1, 1000),
    "stale_after_seconds": st.one_of(positive, st.none()),
    "cycle_timeout_seconds": positive,
    "request_timeout_seconds": positive,
    "max_requests_per_second": st.one_of(positive, st.just(0)),
    "listen_address": st.sampled_from([":29811", "127.0.0.1:8080", "[::1]:1", "0.0.0.0:65535", " :80 "]),
    "log_level": st.sampled_from(["debug", "INFO", "Warning", "error"]),
    "log_format": st.sampled_from(["json", "Console"]),
    "last_connection_buckets": st.lists(st.floats(0.001, 1e9), min_size=1, max_size=5, unique=True).map(sorted),
    "max_retries": st.integers(0, 10),
    "max_concurrency": st.integers(1, 64),
    "max_accounts_in_flight": st.integers(1, 256),
    "shard_count": st.integers(1, 4),
    "shard_index": st.integers(0, 3),
    "state_dir": st.just(tempfile.gettempdir()),
    "web_config_file": st.just(os.devnull),  # an empty web configuration: plain HTTP, no auth
    "collectors": st.lists(st.sampled_from(["devices", "firmware", "licenses", "campaigns"]), min_size=1).map(",".join),
    "stalest_devices": st.integers(0, 10_000),
    "max_running_campaigns": st.integers(0, 10_000),
    "header_timeout_seconds": st.floats(0.001, 300),
    "idle_timeout_seconds": st.floats(0.001, 3600),
    "max_connections": st.integers(8, 10**6),
}

FIELD_VALUES: dict[str, st.SearchStrategy] = {
    "client_id": st.one_of(odd_text, anything),
    "username": st.one_of(odd_text, anything),
    "accounts": accounts,
    "base_url": urls,
    "protocol": anything,
    "interval_seconds": numberish,
    "listen_address": listen,
    "log_level": levels,
    "log_format": levels,
    "last_connection_buckets": buckets,
    "stale_after_cycles": numberish,
    "stale_after_seconds": numberish,
    "cycle_timeout_seconds": numberish,
    "request_timeout_seconds": numberish,
    "max_retries": numberish,
    "max_concurrency": numberish,
    "max_accounts_in_flight": numberish,
    "max_requests_per_second": numberish,
    "shard_count": numberish,
    "shard_index": numberish,
    "state_dir": st.one_of(odd_text, anything),
    "web_config_file": st.one_of(odd_text, anything),
    "collectors": st.one_of(odd_text, anything),
    "stalest_devices": numberish,
    "max_running_campaigns": numberish,
    "header_timeout_seconds": numberish,
    "idle_timeout_seconds": numberish,
    "max_connections": numberish,
}
assert set(FIELD_VALUES) | {"client_secret", "password"} == set(Settings.model_fields)

# where a secret may be copied into a setting's value
EMBED = [
    lambda s: s,
    lambda s: f"http://{s}/",
    lambda s: f"https://h/{s}",
    lambda s: f"http://{s}@h/",
    lambda s: f"{s}:80",
    lambda s: f":{s}",
    lambda s: f"[{s}]:1",
    lambda s: f"1,{s}",
    lambda s: f"{s},{s}",
    lambda s: [s],
    lambda s: {"x": s},
    lambda s: s.upper(),
]


@st.composite
def configs(draw: Any) -> tuple[dict[str, Any], str, str, set[str]]:
    secret, password = draw(secret_text), draw(secret_text)
    values: dict[str, Any] = {
        "client_id": "fuzz-client",
        "client_secret": secret,
        "username": "fuzz-user",
        "password": password,
        "accounts": "0000123456-00001",
    }
    changed = set(draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=3)))
    for field in sorted(changed):
        values[field] = draw(st.one_of(PLAUSIBLE[field], FIELD_VALUES[field]))
    for field in draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=2)):
        changed.add(field)
        values[field] = draw(st.sampled_from(EMBED))(draw(st.sampled_from([secret, password])))
    if draw(st.integers(0, 9)) == 9:  # the secrets themselves wrong: empty, or not strings
        field = draw(st.sampled_from(["client_secret", "password"]))
        values[field] = draw(st.one_of(st.just(""), st.integers(), st.lists(st.just(secret), max_size=1), st.none()))
        changed.add(field)
    return values, secret, password, changed


def note_event(text: str) -> None:
    try:
        event(text)
    except InvalidArgument:  # outside a hypothesis test
        pass


def check(values: dict[str, Any], secret: str, password: str, changed: set[str]) -> Settings | None:
    try:
        result = load(values)
    except ConfigError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message, message
        m = LINE.match(message)
        assert m and m.group(1) in NAMES, message
        # the base is valid: blame a changed one (an unset index is to blame for a changed count)
        blamed = NAMES[m.group(1)]
        assert blamed in changed or (blamed == "shard_index" and "shard_count" in changed), (message, changed)
        for value in (secret, password):
            assert value not in message, message
            assert value.upper() not in message, message
        note_event(f"rejected: {m.group(1)}")
        return None
    assert isinstance(result, Settings)
    note_event("accepted")
    copied = " ".join(repr(v) + str(v) for k, v in values.items() if k not in ("client_secret", "password"))
    for value in (secret, password):
        if value not in copied:  # a secret copied into a plain setting is shown as that setting
            assert value not in repr(result) and value not in str(result)
    if values["client_secret"] == secret and values["password"] == password:
        assert result.secrets() == [secret, password]
    for name in (
        "interval_seconds",
        "cycle_timeout_seconds",
        "request_timeout_seconds",
        "stale_after_seconds",
        "header_timeout_seconds",
        "idle_timeout_seconds",
    ):
        v = getattr(result, name)
        assert math.isfinite(v) and v > 0, (name, v)
    assert math.isfinite(result.max_requests_per_second) and result.max_requests_per_second >= 0
    assert 1 <= result.max_concurrency <= 64 and 0 <= result.max_retries <= 10
    assert 1 <= result.max_accounts_in_flight <= 256
    assert result.header_timeout_seconds <= 300 and result.idle_timeout_seconds <= 3600
    assert isinstance(result.max_connections, int) and 8 <= result.max_connections <= 10**6
    b = result.last_connection_buckets
    assert b and all(math.isfinite(x) and x > 0 for x in b) and b == sorted(set(b)), b
    assert 0 <= result.shard_index < result.shard_count <= 4
    assert result.collectors and set(result.collectors) <= {"devices", "firmware", "licenses", "campaigns"}
    assert set(result.owned_accounts) <= set(result.accounts)
    assert result.accounts and len(set(result.accounts)) == len(result.accounts)
    assert all(isinstance(a, str) for a in result.accounts)
    host, port = result.listen
    assert 0 < port < 65536
    assert result.base_url.lower().startswith(("http://", "https://")) and not result.base_url.endswith("/")
    return result


# --- properties ---------------------------------------------------------------------------------


@FUZZ
@given(configs())
def test_load_returns_settings_or_one_line_config_error_without_secrets(case):
    check(*case)


@pytest.mark.parametrize(
    "field, value",
    [
        ("interval_seconds", "{secret}"),
        ("listen_address", ":{secret}"),
        ("base_url", "http://{secret}\u2100/"),
        ("base_url", "http://[{secret}/"),
        ("last_connection_buckets", "1,{secret}"),
        ("max_concurrency", "{secret}"),
        ("accounts", 123),
        ("accounts", [["a"]]),
        ("interval_seconds", "inf"),
        ("request_timeout_seconds", float("inf")),
        ("last_connection_buckets", "nan"),
        ("last_connection_buckets", [float("nan")]),
    ],
)
@pytest.mark.parametrize(
    "secret", ["S\u00e9cret-\u2101-value", "\u00b2\u00b3\u00b9\u2074\u00b2\u00b3", "1.\u0663\u0664\u0665\u0663"]
)
def test_pinned_values_are_rejected_without_echo(field, value, secret):
    """Cases the fuzzer found or should keep finding: each must be a clean ConfigError."""
    password = "P\u00e4ssword-\uff20-value"
    value = value.format(secret=secret) if isinstance(value, str) else value
    values = {
        "client_id": "c",
        "client_secret": secret,
        "username": "u",
        "password": password,
        "accounts": "a",
        field: value,
    }
    with pytest.raises(ConfigError) as info:
        load(values)
    assert check(values, secret, password, {field}) is None
    assert str(info.value).startswith(env_name(field) + ": ")


# --- the command line ---------------------------------------------------------------------------

ENV_SAFE = st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"])
env_text = st.lists(st.one_of(st.sampled_from(ODD), ENV_SAFE), max_size=10).map("".join)
BAD_ENV = st.one_of(
    st.tuples(st.just("interval_seconds"), st.sampled_from(["0", "-1", "nan", "inf", "abc", "{secret}"])),
    st.tuples(st.just("listen_address"), st.sampled_from(["nope", ":0", ":70000", ":\u00b2\u00b2", ":{secret}"])),
    st.tuples(st.just("base_url"), st.sampled_from(["ftp://x", "http://", "http://{secret}\u2100/", "https://h/?q"])),
    st.tuples(st.just("accounts"), st.sampled_from(["", ",", "a,a", " , "])),
    st.tuples(st.just("last_connection_buckets"), st.sampled_from(["nan", "2,1", "-1", "x", "{secret}"])),
    st.tuples(st.just("max_concurrency"), st.sampled_from(["0", "65", "1.5", "{secret}"])),
    st.tuples(st.just("max_accounts_in_flight"), st.sampled_from(["0", "257", "1.5", "{secret}"])),
    st.tuples(st.just("log_level"), st.sampled_from(["trace", "{secret}", ""])),
    st.tuples(st.just("client_secret"), st.just("")),
)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(BAD_ENV, st.sampled_from(["S\u00e9cret-\u2101-value", "\u00b2\u00b3\u00b9\u2074\u00b2\u00b3"]), env_text)
def test_check_config_with_bad_environment_exits_2_with_one_line(bad, secret, noise):
    field, value = bad
    password = "P\u00e4ssword-\uff20-value"
    env = {k: v for k, v in os.environ.items() if not k.startswith("THINGSPACE_")}
    env.update(
        {
            "THINGSPACE_CLIENT_ID": "c" + noise,
            "THINGSPACE_CLIENT_SECRET": secret,
            "THINGSPACE_USERNAME": "u",
            "THINGSPACE_PASSWORD": password,
            "THINGSPACE_ACCOUNTS": "a",
            env_name(field): value.format(secret=secret),
            "PYTHONIOENCODING": "utf-8",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "thingspace_exporter", "--check-config"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=30,
    )
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, stderr
    assert proc.stdout == b""
    assert len(stderr.splitlines()) == 1 and stderr.endswith("\n"), stderr
    assert "Traceback" not in stderr
    assert stderr.startswith(f"thingspace-exporter: invalid configuration: {env_name(field)}: "), stderr
    assert secret not in stderr and password not in stderr, stderr
